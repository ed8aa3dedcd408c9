"""Heads on backbone features: pooled vectors `(B, D)` or feature maps `(B, C, h, w)`."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from tempssl.models.backbones import feature_map, input_channels


class MLPHead(nn.Module):
    """Projection / prediction MLP `(B, in_dim) -> (B, out_dim)`: (Linear -> [BN] -> ReLU) x
    (num_layers - 1), then Linear [-> BN without affine].

    The papers' layouts:
    - SimCLR (Chen et al. 2020): 2 layers, BN, hidden 2048, out 128.
    - MoCo v2 (Chen et al. 2020): 2 layers, no BN, hidden = in_dim, out 128.
    - MoCo v3 (Chen, Xie, He 2021): projector 3 layers (2 for ResNets in the reference), hidden
      4096, out 256, BN everywhere including a last `BatchNorm1d(affine=False)`, linear layers
      without bias; predictor 2 layers, hidden 4096, no last BN.
    - BYOL (Grill et al. 2020): projector and predictor 2 layers, BN, hidden 4096, out 256.

    Args:
        in_dim, hidden_dim, out_dim: widths.
        num_layers: linear layers (>= 1; 1 is a plain linear map).
        batch_norm: BatchNorm1d after every hidden linear layer.
        last_bn: BatchNorm1d(affine=False) after the output layer (MoCo v3).
        bias: biases of the linear layers; None: only where no BN follows (the usual choice).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        batch_norm: bool = True,
        last_bn: bool = False,
        bias: bool | None = None,
    ):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"an MLP head needs num_layers >= 1, got {num_layers}")
        layers: list[nn.Module] = []
        dims = [in_dim] + [hidden_dim] * (num_layers - 1)
        for d_in, d_out in itertools.pairwise(dims):
            layers += [nn.Linear(d_in, d_out, bias=not batch_norm if bias is None else bias)]
            layers += [nn.BatchNorm1d(d_out)] if batch_norm else []
            layers += [nn.ReLU(inplace=True)]
        layers.append(nn.Linear(dims[-1], out_dim, bias=not last_bn if bias is None else bias))
        if last_bn:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EmbeddingHead(nn.Module):
    """TCN's embedding: `(B, in_dim) -> (B, dim)` L2-normalized (Sermanet et al. 2017: 32-d).

    An optional hidden layer (the reference code uses fully connected layers after the conv tower).
    """

    def __init__(self, in_dim: int, dim: int = 32, hidden_dim: int = 0, normalize: bool = True):
        super().__init__()
        if hidden_dim:
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, dim)
            )
        else:
            self.net = nn.Linear(in_dim, dim)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return F.normalize(z, dim=-1) if self.normalize else z


class SpatialSoftmax(nn.Module):
    """Spatial soft arg-max (Levine et al. 2016; `tf.contrib.layers.spatial_softmax`):
    `(B, C, h, w) -> (B, 2C)`, the expected (x, y) position of each channel's activation.

    Each channel's map is turned into a distribution over its h*w locations by a softmax with a
    learned temperature (initialized to 1, as in TF), and the output is the mean x and mean y
    coordinate under it, on a grid from -1 to 1 (pixel centres): where each feature is, not how
    much of it there is.
    """

    def __init__(self):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        weights = F.softmax(x.flatten(2) / self.log_temperature.exp(), dim=-1)  # (B, C, h*w)
        ys = torch.linspace(-1.0, 1.0, height, device=x.device, dtype=x.dtype)
        xs = torch.linspace(-1.0, 1.0, width, device=x.device, dtype=x.dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        expected_x = weights @ grid_x.flatten()  # (B, C)
        expected_y = weights @ grid_y.flatten()
        return torch.stack([expected_x, expected_y], dim=-1).flatten(1)  # (B, 2C): x0, y0, x1, ...


class SpatialEmbeddingHead(nn.Module):
    """The TCN reference embedder on a feature map: `(B, C, h, w) -> (B, dim)`.

    3x3 convolutions (BatchNorm, ReLU) -> spatial softmax (keypoint coordinates, `(B, 2K)`) ->
    fully connected layers (BatchNorm, ReLU) -> linear embedding, L2-normalized if `normalize`
    (tensorflow/models research/tcn `InceptionConvSSFCEmbedder`: Inception `Mixed_5d` -> 2 x 512
    conv -> spatial softmax -> FC 2048 -> 32). Ours reads the backbone's last feature map
    (`forward_features`) rather than a middle Inception layer.

    Args:
        in_channels: C of the feature map.
        dim: embedding size.
        conv_channels: width of each 3x3 convolution (reference: (512, 512)); K is the last.
        fc_dims: hidden fully connected layers after the spatial softmax (reference: (2048,)).
        normalize: L2-normalize the output.
    """

    def __init__(
        self,
        in_channels: int,
        dim: int = 32,
        conv_channels: tuple[int, ...] = (512, 512),
        fc_dims: tuple[int, ...] = (2048,),
        normalize: bool = True,
    ):
        super().__init__()
        convs: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise([in_channels, *conv_channels]):
            convs += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)]
            convs += [nn.ReLU(inplace=True)]
        self.convs = nn.Sequential(*convs)
        self.keypoints = SpatialSoftmax()
        fcs: list[nn.Module] = []
        keypoints = 2 * (conv_channels[-1] if conv_channels else in_channels)  # (x, y) per channel
        widths = [keypoints, *fc_dims]
        for d_in, d_out in itertools.pairwise(widths):
            fcs += [nn.Linear(d_in, d_out, bias=False), nn.BatchNorm1d(d_out), nn.ReLU(inplace=True)]
        self.fcs = nn.Sequential(*fcs, nn.Linear(widths[-1], dim))
        self.normalize = normalize

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        z = self.fcs(self.keypoints(self.convs(feature_map)))
        return F.normalize(z, dim=-1) if self.normalize else z


class FlattenedMapHead(nn.Module):
    """A feature map pooled to a fixed grid and flattened, then a fully connected layer:
    `(B, C, h, w) -> (B, out_dim)`, keeping where things are (as CaffeNet's fc6 reads its 6x6 pool5
    map in shuffle-and-learn, Misra et al. 2016).

    Args:
        in_channels: C.
        out_dim: width of the fully connected layer (followed by ReLU).
        grid: the map is average-pooled to `grid x grid` first (any input size works).
    """

    def __init__(self, in_channels: int, out_dim: int = 512, grid: int = 4):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.fc = nn.Sequential(nn.Linear(in_channels * grid * grid, out_dim), nn.ReLU(inplace=True))
        self.out_dim = out_dim

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(feature_map).flatten(1))


class PixelDecoder(nn.Module):
    """Image decoder for restoring methods (denoising autoencoder, context encoder): a backbone's
    feature map `(B, C, h, w)` -> pixels `(B, out_channels, H, W)`, by repeated 2x up-convolutions
    (`ConvTranspose2d(4, stride 2)` -> BN -> ReLU, halving the width each time, as the context
    encoder's decoder) and a final 3x3 convolution, resized to `(H, W)` if the strides do not
    land on it exactly.

    Args:
        in_channels: C of the feature map.
        upsamplings: number of 2x steps (log2 of the backbone's stride: 5 for a ResNet, 4 for
            small_cnn).
        out_channels: image channels (3).
        width: channels after the first up-convolution (halved at each further step, >= 16).
    """

    def __init__(self, in_channels: int, upsamplings: int, out_channels: int = 3, width: int = 256):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i in range(upsamplings):
            out = max(16, width // 2**i)
            layers += [
                nn.ConvTranspose2d(channels, out, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            ]
            channels = out
        layers.append(nn.Conv2d(channels, out_channels, kernel_size=3, padding=1))
        self.net = nn.Sequential(*layers)

    @classmethod
    def for_backbone(
        cls, backbone: nn.Module, out_channels: int = 3, width: int = 256, output_stride: int = 1
    ) -> PixelDecoder:
        """A decoder from `backbone`'s feature map back to its input size (or to 1 /
        `output_stride` of it, a power of two): channels and stride are probed on a 64 px frame
        (the stride is a power of two for the registered backbones)."""
        weight = next(backbone.parameters())
        was = backbone.training
        backbone.eval()
        with torch.no_grad():
            channels = input_channels(backbone)
            probe = torch.zeros(1, channels, 64, 64, dtype=weight.dtype, device=weight.device)
            features = feature_map(backbone, probe)
        backbone.train(was)
        stride = max(1, round(64 / features.shape[-1]))
        steps = max(0, stride.bit_length() - output_stride.bit_length())
        return cls(features.shape[1], steps, out_channels, width)

    def forward(self, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        out = self.net(features)
        if tuple(out.shape[-2:]) != tuple(size):
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out
