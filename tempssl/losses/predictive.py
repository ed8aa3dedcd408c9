"""Predictive coding losses: the InfoNCE of CPC and DPC, predicted latents against all latents.

* `cpc_loss`: CPC's InfoNCE of predicted latents against all latents (log-bilinear scores).
* `dpc_loss`: DPC's dense InfoNCE over (block, location) of predicted feature maps.

`gather=True` and the gradient convention every loss follows with it: `tempssl.losses.gather`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from tempssl.losses._checks import _check_labels
from tempssl.losses.gather import _gather

__all__ = [
    "cpc_loss",
    "dpc_loss",
]


def cpc_loss(
    predictions: Tensor,
    latents: Tensor,
    targets: Tensor,
    gather: bool = False,
    groups: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """CPC's InfoNCE (van den Oord et al. 2018, Eq. 3-4): every prediction must pick its target
    latent among all latents, scored by the log-bilinear `f = exp(z_j . z_hat_i)` (plain dot
    products, no normalization or temperature, as in CPC and DPC).

        L = mean_i( -log softmax_j(z_hat_i . z_j)[targets_i] )

    Args:
        predictions: `(M, D)` predicted latents `z_hat_i` (e.g. `W_k c_t`).
        latents: `(K, D)` this process's latents: the candidates.
        targets: `(M,)` long, index into `latents` of each prediction's true latent.
        gather: also score against the latents of every process (gathered with gradient); the
            loss is the mean over this process's predictions (gradient convention in
            `tempssl.losses.gather`).
        groups: `(K,)` the sequence each latent belongs to (any ids), for `own_accuracy`; None:
            all of this process's latents are one group.

    Returns:
        `(loss, accuracy, own_accuracy)`: the scalar loss; the fraction of predictions whose
        highest score among all candidates is their target; and the same fraction among only the
        latents of the target's own group (no gradient). Most candidates come from other
        sequences, so `accuracy` rewards telling sequences apart; `own_accuracy` (chance 1 / group
        size) shows whether the prediction tells apart the moments of its own sequence.
    """
    if predictions.ndim != 2 or latents.ndim != 2 or predictions.shape[1] != latents.shape[1]:
        raise ValueError(
            f"predictions (M, D) and latents (K, D) must share D, got {tuple(predictions.shape)} "
            f"and {tuple(latents.shape)}"
        )
    _check_labels(targets, predictions.shape[0])
    if groups is not None and (groups.ndim != 1 or groups.shape[0] != latents.shape[0]):
        raise ValueError(f"groups must be (K,) with K={latents.shape[0]}, got {tuple(groups.shape)}")
    candidates, offset = _gather(latents, with_grad=True) if gather else (latents, 0)
    logits = predictions @ candidates.T
    target = targets + offset
    with torch.no_grad():
        accuracy = (logits.argmax(dim=1) == target).float().mean()
        own = logits[:, offset : offset + latents.shape[0]]  # a sequence's latents stay local
        if groups is not None:
            own = own.masked_fill(groups[None] != groups[targets][:, None], float("-inf"))
        own_accuracy = (own.argmax(dim=1) == targets).float().mean()
    return F.cross_entropy(logits, target), accuracy, own_accuracy


def dpc_loss(
    predictions: Tensor, targets: Tensor, gather: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """DPC's dense InfoNCE (Han et al. 2019, Eq. 4): the prediction at (sequence b, step k,
    location l) must pick the true feature at (b, k, l) among the features of every (b', k', l')
    (scores are plain dot products, as in `cpc_loss`).

    Candidates are all predicted blocks x locations of the (global) batch: other sequences ("easy"
    negatives), the other steps at the same place (temporal) and the other places (spatial); the
    reference (TengdaHan/DPC) puts them all in one softmax, as here.

    Args:
        predictions: `(B, K, D, h, w)` predicted feature maps of the K predicted blocks.
        targets: `(B, K, D, h, w)` the true feature maps of those blocks.
        gather: score against the targets of every process (with gradient; see `cpc_loss`).

    Returns:
        `(loss, accuracy, own_accuracy)` as `cpc_loss`, with a sequence's own K x h x w features as
        its group (chance 1 / (K h w)); the loss is the mean over all B K h w predictions.
    """
    if predictions.ndim != 5 or predictions.shape != targets.shape:
        raise ValueError(
            "predictions and targets must both be (B, K, D, h, w) with the same shape, got "
            f"{tuple(predictions.shape)} and {tuple(targets.shape)}"
        )
    _, steps, dim, h, w = predictions.shape
    rows = predictions.permute(0, 1, 3, 4, 2).reshape(-1, dim)  # (b, k, y, x) row-major
    candidates = targets.permute(0, 1, 3, 4, 2).reshape(-1, dim)
    index = torch.arange(rows.shape[0], device=rows.device)
    return cpc_loss(rows, candidates, index, gather=gather, groups=index // (steps * h * w))
