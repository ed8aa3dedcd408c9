"""Clip backbones: `float (B, 3, T, H, W) -> float (B, D)`, with `out_dim` and `input_kind = "clip"`.

The 18-layer video ResNets are torchvision's own modules (randomly initialized: nothing is
downloaded) with the classifier replaced by the identity, so their weights load back into
`torchvision.models.video.r3d_18()` and its siblings. All of them accept any T >= 1: every
temporal convolution is padded, so a stride-2 stage turns one frame into one.
"""

from __future__ import annotations

import itertools

import torch
import torchvision
from torch import nn

from tempssl.models.backbones import BACKBONES, without_classifier


def _torchvision_video_resnet(arch: str) -> nn.Module:
    return without_classifier(getattr(torchvision.models.video, arch)(weights=None), "clip")


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
    stages see motion at the frame rate of the clip.
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


@BACKBONES.register("small_3dcnn")
def small_3dcnn(width: int = 32) -> nn.Module:
    """`Small3DCNN`: `(B, 3, T, H, W) -> (B, 8 * width)`."""
    return Small3DCNN(width)
