"""Patches, masks and fixed position embeddings for masked-image (MAE) and masked-video (VideoMAE)
models, after facebookresearch/mae `models_mae.py` and `util/pos_embed.py`.

- `patchify` / `unpatchify`: images `(B, C, H, W)` <-> patch rows `(B, N, p*p*C)`, row-major
  patches, each flattened as `(p, p, C)` (MAE's order); clips `(B, C, T, H, W)` <-> tubelets
  `(B, N, t*p*p*C)`, N = (T / t) * (H / p) * (W / p), time slowest.
- `random_masking`: per-sample random subsets of the tokens (MAE's argsort of uniform noise).
- `tube_masking`: VideoMAE's tube mask (one spatial mask for every tubelet in time).
- `sincos_2d` / `sincos_3d`: fixed sin-cos position tables.
"""

from __future__ import annotations

import torch
from einops import rearrange

__all__ = [
    "crop_squares",
    "keep_tokens",
    "patchify",
    "random_masking",
    "sincos_1d",
    "sincos_2d",
    "sincos_3d",
    "tube_masking",
    "unpatchify",
]


def patchify(images: torch.Tensor, patch_size: int, tubelet: int | None = None) -> torch.Tensor:
    """Images `(B, C, H, W) -> (B, (H/p)(W/p), p*p*C)`; with `tubelet` t, clips
    `(B, C, T, H, W) -> (B, (T/t)(H/p)(W/p), t*p*p*C)`."""
    p = patch_size
    if tubelet is None:
        _check_divisible(images.shape[-2:], (p, p), "image")
        return rearrange(images, "b c (h p) (w q) -> b (h w) (p q c)", p=p, q=p)
    _check_divisible(images.shape[-3:], (tubelet, p, p), "clip")
    return rearrange(images, "b c (t u) (h p) (w q) -> b (t h w) (u p q c)", u=tubelet, p=p, q=p)


def unpatchify(
    patches: torch.Tensor,
    patch_size: int,
    grid: tuple[int, ...],
    channels: int = 3,
    tubelet: int | None = None,
) -> torch.Tensor:
    """The inverse of `patchify`: `grid` is `(H/p, W/p)` for images, `(T/t, H/p, W/p)` for clips."""
    p = patch_size
    if tubelet is None:
        h, w = grid
        return rearrange(patches, "b (h w) (p q c) -> b c (h p) (w q)", h=h, w=w, p=p, q=p, c=channels)
    t, h, w = grid
    return rearrange(
        patches, "b (t h w) (u p q c) -> b c (t u) (h p) (w q)",
        t=t, h=h, w=w, u=tubelet, p=p, q=p, c=channels,
    )  # fmt: skip


def random_masking(
    batch: int, num_tokens: int, ratio: float, device=None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """MAE's per-sample random masking: each sample keeps its own random `round(N * (1 - ratio))`
    tokens (the first of a random permutation, from the argsort of uniform noise).

    Returns:
        keep: `long (B, M)` indices of the kept tokens, ascending, M = round(N * (1 - ratio)).
        mask: `bool (B, N)`, True where a token is masked (hidden from the encoder).
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1), got {ratio}")
    kept = max(1, round(num_tokens * (1.0 - ratio)))
    noise = torch.rand(batch, num_tokens, device=device, generator=generator)
    keep = noise.argsort(dim=1)[:, :kept].sort(dim=1).values
    mask = torch.ones(batch, num_tokens, dtype=torch.bool, device=device)
    mask.scatter_(1, keep, False)
    return keep, mask


def tube_masking(
    batch: int,
    grid: tuple[int, int, int],
    ratio: float,
    device=None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """VideoMAE's tube masking: one random spatial mask per sample, the same at every tubelet time
    step (grid `(T', H', W')`), so a masked patch cannot be copied from its neighbour in time.

    Returns `keep (B, T' * M)` and `mask (B, T' * H' * W')` as `random_masking`, tokens ordered
    time-slowest as `patchify` makes them.
    """
    steps, h, w = grid
    keep_space, mask_space = random_masking(batch, h * w, ratio, device, generator)
    offsets = torch.arange(steps, device=keep_space.device)[:, None] * (h * w)  # (T', 1)
    keep = (offsets[None] + keep_space[:, None]).flatten(1)  # (B, T' * M), ascending
    return keep, mask_space.repeat(1, steps)


def keep_tokens(tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """`tokens (B, N, D)`, `keep (B, M)` -> `(B, M, D)`: each sample's kept tokens, in order."""
    return tokens.gather(1, keep[..., None].expand(-1, -1, tokens.shape[-1]))


def crop_squares(images: torch.Tensor, corners: torch.Tensor, side: int) -> torch.Tensor:
    """Each image's own squares: `images (B, C, H, W)`, top-left `corners long (B, K, 2)` (row,
    col) -> `(B, K, C, side, side)` (jigsaw's tiles, a context encoder's dropped region)."""
    span = torch.arange(side, device=images.device)
    corners = corners.to(images.device)
    rows = (corners[..., :1] + span)[..., :, None]  # (B, K, side, 1)
    cols = (corners[..., 1:] + span)[..., None, :]  # (B, K, 1, side)
    which = torch.arange(len(images), device=images.device)[:, None, None, None]
    return images.permute(0, 2, 3, 1)[which, rows, cols].permute(0, 1, 4, 2, 3)


def sincos_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """`(P,)` positions -> `(P, dim)`: sin of `dim / 2` frequencies `temperature ** (-i / (dim/2))`,
    then cos (MAE's `get_1d_sincos_pos_embed_from_grid`)."""
    if dim % 2:
        raise ValueError(f"a sin-cos embedding needs an even width, got {dim}")
    omega = 1.0 / temperature ** (torch.arange(dim // 2, dtype=torch.float64) / (dim // 2))
    out = positions.double().flatten()[:, None] * omega[None]
    return torch.cat([out.sin(), out.cos()], dim=1)


def sincos_2d(side: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """`(side * side, dim)` table for a row-major grid: half the channels embed the column, half the
    row (MAE's order: `emb_h` of `grid[0]`, which is the column index x, first)."""
    if dim % 4:
        raise ValueError(f"a 2-D sin-cos position embedding needs a width divisible by 4, got {dim}")
    y, x = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    return torch.cat(
        [sincos_1d(x, dim // 2, temperature), sincos_1d(y, dim // 2, temperature)], dim=1
    ).float()


def sincos_3d(grid: tuple[int, int, int], dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """`(T' * H' * W', dim)` table, time slowest: a third of the channels (rounded to an even
    number) each for t, y, x, the rest to x (VideoMAE uses a 1-D table over all tokens; a
    factorized table keeps where and when a patch is apart)."""
    steps, h, w = grid
    d_t = d_y = (dim // 3) // 2 * 2
    d_x = dim - d_t - d_y
    if min(d_t, d_x) < 2 or d_x % 2:
        raise ValueError(f"a 3-D sin-cos position embedding needs an even width >= 6, got {dim}")
    t, y, x = torch.meshgrid(torch.arange(steps), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.cat(
        [sincos_1d(t, d_t, temperature), sincos_1d(y, d_y, temperature), sincos_1d(x, d_x, temperature)],
        dim=1,
    ).float()


def _check_divisible(shape, parts, what: str) -> None:
    for size, part in zip(shape, parts, strict=True):
        if size % part:
            raise ValueError(
                f"{what} of size {tuple(shape)} does not split into patches of {tuple(parts)}"
            )
