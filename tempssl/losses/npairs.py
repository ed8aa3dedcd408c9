"""N-pair loss, the multi-view TCN loss of TCN's reference code.

* `npairs_loss` / `NPairsLoss`: Sohn's N-pair loss as TensorFlow's
  `tf.contrib.losses.metric_learning.npairs_loss` (multi-view TCN in `research/tcn`).

`gather=True` and the gradient convention every loss follows with it: `tempssl.losses.gather`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tempssl.losses._checks import _check_labels, _check_pair
from tempssl.losses.gather import _gather, gather_no_grad

__all__ = [
    "NPairsLoss",
    "npairs_loss",
]


def npairs_loss(
    anchors: Tensor,
    positives: Tensor,
    labels: Tensor | None = None,
    reg_lambda: float = 0.002,
    gather: bool = False,
) -> Tensor:
    """N-pair loss (Sohn, NeurIPS 2016) as TF's `tf.contrib.losses.metric_learning.npairs_loss`.

    Used by multi-view TCN (tensorflow/models `research/tcn`, `MVTCNNpairsEstimator`):

        S = anchors @ positives^T                                   (logits, no temperature)
        T_ij = [y_i == y_j] / sum_k [y_i == y_k]                    (identity when labels is None)
        L = mean_i( -sum_j T_ij log softmax(S_i)_j )
            + reg_lambda * 0.25 * (mean_i ||a_i||^2 + mean_i ||p_i||^2)

    Embeddings are used as given: not L2-normalised (TF: "should not be l2 normalized"; TCN config
    `npairs: embedding_l2: false`).

    Args:
        anchors: `(N, D)`.
        positives: `(N, D)`; row i is the positive of anchor i.
        labels: `(N,)` labels of the pairs, or None for N distinct pairs (identity targets).
        reg_lambda: 0.002, TF's default.
        gather: gather the positives (with gradient) and labels from all processes as extra
            candidates; the loss is the mean over this process's anchors and the regulariser uses
            this process's rows (gradient convention in `tempssl.losses.gather`).

    Returns:
        Scalar loss.
    """
    _check_pair(anchors, positives, "anchors and positives")
    if labels is not None:
        _check_labels(labels, anchors.shape[0])
    l2 = 0.25 * reg_lambda * (anchors.pow(2).sum(dim=1).mean() + positives.pow(2).sum(dim=1).mean())
    candidates, offset = _gather(positives, with_grad=True) if gather else (positives, 0)
    logits = anchors @ candidates.T
    if labels is None:
        target = torch.arange(anchors.shape[0], device=anchors.device) + offset
        xent = F.cross_entropy(logits, target)
    else:
        cand_labels = gather_no_grad(labels) if gather else labels
        t = (labels[:, None] == cand_labels[None, :]).to(logits.dtype)
        t = t / t.sum(dim=1, keepdim=True)
        xent = -(t * logits.log_softmax(dim=1)).sum(dim=1).mean()
    return xent + l2


class NPairsLoss(nn.Module):
    """`npairs_loss` with its hyper-parameters; `forward(anchors, positives, labels=None)`."""

    def __init__(self, reg_lambda: float = 0.002, gather: bool = False):
        super().__init__()
        self.reg_lambda, self.gather = reg_lambda, gather

    def forward(self, anchors: Tensor, positives: Tensor, labels: Tensor | None = None) -> Tensor:
        return npairs_loss(anchors, positives, labels, self.reg_lambda, self.gather)

    def extra_repr(self) -> str:
        return f"reg_lambda={self.reg_lambda}, gather={self.gather}"
