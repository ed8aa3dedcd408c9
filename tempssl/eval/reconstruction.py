"""Reconstruction quality of restoring methods (MAE, ...): PSNR and SSIM on held-out frames, and an
image grid (one row per frame: the corrupted input, the method's output, the target).

A restoring method has `reconstruct(images) -> {"masked" or "input": ..., "output": ...,
"target": ...}`, each `(B, 3, H, W)` in the training normalization; the metrics compare `output`
with `target` after undoing it, in [0, 1].
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from tempssl.data.sources import VideoSource
from tempssl.data.transforms import ClipTransform, decode_size_for
from tempssl.video import VideoError, open_video

log = logging.getLogger(__name__)

GRID_COLUMNS = ("masked", "input", "output", "target")  # shown left to right, where present


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, `10 log10(range^2 / MSE)`: `(B, C, H, W)` x 2 ->
    `(B,)` in dB (inf for identical images)."""
    mse = (x.double() - y.double()).pow(2).flatten(1).mean(dim=1)
    return (10 * torch.log10(data_range**2 / mse)).float()


def ssim(
    x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5
) -> torch.Tensor:
    """Structural similarity per image (Wang, Bovik, Sheikh, Simoncelli 2004): local means,
    variances and covariance under an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03, over
    the valid region of each channel, averaged over positions and channels: `(B, C, H, W)` x 2 ->
    `(B,)` (1 for identical images). Images smaller than the window use a window of their size."""
    x, y = x.double(), y.double()
    channels = x.shape[1]
    size = min(window, x.shape[-1], x.shape[-2])
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, size, size).to(x.device)

    def blur(t):
        return F.conv2d(t, kernel, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    score = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return score.flatten(1).mean(dim=1).float()


def held_out_frames(
    source: VideoSource, count: int, size: int, mean, std, backend: str = "auto"
) -> torch.Tensor:
    """The middle frame of `count` videos spread evenly over `source`, resized and centre-cropped
    as at evaluation: `float (N, 3, size, size)` normalized by `mean`/`std` (unreadable videos are
    skipped with a warning, so N <= count)."""
    transform = ClipTransform(size, train=False, mean=mean, std=std)
    ids = np.unique(np.linspace(0, len(source) - 1, min(count, len(source))).round().astype(int))
    frames = []
    for i in ids:
        video = source.videos[int(i)]
        try:
            with open_video(video.path, backend=backend, size=decode_size_for(size)) as reader:
                frames.append(transform(reader.get_frames([reader.num_frames // 2])[0]))
        except VideoError as error:
            log.warning("skipping unreadable video: %s", error)
    if not frames:
        raise ValueError(f"no readable frames among {len(ids)} videos of {source.root}")
    return torch.stack(frames)


@torch.no_grad()
def evaluate_reconstruction(
    method, images: torch.Tensor, mean, std, seed: int = 0
) -> tuple[dict[str, float], np.ndarray]:
    """PSNR and SSIM of `method.reconstruct(images)` against the targets, and the image grid.

    Args:
        method: a restoring method (in eval mode for the call; its mode is restored).
        images: `(N, 3, H, W)` normalized frames (`held_out_frames`).
        mean, std: the normalization to undo (None: images are in [0, 1]).
        seed: seeds the method's random corruption (mask), so that runs are comparable.

    Returns:
        `({"psnr": dB, "ssim": s}, grid uint8 (N * H, columns * W, 3))`, means over the frames.
    """
    was_training = method.training
    method.eval()
    device = next(method.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    parts = method.reconstruct(images.to(device), generator=generator)
    method.train(was_training)
    shown = {k: _to_unit(parts[k], mean, std).cpu() for k in GRID_COLUMNS if k in parts}
    metrics = {
        "psnr": float(psnr(shown["output"], shown["target"]).mean()),
        "ssim": float(ssim(shown["output"], shown["target"]).mean()),
    }
    return metrics, image_grid(list(shown.values()))


def image_grid(columns: list[torch.Tensor], pad: int = 2) -> np.ndarray:
    """`uint8 (N*(H+pad), K*(W+pad), 3)`: row i shows image i of each of the K `(N, 3, H, W)`
    tensors in [0, 1], left to right, on a white background."""
    n, _, h, w = columns[0].shape
    grid = np.full((n * (h + pad), len(columns) * (w + pad), 3), 255, dtype=np.uint8)
    for j, images in enumerate(columns):
        pixels = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for i in range(n):
            grid[i * (h + pad) : i * (h + pad) + h, j * (w + pad) : j * (w + pad) + w] = pixels[i]
    return grid


def _to_unit(images: torch.Tensor, mean, std) -> torch.Tensor:
    if mean is None:
        return images.float().clamp(0, 1)
    m = torch.tensor(mean, device=images.device)[:, None, None]
    s = torch.tensor(std, device=images.device)[:, None, None]
    return (images.float() * s + m).clamp(0, 1)
