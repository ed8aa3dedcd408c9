"""Context prediction (Doersch, Gupta, Efros 2015, "Unsupervised Visual Representation Learning by
Context Prediction"), on video frames or images.

1. A 3x3 grid of patch positions is laid on the frame: patches of side p, a gap of half a patch
   between neighbours (the paper: 96 px patches, 48 px gaps), each patch jittered by up to
   p * 7 / 96 pixels in each direction (the paper: 7 px), the grid itself at a random place.
   Gaps and jitter keep the net from solving the task by continuing lines or textures across
   patch borders.
2. Of each frame, the centre patch and one of its 8 neighbours, chosen uniformly: the label is
   which neighbour (0-7, row-major around the centre).
3. Colour dropping (Sec. 3.1, against chromatic aberration, which tells where in a photograph a
   patch lies): in each patch 2 of its 3 colour channels, chosen at random, are replaced by
   Gaussian noise of 1/100 the standard deviation of the kept channel.
4. A shared encoder (the backbone, one Siamese branch per patch) embeds both patches; their
   features are concatenated (late fusion: the paper's fc6 of each patch into a shared fc7) and
   an MLP classifies the 8 relative positions.

The representation kept is the backbone applied to whole frames. Where we deviate: the paper
also down-samples some patches to as few as 100 pixels and up again, against a pixelation cue of
its photographs; a video frame's patches all share one resolution, so we leave that out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tempssl.methods.base import METHODS, Method, frames_of
from tempssl.models.patches import crop_squares

NEIGHBOURS = 8
# (row, col) of the 8 neighbours in the 3x3 grid, row-major, the centre (1, 1) left out
NEIGHBOUR_CELLS = [(r, c) for r in range(3) for c in range(3) if (r, c) != (1, 1)]


def patch_geometry(
    side: int, gap_ratio: float = 0.5, jitter_ratio: float = 7 / 96
) -> tuple[int, int, int]:
    """`(patch, gap, jitter)` in pixels for a square frame of `side`: the largest patch for which
    the 3x3 grid with `gap = gap_ratio * patch` and `jitter = jitter_ratio * patch` on every side
    fits (the paper's 96 / 48 / 7 px)."""
    patch = math.floor(side / (3 + 2 * gap_ratio + 2 * jitter_ratio))
    gap, jitter = math.floor(patch * gap_ratio), math.floor(patch * jitter_ratio)
    while patch > 1 and 3 * patch + 2 * gap + 2 * jitter > side:  # floor rounding
        patch -= 1
        gap, jitter = math.floor(patch * gap_ratio), math.floor(patch * jitter_ratio)
    if patch < 1:
        raise ValueError(f"context prediction: a {side} px frame is too small for a 3x3 grid")
    return patch, gap, jitter


def pair_corners(
    batch: int,
    side: int,
    patch: int,
    gap: int,
    jitter: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-left corners `long (B, 2, 2)` (row, col) of each frame's centre patch (index 0) and one
    neighbour (index 1), and the neighbour's label `long (B,)` in 0-7 (`NEIGHBOUR_CELLS`)."""
    step = patch + gap
    slack = side - (3 * patch + 2 * gap + 2 * jitter)  # room to move the whole grid
    origin = jitter + torch.randint(0, slack + 1, (batch, 1, 2), generator=generator)
    labels = torch.randint(0, NEIGHBOURS, (batch,), generator=generator)
    cells = torch.tensor(NEIGHBOUR_CELLS)[labels]  # (B, 2)
    grid = torch.stack([torch.ones_like(cells), cells], dim=1)  # (B, 2, 2): centre, neighbour
    shake = torch.randint(-jitter, jitter + 1, (batch, 2, 2), generator=generator)
    return origin + grid * step + shake, labels


def drop_colors(patches: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Colour dropping: `(N, 3, p, p)` -> the same with 2 of each patch's channels replaced by
    Gaussian noise, std 1/100 of the kept channel's (per patch)."""
    count = patches.shape[0]
    kept = torch.randint(0, 3, (count,), generator=generator).to(patches.device)
    keep = F.one_hot(kept, 3).bool()[:, :, None, None]  # (N, 3, 1, 1)
    kept_std = patches[torch.arange(count), kept].flatten(1).std(dim=1)  # (N,)
    noise = torch.randn(patches.shape, generator=generator).to(patches) * (kept_std / 100).view(
        -1, 1, 1, 1
    )
    return torch.where(keep, patches, noise)


@METHODS.register("context_prediction")
class ContextPrediction(Method):
    """Predict where a patch lies relative to the frame's centre patch (8 classes).

    Batches (sampler `frames` with a single-view transform): `frames (B, K, 3, H, W)`, square.

    Args:
        backbone: a frame backbone (the shared patch encoder) with `out_dim`.
        hidden_dim: the classifier's hidden layer (the paper's fc7, 4096 on two 4096-d fc6).
        gap_ratio: gap between neighbouring patches / patch side (the paper: 0.5).
        jitter_ratio: largest shift of a patch / patch side (the paper: 7 / 96).
        color_dropping: drop 2 of 3 colour channels per patch (the paper's main setting).
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 1024,
        gap_ratio: float = 0.5,
        jitter_ratio: float = 7 / 96,
        color_dropping: bool = True,
    ):
        super().__init__(backbone)
        if gap_ratio < 0 or jitter_ratio < 0:
            raise ValueError(
                f"context prediction gap_ratio and jitter_ratio must be >= 0, got {gap_ratio}, "
                f"{jitter_ratio}"
            )
        self.gap_ratio, self.jitter_ratio, self.color_dropping = gap_ratio, jitter_ratio, color_dropping
        self.classifier = nn.Sequential(
            nn.Linear(2 * backbone.out_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, NEIGHBOURS),
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = frames_of(batch)
        side = min(images.shape[-2:])
        patch, gap, jitter = patch_geometry(side, self.gap_ratio, self.jitter_ratio)
        corners, labels = pair_corners(len(images), side, patch, gap, jitter)
        patches = crop_squares(images, corners, patch).flatten(0, 1)  # (2B, C, p, p)
        if self.color_dropping:
            patches = drop_colors(patches)
        features = self.backbone(patches).unflatten(0, (len(images), 2))  # (B, 2, D)
        logits = self.classifier(features.flatten(1))
        labels = labels.to(logits.device)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": F.cross_entropy(logits, labels), "position_accuracy": accuracy}
