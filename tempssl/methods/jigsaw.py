"""Jigsaw puzzles (Noroozi & Favaro 2016, "Unsupervised Learning of Visual Representations by
Solving Jigsaw Puzzles"), on video frames or images.

1. The frame is cut into a 3x3 grid of cells; from each cell a tile of `tile_fraction` of its
   side is cut at a random offset (the paper: 64 px tiles in 75 px cells), so that the gaps
   between tiles hide edge continuity and the net cannot solve the puzzle from low-level cues.
2. Each tile is normalized by its own per-channel mean and standard deviation (the paper: "we
   normalize the mean and the standard deviation of each patch independently").
3. The tiles are shuffled by one of P permutations drawn for each frame; P is a fixed set chosen by
   the paper's greedy maximal-Hamming-distance algorithm (Algorithm 1; default 100; 64 and 1000 as
   in its Table 3), deterministic from a seed and cached.
4. A shared tile encoder (the backbone: the "context-free network", one Siamese branch per tile)
   embeds each tile; the 9 embeddings are concatenated in shuffled order and an MLP classifies
   the permutation's index.

The representation kept is the backbone applied to whole frames. The paper's grayscale and
colour-jitter augmentation against chromatic aberration come from the transform.
"""

from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tempssl.atomic import atomic_path
from tempssl.data.metadata import cache_dir
from tempssl.methods.base import METHODS, Method, frames_of
from tempssl.models.patches import crop_squares

GRID = 3
TILES = GRID * GRID


def hamming_permutations(count: int = 100, tiles: int = TILES, seed: int = 0) -> np.ndarray:
    """A permutation set after the paper's Algorithm 1: `count` permutations of `tiles` items chosen
    greedily from all of them, starting from a random one, each the one farthest from those already
    chosen: the largest minimum Hamming distance to them, ties broken by the largest mean distance
    (Algorithm 1's own criterion), then by the first. (Algorithm 1 alone, the mean, lets pairs
    come as close as 2 of 9 tiles for P = 100; the minimum first keeps every pair >= 6 apart at
    the same mean, 8.0.) `int64 (count, tiles)`; deterministic from `seed`; cached in the user cache
    (`$TEMPSSL_CACHE/jigsaw/`) for the 9-tile case, which searches all 9! = 362880 orders."""
    every = math.factorial(tiles)
    if not 1 <= count <= every:
        raise ValueError(f"jigsaw: {count} permutations asked for; {tiles} tiles have {every}")
    cached = cache_dir() / "jigsaw" / f"hamming_{tiles}_{count}_seed{seed}.npy"
    if cached.is_file():
        return np.load(cached)
    candidates = np.array(list(permutations(range(tiles))), dtype=np.int8)  # (n!, tiles)
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(candidates)))]
    total = np.zeros(len(candidates), dtype=np.int64)  # sum of distances to the chosen ones
    nearest = np.full(len(candidates), tiles + 1, dtype=np.int64)  # min distance to them
    for _ in range(count - 1):
        distance = (candidates != candidates[chosen[-1]]).sum(axis=1)
        total += distance
        nearest = np.minimum(nearest, distance)  # chosen ones are at 0: never picked again
        chosen.append(int((nearest * (tiles * count + 1) + total).argmax()))
    result = candidates[chosen].astype(np.int64)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cached) as tmp, open(tmp, "wb") as handle:
        np.save(handle, result)
    return result


def cut_tiles(
    images: torch.Tensor,
    tile_fraction: float = 64 / 75,
    generator: torch.Generator | None = None,
    normalize: bool = True,
) -> torch.Tensor:
    """A 3x3 puzzle of each image: `(B, C, S, S) -> (B, 9, C, t, t)`, tiles in row-major cell
    order, each at its own random offset inside its cell (t = floor(cell * tile_fraction), cell =
    S // 3), then (`normalize`) per tile and channel to zero mean and unit standard deviation."""
    batch, _, height, width = images.shape
    cell = min(height, width) // GRID
    tile = max(1, math.floor(cell * tile_fraction))
    slack = cell - tile
    offsets = torch.randint(0, slack + 1, (batch, TILES, 2), generator=generator)
    cells = torch.arange(TILES)
    origins = torch.stack([cells // GRID, cells % GRID], dim=1) * cell  # (9, 2) cell corners
    tiles = crop_squares(images, origins + offsets, tile)  # (B, 9, C, t, t)
    if not normalize:
        return tiles
    mean = tiles.mean(dim=(-2, -1), keepdim=True)
    std = tiles.std(dim=(-2, -1), keepdim=True)
    return (tiles - mean) / (std + 1e-5)


@METHODS.register("jigsaw")
class Jigsaw(Method):
    """Context-free network: classify which of P permutations shuffled a frame's 9 tiles.

    Batches (sampler `frames` with a single-view transform): `frames (B, K, C, H, W)`.

    Args:
        backbone: a frame backbone (the shared tile encoder) with `out_dim`.
        num_permutations: P (the paper: 100 in its main results; 64 and 1000 in its Table 3).
        hidden_dim: the classifier's hidden layer (the paper's fc7: 4096 on 9 x 512 fc6 features).
        tile_fraction: tile side / cell side (the paper: 64 / 75).
        seed: seeds the permutation set (the same set for every run with this seed).
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        num_permutations: int = 100,
        hidden_dim: int = 1024,
        tile_fraction: float = 64 / 75,
        seed: int = 0,
    ):
        super().__init__(backbone)
        if not 0.0 < tile_fraction <= 1.0:
            raise ValueError(f"jigsaw tile_fraction must be in (0, 1], got {tile_fraction}")
        self.tile_fraction = tile_fraction
        self.register_buffer(
            "permutations", torch.from_numpy(hamming_permutations(num_permutations, seed=seed))
        )
        self.classifier = nn.Sequential(
            nn.Linear(TILES * backbone.out_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, num_permutations),
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = frames_of(batch)
        tiles = cut_tiles(images, self.tile_fraction)  # (B, 9, C, t, t)
        labels = torch.randint(0, len(self.permutations), (len(images),), device=images.device)
        order = self.permutations[labels]  # (B, 9): position i shows tile order[i]
        shuffled = tiles.gather(1, order[:, :, None, None, None].expand_as(tiles))
        features = self.backbone(shuffled.flatten(0, 1)).unflatten(0, (len(images), TILES))
        logits = self.classifier(features.flatten(1))
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": F.cross_entropy(logits, labels), "permutation_accuracy": accuracy}
