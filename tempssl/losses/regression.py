"""Regression losses: BYOL's normalized mean squared error between embeddings, and masked
autoencoders' squared error on hidden patches (MAE, VideoMAE)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from tempssl.losses._checks import _check_pair


def normalized_mse(prediction: Tensor, target: Tensor) -> Tensor:
    """BYOL's loss (Grill et al. 2020, Eq. 2): the squared distance of the L2-normalized vectors,
    `||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)`, averaged over the batch; `target` gets no gradient.

    Args:
        prediction: `(N, D)` the online network's prediction `p`.
        target: `(N, D)` the target network's projection `z'` of the other view.

    Returns:
        The scalar mean over the N rows (per process: no gather, each row's loss is its own).
    """
    _check_pair(prediction, target, "prediction and target")
    cosine = F.cosine_similarity(prediction, target.detach(), dim=1)
    return (2 - 2 * cosine).mean()


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor, Tensor]:
    """MAE's `norm_pix_loss` targets: each patch (the last dimension) minus its own mean, over its
    own standard deviation `sqrt(var + eps)` (unbiased variance, as the reference's `var()`).

    Returns `(normalized, mean, std)`, the last two `(..., 1)`, to map predictions back.
    """
    mean, var = patches.mean(dim=-1, keepdim=True), patches.var(dim=-1, keepdim=True)
    std = (var + eps) ** 0.5
    return (patches - mean) / std, mean, std


def masked_mse(predicted: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """The mean over hidden patches of each patch's mean squared error (MAE's loss):
    `(B, N, P)`, `(B, N, P)`, `bool (B, N)` (True = hidden) -> scalar. Visible patches do not count."""
    per_patch = (predicted - target).pow(2).mean(dim=-1)  # (B, N)
    return (per_patch * mask).sum() / mask.sum()
