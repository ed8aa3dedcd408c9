"""Rotation prediction (Gidaris, Singh, Komodakis 2018, "Unsupervised Representation Learning by
Predicting Image Rotations"), on video frames or images.

Every frame of the batch is shown in all four rotations, 0, 90, 180 and 270 degrees (the paper's
best setting, Sec. 3.2 and Table 1: four rotations of each image in the same batch), and the
network classifies which rotation it sees. Recognizing that an upright object or scene is upright
needs a model of what objects and their parts look like.

The classifier is a linear layer on the backbone's pooled features (the paper stacks the last
blocks of its NIN model and a linear layer; with a ResNet the backbone's last stage plays that
part, as in Kolesnikov et al. 2019's ResNet RotNets). Frames must be square (the transforms'
`size` crops are), so that a quarter turn keeps the shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tempssl.methods.base import METHODS, Method, frames_of

ROTATIONS = 4


def rotate_all(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of each image: `(B, C, H, W)` square -> `(4B, C, H, W)` and labels
    `long (4B,)`, label r = r quarter turns counter-clockwise (`torch.rot90`), rotation-major
    (the first B are the images as given)."""
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(
            f"rotation prediction needs square frames, got {images.shape[-2]}x{images.shape[-1]}"
        )
    rotated = torch.cat([torch.rot90(images, r, dims=(-2, -1)) for r in range(ROTATIONS)])
    labels = torch.arange(ROTATIONS, device=images.device).repeat_interleave(images.shape[0])
    return rotated, labels


@METHODS.register("rotation")
class Rotation(Method):
    """RotNet: classify the rotation (0/90/180/270 degrees) of every frame, all four per frame.

    Batches (sampler `frames` with a single-view transform): `frames (B, K, C, H, W)`.

    Args:
        backbone: a frame backbone `(B, C, H, W) -> (B, D)` with `out_dim`.
    """

    sampler_kind = "frames"

    def __init__(self, backbone: nn.Module):
        super().__init__(backbone)
        self.classifier = nn.Linear(backbone.out_dim, ROTATIONS)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images, labels = rotate_all(frames_of(batch))
        logits = self.classifier(self.backbone(images))
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": F.cross_entropy(logits, labels), "rotation_accuracy": accuracy}
