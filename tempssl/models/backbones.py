"""Frame backbones: `float (B, 3, H, W) -> float (B, D)`, each with `out_dim` and `input_kind = "frame"`.

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


def input_kind(backbone: nn.Module) -> str:
    """What `backbone` takes: `"frame"` (`(B, 3, H, W)`) or `"clip"` (`(B, 3, T, H, W)`).

    Backbones without an `input_kind` attribute are frame backbones.
    """
    return getattr(backbone, "input_kind", "frame")


def without_classifier(model: nn.Module, input_kind: str) -> nn.Module:
    """A torchvision classifier as a backbone: its `fc` replaced by the identity (so its weights
    still load into the torchvision constructor once `fc` is added back), with `out_dim` (the
    features `fc` took) and `input_kind` ("frame" or "clip") set."""
    model.out_dim = model.fc.in_features
    model.fc = nn.Identity()
    model.input_kind = input_kind
    return model


def _torchvision_resnet(arch: str, zero_init_residual: bool) -> nn.Module:
    model = getattr(torchvision.models, arch)(weights=None, zero_init_residual=zero_init_residual)
    return without_classifier(model, "frame")


@BACKBONES.register("resnet18")
def resnet18(zero_init_residual: bool = True) -> nn.Module:
    """torchvision ResNet-18 without its classifier: `(B, 3, H, W) -> (B, 512)`."""
    return _torchvision_resnet("resnet18", zero_init_residual)


@BACKBONES.register("resnet50")
def resnet50(zero_init_residual: bool = True) -> nn.Module:
    """torchvision ResNet-50 without its classifier: `(B, 3, H, W) -> (B, 2048)`."""
    return _torchvision_resnet("resnet50", zero_init_residual)


class SmallCNN(nn.Module):
    """A 4-stage conv net that trains in minutes on a CPU: `(B, 3, H, W) -> (B, width * 8)`.

    Each stage: 3x3 conv (stride 2) -> BatchNorm -> ReLU; then global average pooling.
    """

    input_kind = "frame"

    def __init__(self, width: int = 32):
        super().__init__()
        channels = [3, width, width * 2, width * 4, width * 8]
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


@BACKBONES.register("small_cnn")
def small_cnn(width: int = 32) -> nn.Module:
    """`SmallCNN`: `(B, 3, H, W) -> (B, 8 * width)`."""
    return SmallCNN(width)
