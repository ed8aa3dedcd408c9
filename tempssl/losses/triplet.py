"""Triplet losses with semi-hard negative mining, the losses of TCN's reference code.

* `triplet_semihard_loss` / `TripletSemiHardLoss`: FaceNet's triplet loss with semi-hard negative
  mining, exactly as TensorFlow's `tf.contrib.losses.metric_learning.triplet_semihard_loss`, which the
  TCN reference code (tensorflow/models `research/tcn`) trains with.
* `singleview_tcn_loss`: the TCN reference's single-view loss (semi-hard mining over every pair of
  a window of frames, positives and negatives by time).
* `pairwise_distance`, `semihard_negatives`, `semihard_negatives_masked`: the distances and the
  semi-hard mining both losses share.

`gather=True` and the gradient convention every loss follows with it: `tempssl.losses.gather`.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from tempssl.losses._checks import _check_labels
from tempssl.losses.gather import _world_size, gather_no_grad, gather_with_grad

__all__ = [
    "TripletSemiHardLoss",
    "pairwise_distance",
    "semihard_negatives",
    "semihard_negatives_masked",
    "singleview_tcn_loss",
    "triplet_semihard_loss",
]


def pairwise_distance(embeddings: Tensor, squared: bool = True) -> Tensor:
    """Pairwise euclidean distances, as TF's `metric_learning.pairwise_distance`.

    d2[i, j] = ||x_i||^2 + ||x_j||^2 - 2 <x_i, x_j>, clamped at 0 (rounding), diagonal set to 0; the
    non-squared distance takes `sqrt(d2 + 1e-16)` where `d2 == 0` and zeroes it there again, so the
    gradient stays finite for coincident points.

    Args:
        embeddings: `(N, D)`.
        squared: return squared distances (what TF's triplet_semihard_loss uses) instead of distances.

    Returns:
        `(N, N)` distances.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got {tuple(embeddings.shape)}")
    sq_norm = embeddings.pow(2).sum(dim=1)
    d2 = sq_norm[:, None] + sq_norm[None, :] - 2.0 * embeddings @ embeddings.T
    d2 = d2.clamp(min=0.0)
    zero = d2 <= 0.0
    d = d2 if squared else torch.sqrt(d2 + zero.to(d2.dtype) * 1e-16)
    eye = torch.eye(d.shape[0], dtype=torch.bool, device=d.device)
    return d.masked_fill(zero | eye, 0.0)


def semihard_negatives(dist: Tensor, labels: Tensor) -> Tensor:
    """The negative TF's `triplet_semihard_loss` uses for every anchor-positive pair.

    For a positive pair (a, p) (same label, a != p), the semi-hard negative is the negative n
    (different label) with the smallest d(a, n) such that d(a, n) > d(a, p) (strictly); if there is
    none, the negative with the largest d(a, n). Found with a per-anchor sort and a binary search,
    O(N^2 log N) time and O(N^2) memory (TF's implementation tiles an (N^2, N) matrix).

    Args:
        dist: `(N, N)` pairwise distances (no gradient is taken through the mining).
        labels: `(N,)` integer labels.

    Returns:
        `(N, N)` long: `out[a, p]` is the chosen negative's index for a positive pair, -1 where (a, p)
        is not a positive pair or the anchor has no negative at all. Among equal distances the
        choice is arbitrary (the loss value does not depend on it).
    """
    n = dist.shape[0]
    if dist.shape != (n, n):
        raise ValueError(f"dist must be (N, N), got {tuple(dist.shape)}")
    _check_labels(labels, n)
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(n, dtype=torch.bool, device=dist.device)
    return semihard_negatives_masked(dist, positive, ~same)


def semihard_negatives_masked(dist: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
    """`semihard_negatives` with the pairs given as masks rather than labels.

    Args:
        dist: `(N, N)` pairwise distances.
        positive: `(N, N)` bool, the (anchor, positive) pairs.
        negative: `(N, N)` bool, `negative[a, n]`: n may serve as a negative of anchor a.

    Returns:
        `(N, N)` long, as `semihard_negatives`: the semi-hard negative of each positive pair
        (smallest d(a, n) > d(a, p) among a's negatives, else a's farthest negative), -1 elsewhere.
    """
    n = dist.shape[0]
    with torch.no_grad():
        d = dist.detach()
        neg_count = negative.sum(dim=1)  # (N,)
        neg_sorted, order = d.masked_fill(~negative, float("inf")).sort(dim=1, stable=True)
        # first negative (in sorted order) with d(a, n) > d(a, p): searchsorted(right=True)
        k = torch.searchsorted(neg_sorted.contiguous(), d.contiguous(), right=True)
        semi = order.gather(1, k.clamp(max=n - 1))
        farthest = order.gather(1, (neg_count - 1).clamp(min=0)[:, None]).expand(n, n)
        chosen = torch.where(k < neg_count[:, None], semi, farthest)
        chosen = torch.where(positive & (neg_count[:, None] > 0), chosen, -1)
    return chosen


def _semihard_hinge(dist_mat: Tensor, positive: Tensor, negative: Tensor, margin: float) -> Tensor:
    """Mean over the positive pairs of `max(d_ap - d_an* + margin, 0)`, n* the semi-hard negative
    (d_an* = 0 for an anchor without negatives, as TF); 0 (attached) without positive pairs."""
    chosen = semihard_negatives_masked(dist_mat, positive, negative)
    d_an = dist_mat.gather(1, chosen.clamp(min=0)).masked_fill(chosen < 0, 0.0)
    hinge = (dist_mat - d_an + margin).clamp(min=0.0)
    num_pos = positive.sum()
    if num_pos == 0:
        return dist_mat.sum() * 0.0
    return hinge[positive].sum() / num_pos


def triplet_semihard_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.2,
    squared: bool = True,
    gather: bool = False,
) -> Tensor:
    """Triplet loss with semi-hard negative mining over the batch (Schroff et al. 2015, FaceNet).

    Same semantics as TensorFlow's `tf.contrib.losses.metric_learning.triplet_semihard_loss`, the
    loss of the TCN reference code (Sermanet et al. 2018; tensorflow/models `research/tcn`,
    `MVTCNTripletEstimator`): mean over every ordered positive pair (a, p), a != p, of

        max(d(a, p) - d(a, n*) + margin, 0),    n* = semihard_negatives(d, labels)[a, p]

    with d the squared euclidean distance (TF; `squared=False` uses the distance itself, like TF
    Addons' `distance_metric="L2"`). Like TF, an anchor with no negative at all gets d(a, n*) = 0.
    Unlike TF (0/0 = NaN), a batch without positive pairs gives 0 (still attached to the graph).
    TF's function takes `(labels, embeddings)`; the order here is `(embeddings, labels)`.

    Args:
        embeddings: `(N, D)`; the TCN code L2-normalises them first (`embedding_l2: true`).
        labels: `(N,)` integer labels (for TCN: the time index / pair id).
        margin: 0.2, the TCN default (`research/tcn/configs/tcn_default.yml`, "Default value for
            Facenet"); TF's own default is 1.0.
        squared: use squared distances (TF) or distances.
        gather: gather embeddings (with gradient) and labels from all processes first; every
            process then computes the same loss over the global batch (gradient convention in
            `tempssl.losses.gather`).

    Returns:
        Scalar loss.
    """
    _check_labels(labels, embeddings.shape[0])
    if gather:
        embeddings = gather_with_grad(embeddings)
        labels = gather_no_grad(labels)
    dist_mat = pairwise_distance(embeddings, squared=squared)
    n = dist_mat.shape[0]
    same = labels[:, None] == labels[None, :]
    positive = same & ~torch.eye(n, dtype=torch.bool, device=labels.device)
    # L = sum_{a != p, y_a = y_p} max(d_ap - d_an* + margin, 0) / #positive pairs
    return _semihard_hinge(dist_mat, positive, ~same, margin)


def singleview_tcn_loss(
    embeddings: Tensor,
    times: Tensor,
    pos_radius: float,
    neg_radius: float,
    margin: float = 0.2,
    sequence_ids: Tensor | None = None,
    gather: bool = False,
) -> Tensor:
    """Single-view TCN loss of the reference code (tensorflow/models research/tcn
    `svtcn_loss.singleview_tcn_loss`): every frame of a window is an anchor; its positives are the
    other frames within `pos_radius` of it (`|t_p - t_a| <= pos_radius`), its negatives the frames
    farther than `neg_radius` (`|t_n - t_a| > neg_radius`) and every frame of another sequence
    (the reference's `multiseq`); for each (anchor, positive) pair the negative is mined semi-hard
    (as `triplet_semihard_loss`), on squared distances, and the hinge `max(d_ap - d_an + margin, 0)`
    is averaged over all positive pairs.

    Args:
        embeddings: `(N, D)` (the reference L2-normalizes them).
        times: `(N,)` each frame's time, in the unit of the radii (frames in the reference, whose
            `pos_radius: 6, neg_radius: 12` are 0.2 s and 0.4 s at 29 fps; seconds in tempssl).
        pos_radius, neg_radius: as above; `neg_radius > pos_radius`.
        margin: triplet margin (reference: 0.2).
        sequence_ids: `(N,)` which window each frame comes from; None: one window.
        gather: gather embeddings (with gradient), times and ids from all processes first (ids are
            made unique per process); every process then computes the loss of the global batch.

    Returns:
        Scalar loss.
    """
    if not neg_radius > pos_radius:
        raise ValueError(f"neg_radius ({neg_radius}) must be > pos_radius ({pos_radius})")
    n = embeddings.shape[0]
    if times.shape != (n,):
        raise ValueError(f"times must be (N,) = ({n},), got {tuple(times.shape)}")
    if sequence_ids is None:
        sequence_ids = torch.zeros(n, dtype=torch.long, device=embeddings.device)
    _check_labels(sequence_ids, n)
    if gather and _world_size() > 1:
        rank = dist.get_rank()
        sequence_ids = sequence_ids.long() * _world_size() + rank  # unique across processes
        embeddings = gather_with_grad(embeddings)
        times, sequence_ids = gather_no_grad(times), gather_no_grad(sequence_ids)
    dist_mat = pairwise_distance(embeddings, squared=True)
    same_sequence = sequence_ids[:, None] == sequence_ids[None, :]
    dt = (times[:, None] - times[None, :]).abs()
    eye = torch.eye(dist_mat.shape[0], dtype=torch.bool, device=dist_mat.device)
    positive = same_sequence & (dt <= pos_radius) & ~eye
    negative = ~same_sequence | (dt > neg_radius)
    return _semihard_hinge(dist_mat, positive, negative, margin)


class TripletSemiHardLoss(nn.Module):
    """`triplet_semihard_loss` with its hyper-parameters; `forward(embeddings, labels)`."""

    def __init__(self, margin: float = 0.2, squared: bool = True, gather: bool = False):
        super().__init__()
        self.margin, self.squared, self.gather = margin, squared, gather

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return triplet_semihard_loss(embeddings, labels, self.margin, self.squared, self.gather)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, squared={self.squared}, gather={self.gather}"
