"""Regression losses between embeddings: BYOL's normalized mean squared error."""

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
