"""CIE Lab on tensors and the quantized ab space of colorization (Zhang, Isola, Efros 2016).

- `rgb_to_lab` / `lab_to_rgb`: sRGB in [0, 1] (D65 white, the sRGB transfer curve; the same
  formulas as `skimage.color.rgb2lab`) <-> L in [0, 100], a and b in about [-110, 110], on
  `(..., 3, H, W)` tensors, no per-pixel Python.
- `ab_bins()`: the Q = 313 bin centres of the paper's quantized ab space (grid 10).
- `soft_encode`: a pixel's ab as a distribution over the bins (its 5 nearest, Gaussian sigma 5).
- `smoothed_prior` / `rebalancing_weights`: class rebalancing (paper Eq. 3-4, lambda 0.5).
- `annealed_mean`: a predicted distribution back to one ab value (temperature T = 0.38).
- `backbone_input`: what a backbone trained on L (one input channel) takes from RGB frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

# sRGB (linear) -> XYZ, D65 (IEC 61966-2-1; skimage's matrix) and the D65 white point.
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE = (0.95047, 1.0, 1.08883)
_DELTA = 6.0 / 29.0

# The paper's 313 in-gamut ab bins (richzhang/colorization's released `pts_in_hull.npy`), as each
# row a = -90, -80, ..., 100 with its contiguous range of b (both ends included, step 10). This is
# the published set, a little wider than the sRGB gamut computed from the formulas above (260
# cells): the bins are what the paper's 313-way classifier and its prior refer to.
_GAMUT_B_RANGES: dict[int, tuple[int, int]] = {
    -90: (50, 90), -80: (20, 90), -70: (0, 90), -60: (-20, 90), -50: (-30, 100),
    -40: (-40, 100), -30: (-50, 100), -20: (-50, 100), -10: (-60, 100), 0: (-70, 100),
    10: (-80, 90), 20: (-80, 90), 30: (-90, 90), 40: (-100, 90), 50: (-100, 80),
    60: (-110, 80), 70: (-110, 80), 80: (-110, 70), 90: (-110, 70), 100: (-90, 0),
}  # fmt: skip


def _channels_first(x: Tensor, name: str) -> None:
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"{name} must be (..., 3, H, W), got {tuple(x.shape)}")


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB `(..., 3, H, W)` in [0, 1] -> Lab `(..., 3, H, W)`: L in [0, 100], a and b in
    about [-86, 98] and [-108, 94] for sRGB colours."""
    _channels_first(rgb, "rgb")
    rgb = rgb.clamp(0.0, 1.0)
    linear = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_WHITE, dtype=rgb.dtype, device=rgb.device)
    xyz = torch.einsum("ij,...jhw->...ihw", matrix, linear) / white[:, None, None]
    f = torch.where(xyz > _DELTA**3, xyz.clamp_min(1e-12) ** (1 / 3), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f.unbind(dim=-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """Lab `(..., 3, H, W)` -> sRGB `(..., 3, H, W)`, clipped to [0, 1] (ab values outside the
    gamut of their L have no sRGB colour)."""
    _channels_first(lab, "lab")
    lightness, a, b = lab.unbind(dim=-3)
    fy = (lightness + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
    white = torch.tensor(_WHITE, dtype=lab.dtype, device=lab.device)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * white[:, None, None]
    matrix = torch.linalg.inv(torch.tensor(_RGB_TO_XYZ, dtype=torch.float64)).to(lab)
    linear = torch.einsum("ij,...jhw->...ihw", matrix, xyz).clamp(0.0, 1.0)
    return torch.where(
        linear <= 0.0031308, 12.92 * linear, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055
    ).clamp(0.0, 1.0)


def ab_bins() -> Tensor:
    """The paper's Q = 313 ab bin centres `(313, 2)` (a, b), a grid of 10, ordered by a then b."""
    rows = [
        (a, b) for a, (low, high) in sorted(_GAMUT_B_RANGES.items()) for b in range(low, high + 1, 10)
    ]
    return torch.tensor(rows, dtype=torch.float32)


def soft_encode(ab: Tensor, bins: Tensor, neighbours: int = 5, sigma: float = 5.0) -> Tensor:
    """Soft-encoded targets (paper Sec. 2.1): each pixel's ab `(B, 2, H, W)` as weights over the
    bins `(Q, 2)` -> `(B, Q, H, W)`: its `neighbours` nearest bins, weighted by a Gaussian of
    their distance (`sigma`), normalized to sum 1; all other bins 0."""
    if ab.ndim != 4 or ab.shape[1] != 2:
        raise ValueError(f"ab must be (B, 2, H, W), got {tuple(ab.shape)}")
    batch, _, height, width = ab.shape
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2)  # (B*H*W, 2)
    distance, nearest = torch.cdist(points, bins.to(points)).topk(neighbours, largest=False)
    weights = torch.softmax(-(distance**2) / (2 * sigma**2), dim=1)
    encoded = torch.zeros(points.shape[0], bins.shape[0], dtype=ab.dtype, device=ab.device)
    encoded.scatter_(1, nearest, weights)
    return encoded.reshape(batch, height, width, -1).permute(0, 3, 1, 2)


def smoothed_prior(counts: Tensor, bins: Tensor, sigma: float = 5.0) -> Tensor:
    """The empirical distribution of the bins `(Q,)` from `counts (Q,)`, smoothed by a Gaussian
    kernel of `sigma` over the ab plane (the paper's p~): `p~_q = sum_j K(c_q, c_j) p_j` with each
    kernel column normalized, so p~ still sums to 1."""
    p = counts.double() / counts.double().sum().clamp_min(1e-12)
    centres = bins.double().to(counts.device)
    kernel = torch.exp(-(torch.cdist(centres, centres) ** 2) / (2 * sigma**2))
    kernel = kernel / kernel.sum(dim=0, keepdim=True)  # each bin's mass spread, summing to 1
    return (kernel @ p).to(counts.dtype if counts.is_floating_point() else torch.float32)


def rebalancing_weights(prior: Tensor, mix: float = 0.5) -> Tensor:
    """Class-rebalancing weights (paper Eq. 4): `w ∝ ((1 - lambda) p~ + lambda / Q)^-1`, scaled
    so that their expectation under p~ is 1 (`sum_q p~_q w_q = 1`); `mix` is lambda."""
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"rebalancing mix lambda must be in [0, 1], got {mix}")
    weights = 1.0 / ((1 - mix) * prior + mix / prior.numel()).clamp_min(1e-12)
    return weights / (prior * weights).sum()


def annealed_mean(probabilities: Tensor, bins: Tensor, temperature: float = 0.38) -> Tensor:
    """The paper's annealed-mean decoding (Eq. 5): a distribution over the bins `(B, Q, H, W)`
    re-normalized as `z^(1/T)` and averaged over the bin centres -> ab `(B, 2, H, W)`. T = 1 is
    the mean, T -> 0 the mode; T = 0.38 is the paper's choice."""
    tempered = torch.softmax(torch.log(probabilities.clamp_min(1e-12)) / temperature, dim=1)
    return torch.einsum("bqhw,qc->bchw", tempered, bins.to(tempered))


def lightness_input(lab: Tensor) -> Tensor:
    """What a colorization network sees: L `(..., 1, H, W)` centred at 50 and scaled to [-1, 1]
    (the paper subtracts 50; the scale keeps a first layer's inputs near unit size)."""
    return (lab[..., :1, :, :] - 50.0) / 50.0


def backbone_input(
    frames: Tensor, in_chans: int, mean: Sequence[float] | None, std: Sequence[float] | None
) -> Tensor:
    """Frames `(B, 3, H, W)` as normalized by the run's transform (`mean` / `std`, or None for
    [0, 1]) -> the input of a backbone with `in_chans` channels: unchanged for 3, the centred
    lightness (`lightness_input`) for 1, which colorization trains."""
    if in_chans == 3:
        return frames
    if in_chans != 1:
        raise ValueError(f"no RGB frame conversion for a backbone of {in_chans} input channels")
    rgb = frames
    if mean is not None and std is not None:
        shape = (1, 3, 1, 1)
        rgb = frames * torch.tensor(std).to(frames).view(shape) + torch.tensor(mean).to(frames).view(
            shape
        )
    return lightness_input(rgb_to_lab(rgb))
