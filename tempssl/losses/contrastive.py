"""Contrastive losses on two views: InfoNCE in MoCo's form and SimCLR's NT-Xent.

* `info_nce` / `InfoNCELoss`: InfoNCE (van den Oord et al. 2018) in MoCo's forms: with a queue,
  MoCo v1/v2's (query vs. its key and the queue); without, MoCo v3's (query vs. every key of the
  global batch).
* `nt_xent` / `NTXentLoss`: SimCLR's NT-Xent (Chen et al. 2020) over the 2N views of a batch.

`gather=True` and the gradient convention every loss follows with it: `tempssl.losses.gather`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tempssl.losses._checks import _check_pair, _check_temperature
from tempssl.losses.gather import _gather

__all__ = [
    "InfoNCELoss",
    "NTXentLoss",
    "info_nce",
    "nt_xent",
]


def _info_nce_one_way(
    q: Tensor, k: Tensor, temperature: float, negatives: Tensor | None, gather: bool
) -> Tensor:
    if negatives is not None:
        # MoCo v1/v2 (facebookresearch/moco, MoCo.forward): the matched key, then the queue only
        l_pos = (q * k).sum(dim=1, keepdim=True)  # (N, 1)
        l_neg = q @ negatives.T  # (N, K)
        logits = torch.cat([l_pos, l_neg], dim=1) / temperature
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
        return F.cross_entropy(logits, target)
    candidates, offset = _gather(k, with_grad=True) if gather else (k, 0)
    logits = q @ candidates.T / temperature
    target = torch.arange(q.shape[0], device=q.device) + offset
    return F.cross_entropy(logits, target)


def info_nce(
    query: Tensor,
    key: Tensor,
    temperature: float = 0.1,
    negatives: Tensor | None = None,
    gather: bool = False,
    symmetric: bool = False,
) -> Tensor:
    """InfoNCE (van den Oord et al. 2018, CPC) as MoCo computes it (He et al. 2020; Chen et al. 2021).

    Query i's positive is key i. All inputs are L2-normalised here, so logits are cosine
    similarities divided by the temperature t. `negatives` chooses between MoCo's two forms:

    * With a queue (`negatives` given): exactly MoCo v1/v2's loss (facebookresearch/moco,
      `MoCo.forward`). Query i's logits are its own key and the K queue keys, nothing else:
      `l_pos = q_i.k_i` (N, 1) and `l_neg = q_i.n_m` (N, K), cross-entropy with label 0:

          L = mean_i -log( exp(q_i.k_i / t) / (exp(q_i.k_i / t) + sum_m exp(q_i.n_m / t)) )

      The other keys of the batch are not negatives. MoCo v1 / v2 use t = 0.07 / 0.2.
    * Without a queue: the in-batch form of MoCo v3 (facebookresearch/moco-v3,
      `contrastive_loss`). Query i against every key of the batch (of all processes with
      `gather`), its positive on the diagonal (at this process's row offset when gathered):

          L = mean_i -log( exp(q_i.k_i / t) / sum_j exp(q_i.k_j / t) )

      MoCo v3 multiplies this by 2t (t = 1.0 for ResNet-50, 0.2 for ViT); that scaling is the
      method's job, not the loss's.

    The default t = 0.1 is SimCLR's ImageNet setting (google-research/simclr, `--temperature`).

    Args:
        query: `(N, D)`.
        key: `(N, D)`; row i is the positive of query i.
        temperature: softmax temperature t.
        negatives: `(K, D)`, K >= 1, MoCo's queue of negatives, or None for the in-batch form.
            Not gathered (a MoCo queue already holds the keys of every process); used in both
            directions when `symmetric`.
        gather: in the in-batch form, take the keys of all processes (with gradient) as
            candidates; the loss is the mean over this process's queries (gradient convention in
            `tempssl.losses.gather`). With a queue it changes nothing: each query's loss depends on
            its own key and the queue only (MoCo gathers keys just to enqueue them: the method's
            job).
        symmetric: average the query->key loss and the key->query loss of the same pairs (each
            key as the query of its own query). This is not MoCo v3's symmetrisation,
            `ctr(q1, k2) + ctr(q2, k1)` over two views, which is two calls (the method's job).

    Returns:
        Scalar loss.
    """
    _check_pair(query, key, "query and key")
    _check_temperature(temperature)
    q = F.normalize(query, dim=1)
    k = F.normalize(key, dim=1)
    neg = None
    if negatives is not None:
        if negatives.ndim != 2 or negatives.shape[1] != query.shape[1] or negatives.shape[0] == 0:
            raise ValueError(
                f"negatives must be (K, {query.shape[1]}) with K >= 1, got {tuple(negatives.shape)}"
            )
        neg = F.normalize(negatives, dim=1)
    loss = _info_nce_one_way(q, k, temperature, neg, gather)
    if symmetric:
        loss = 0.5 * (loss + _info_nce_one_way(k, q, temperature, neg, gather))
    return loss


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5, gather: bool = False) -> Tensor:
    """NT-Xent, SimCLR's normalised temperature-scaled cross-entropy (Chen et al. 2020).

    Over the 2N views z = [z1; z2] (L2-normalised here), each view's positive is its other view
    and the other 2N - 2 views are its negatives (itself excluded):

        L = mean_{i < 2N} -log( exp(s_i,pos(i) / t) / sum_{j != i} exp(s_ij / t) ),  s = cosine

    Equals lightly's `NTXentLoss` (without a memory bank); google-research/simclr's
    `add_contrastive_loss` returns `loss_a + loss_b`, the sum of the two views' means, i.e. twice
    this value.

    Args:
        z1: `(N, D)` first views.
        z2: `(N, D)` second views; row i pairs with row i of z1.
        temperature: 0.5, lightly's `NTXentLoss` default and SimCLR's CIFAR-10 setting.
        gather: take both views of all processes (with gradient) as negatives; this process's
            positives are indexed at its rank offset; the loss is the mean over this process's 2N
            anchors (gradient convention in `tempssl.losses.gather`).

    Returns:
        Scalar loss.
    """
    _check_pair(z1, z2, "z1 and z2")
    _check_temperature(temperature)
    z1 = F.normalize(z1, dim=1)
    z2 = F.normalize(z2, dim=1)
    n = z1.shape[0]
    if gather:
        g1, offset = _gather(z1, with_grad=True)
        g2, _ = _gather(z2, with_grad=True)
    else:
        g1, g2, offset = z1, z2, 0
    m = g1.shape[0]
    anchors = torch.cat([z1, z2])  # (2n, D)
    candidates = torch.cat([g1, g2])  # (2m, D): global index of local view-1 row i is offset + i
    logits = anchors @ candidates.T / temperature
    idx = torch.arange(n, device=z1.device) + offset
    self_idx = torch.cat([idx, idx + m])
    pos_idx = torch.cat([idx + m, idx])
    rows = torch.arange(2 * n, device=z1.device)
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[rows, self_idx] = True
    logits = logits.masked_fill(self_mask, float("-inf"))
    return F.cross_entropy(logits, pos_idx)


class InfoNCELoss(nn.Module):
    """`info_nce` with its hyper-parameters; `forward(query, key, negatives=None)`."""

    def __init__(self, temperature: float = 0.1, gather: bool = False, symmetric: bool = False):
        super().__init__()
        _check_temperature(temperature)
        self.temperature, self.gather, self.symmetric = temperature, gather, symmetric

    def forward(self, query: Tensor, key: Tensor, negatives: Tensor | None = None) -> Tensor:
        return info_nce(query, key, self.temperature, negatives, self.gather, self.symmetric)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gather={self.gather}, symmetric={self.symmetric}"


class NTXentLoss(nn.Module):
    """`nt_xent` with its hyper-parameters; `forward(z1, z2)`."""

    def __init__(self, temperature: float = 0.5, gather: bool = False):
        super().__init__()
        _check_temperature(temperature)
        self.temperature, self.gather = temperature, gather

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return nt_xent(z1, z2, self.temperature, self.gather)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gather={self.gather}"
