"""Clip backbones: `float (B, 3, T, H, W) -> float (B, D)`, with `out_dim` and `input_kind = "clip"`.

The 18-layer video ResNets are torchvision's own modules (randomly initialized: nothing is
downloaded) with the classifier replaced by the identity, so their weights load back into
`torchvision.models.video.r3d_18()` and its siblings. All of them accept any T >= 1: every
temporal convolution is padded, so a stride-2 stage turns one frame into one.

Every clip backbone also has `forward_features(x, pre_activation=False)`: the feature map before
global pooling, `(B, 3, T, H, W) -> (B, D, t, h, w)` (for the video ResNets the output of
`layer4`), whose average over (t, h, w) is `forward(x)`. `pre_activation=True` returns the same map
before its final ReLU (the residual sum of the last block, or the last BatchNorm's output), which
can be negative: Dense Predictive Coding (Han et al. 2019) scores its predictions against it.
"""

from __future__ import annotations

import itertools

import torch
import torchvision
from torch import nn

from tempssl.models.backbones import BACKBONES, without_classifier


class _VideoResNet(torchvision.models.video.VideoResNet):
    """torchvision's `VideoResNet` with `forward_features`. Never constructed: a built model's
    class is switched to it (`_torchvision_video_resnet`), so its modules and state_dict keys stay
    torchvision's own."""

    def forward_features(self, x: torch.Tensor, pre_activation: bool = False) -> torch.Tensor:
        """`(B, 3, T, H, W) -> (B, 512, t, h, w)`: `layer4`'s output, or with `pre_activation`
        its last block's residual sum before the ReLU."""
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        if not pre_activation:
            return self.layer4(x)
        *blocks, last = self.layer4
        for block in blocks:
            x = block(x)
        return _residual_sum(last, x)


def _residual_sum(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A torchvision `BasicBlock` or `Bottleneck` without its final ReLU: `convs(x) + shortcut(x)`."""
    out = block.conv2(block.conv1(x))
    if hasattr(block, "conv3"):  # Bottleneck
        out = block.conv3(out)
    return out + (x if block.downsample is None else block.downsample(x))


def _torchvision_video_resnet(arch: str) -> nn.Module:
    model = without_classifier(getattr(torchvision.models.video, arch)(weights=None), "clip")
    model.__class__ = _VideoResNet  # adds a method only: same modules, same state_dict
    return model


@BACKBONES.register("r3d_18")
def r3d_18() -> nn.Module:
    """torchvision R3D-18 (3D convolutions) without its classifier: `(B, 3, T, H, W) -> (B, 512)`."""
    return _torchvision_video_resnet("r3d_18")


@BACKBONES.register("r2plus1d_18")
def r2plus1d_18() -> nn.Module:
    """torchvision R(2+1)D-18 (spatial then temporal convolutions): `(B, 3, T, H, W) -> (B, 512)`."""
    return _torchvision_video_resnet("r2plus1d_18")


@BACKBONES.register("mc3_18")
def mc3_18() -> nn.Module:
    """torchvision MC3-18 (3D convolutions, then 2D from layer 2): `(B, 3, T, H, W) -> (B, 512)`."""
    return _torchvision_video_resnet("mc3_18")


class Small3DCNN(nn.Module):
    """A 4-stage 3D conv net for CPU tests and demos: `(B, 3, T, H, W) -> (B, width * 8)`.

    Each stage: 3x3x3 conv -> BatchNorm -> ReLU; then global average pooling over (T, H, W). Every
    stage halves H and W; only the last two halve T (padded, so T = 1 stays 1), so that the first
    stages see motion at the frame rate of the clip. `forward_features` is the map before the
    pooling, `(B, 8 * width, ceil(T / 4), ceil(H / 16), ceil(W / 16))`; with `pre_activation` the
    last BatchNorm's output (before the last ReLU).
    """

    input_kind = "clip"

    def __init__(self, width: int = 32):
        super().__init__()
        channels = [3, width, width * 2, width * 4, width * 8]
        strides = [(1, 2, 2), (1, 2, 2), (2, 2, 2), (2, 2, 2)]
        layers = []
        for (c_in, c_out), stride in zip(itertools.pairwise(channels), strides, strict=True):
            layers += [
                nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm3d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.out_dim = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)

    def forward_features(self, x: torch.Tensor, pre_activation: bool = False) -> torch.Tensor:
        """`(B, 3, T, H, W) -> (B, 8 * width, t, h, w)`, after or (`pre_activation`) before the
        last ReLU."""
        return self.features[:-1](x) if pre_activation else self.features(x)


@BACKBONES.register("small_3dcnn")
def small_3dcnn(width: int = 32) -> nn.Module:
    """`Small3DCNN`: `(B, 3, T, H, W) -> (B, 8 * width)`."""
    return Small3DCNN(width)
