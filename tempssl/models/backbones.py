"""Frame backbones: `float (B, 3, H, W) -> float (B, D)`, each with `out_dim` and `input_kind = "frame"`.

Frame backbones take `in_chans` (default 3): colorization trains them on the lightness channel
alone (`in_chans: 1`); `input_channels(backbone)` says how many a backbone takes, and
`tempssl.data.color.backbone_input` turns RGB frames into that input for evaluation.

Every backbone also has `forward_features(x)`: the feature map before global pooling, `(B, C, h, w)`
for frame backbones (`(B, C, t, h, w)` for clip ones), for heads that need where things are (TCN's
spatial softmax, shuffle-and-learn's flattened map); `feature_map(backbone, x)` calls it with a
clear error for a backbone that lacks it.

ResNets are torchvision's own modules (randomly initialized: nothing is downloaded) with the
classifier replaced by the identity, so their weights load back into `torchvision.models.resnet*`.

`BACKBONES` also holds the ViTs (`tempssl.models.vit`) and the clip backbones
(`tempssl.models.video`, `input_kind = "clip"`: `(B, 3, T, H, W) -> (B, D)`); `input_kind(backbone)`
says which input a backbone takes.
"""

from __future__ import annotations

import itertools

import torch
import torchvision
from torch import nn

from tempssl.registry import Registry

BACKBONES: Registry = Registry("backbone")


def build_backbone(name: str, **kwargs) -> nn.Module:
    """The backbone registered as `name` (see `BACKBONES.names()`)."""
    return BACKBONES.get(name)(**kwargs)


def input_channels(backbone: nn.Module) -> int:
    """The channels of `backbone`'s input: its `in_chans` (frame backbones built with one, e.g. 1
    for colorization's lightness), else 3 (RGB)."""
    return int(getattr(backbone, "in_chans", 3))


def input_kind(backbone: nn.Module) -> str:
    """What `backbone` takes: `"frame"` (`(B, 3, H, W)`) or `"clip"` (`(B, 3, T, H, W)`).

    Backbones without an `input_kind` attribute are frame backbones.
    """
    return getattr(backbone, "input_kind", "frame")


def feature_map(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`backbone.forward_features(x)`: `(B, C, h, w)` (frame backbones) or `(B, C, t, h, w)` (clip)."""
    forward_features = getattr(backbone, "forward_features", None)
    if forward_features is None:
        raise ValueError(
            f"{type(backbone).__name__} has no forward_features (a feature map before pooling), which "
            "this head needs: choose a backbone that has one (e.g. small_cnn, resnet18) or a pooled head"
        )
    return forward_features(x)


class ResNetBackbone(torchvision.models.ResNet):
    """torchvision's ResNet, plus `forward_features`; the same modules and state_dict keys (so the
    weights load into `torchvision.models.resnet*` with `strict=True` once `fc` is added back)."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, 3, H, W) -> (B, C, H / 32, W / 32)`: the output of `layer4`, before pooling."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def without_classifier(model: nn.Module, input_kind: str) -> nn.Module:
    """A torchvision classifier as a backbone: its `fc` replaced by the identity (so its weights
    still load into the torchvision constructor once `fc` is added back), with `out_dim` (the
    features `fc` took) and `input_kind` ("frame" or "clip") set."""
    model.out_dim = model.fc.in_features
    model.fc = nn.Identity()
    model.input_kind = input_kind
    return model


def _torchvision_resnet(
    arch: str, zero_init_residual: bool, small_stem: bool, in_chans: int
) -> nn.Module:
    model = getattr(torchvision.models, arch)(weights=None, zero_init_residual=zero_init_residual)
    model.__class__ = ResNetBackbone  # adds forward_features; modules and weights unchanged
    if small_stem:
        use_small_stem(model, in_chans)
    elif in_chans != 3:
        set_input_channels(model, in_chans)
    model.in_chans = in_chans
    return without_classifier(model, "frame")


def check_in_chans(in_chans: int) -> None:
    if not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive number of input channels, got {in_chans!r}")


def set_input_channels(model: torchvision.models.ResNet, in_chans: int) -> torchvision.models.ResNet:
    """A ResNet's `conv1` for `in_chans` input channels (e.g. 1 for colorization's lightness),
    the same 7x7 stride-2 convolution freshly initialized as torchvision does. Loading such
    weights into `torchvision.models.resnet*` needs the same replacement (the export says so)."""
    check_in_chans(in_chans)
    old = model.conv1
    model.conv1 = nn.Conv2d(
        in_chans, old.out_channels, old.kernel_size, old.stride, old.padding, bias=False
    )
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def use_small_stem(model: torchvision.models.ResNet, in_chans: int = 3) -> torchvision.models.ResNet:
    """The small-image ResNet stem (He et al. 2016, Sec. 4.2, CIFAR; SimCLR Appendix B.9; the
    CIFAR settings of solo-learn and lightly): `conv1` a 3x3 convolution with stride 1 and no
    max-pool, so a 32 px image keeps 32x32 maps into `layer1` instead of 8x8. The state_dict keys
    stay torchvision's; `conv1.weight` is `(64, 3, 3, 3)` instead of `(64, 3, 7, 7)`, so loading it
    needs the same two replacements (`tempssl.eval.export` writes them into its instructions)."""
    check_in_chans(in_chans)
    model.conv1 = nn.Conv2d(in_chans, model.conv1.out_channels, 3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    model.small_stem = True
    return model


@BACKBONES.register("resnet18")
def resnet18(zero_init_residual: bool = True, small_stem: bool = False, in_chans: int = 3) -> nn.Module:
    """torchvision ResNet-18 without its classifier: `(B, 3, H, W) -> (B, 512)`; `small_stem`:
    3x3 stride-1 conv1 and no max-pool, for 28-64 px images (`use_small_stem`); `in_chans`: input
    channels (1 for colorization's lightness)."""
    return _torchvision_resnet("resnet18", zero_init_residual, small_stem, in_chans)


@BACKBONES.register("resnet50")
def resnet50(zero_init_residual: bool = True, small_stem: bool = False, in_chans: int = 3) -> nn.Module:
    """torchvision ResNet-50 without its classifier: `(B, 3, H, W) -> (B, 2048)`; `small_stem` as
    for `resnet18`."""
    return _torchvision_resnet("resnet50", zero_init_residual, small_stem, in_chans)


class SmallCNN(nn.Module):
    """A 4-stage conv net that trains in minutes on a CPU: `(B, in_chans, H, W) -> (B, width * 8)`.

    Each stage: 3x3 conv (stride 2) -> BatchNorm -> ReLU; then global average pooling.
    """

    input_kind = "frame"

    def __init__(self, width: int = 32, in_chans: int = 3):
        super().__init__()
        check_in_chans(in_chans)
        self.in_chans = in_chans
        channels = [in_chans, width, width * 2, width * 4, width * 8]
        layers = []
        for c_in, c_out in itertools.pairwise(channels):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = channels[-1]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, 3, H, W) -> (B, width * 8, H / 16, W / 16)`: the last stage's map, before pooling."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


@BACKBONES.register("small_cnn")
def small_cnn(width: int = 32, in_chans: int = 3) -> nn.Module:
    """`SmallCNN`: `(B, in_chans, H, W) -> (B, 8 * width)`."""
    return SmallCNN(width, in_chans)
