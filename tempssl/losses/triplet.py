"""Losses for time-contrastive networks (TCN) and contrastive self-supervised methods.

Every loss is a small typed function on plain tensors, usable outside tempssl's trainer, with a thin
`nn.Module` wrapper that holds its hyper-parameters:

* `triplet_semihard_loss` / `TripletSemiHardLoss`: FaceNet's triplet loss with semi-hard negative
  mining, exactly as TensorFlow's `tf.contrib.losses.metric_learning.triplet_semihard_loss`, which the
  TCN reference code (tensorflow/models `research/tcn`) trains with.
* `singleview_tcn_loss`: the TCN reference's single-view loss (semi-hard mining over every pair of
  a window of frames, positives and negatives by time).
* `npairs_loss` / `NPairsLoss`: Sohn's N-pair loss as TensorFlow's
  `tf.contrib.losses.metric_learning.npairs_loss` (multi-view TCN in `research/tcn`).
* `info_nce` / `InfoNCELoss`: InfoNCE (van den Oord et al. 2018) in MoCo's form (query vs. its key,
  the other keys of the global batch and an optional queue of negatives).
* `nt_xent` / `NTXentLoss`: SimCLR's NT-Xent (Chen et al. 2020) over the 2N views of a batch.
* `cpc_loss`: CPC's InfoNCE of predicted latents against all latents (log-bilinear scores).
* `dpc_loss`: DPC's dense InfoNCE over (block, location) of predicted feature maps.

Multi-process training (`gather=True`)
--------------------------------------
`gather_with_grad` all-gathers a `(B, D)` tensor from every process of the default (or a given)
`torch.distributed` group into `(sum_r B_r, D)`, rank order, and, unlike `dist.all_gather` and
`accelerate.Accelerator.gather` (huggingface/accelerate#1154), keeps the gradient: its backward sums
the incoming gradients of all processes (`all_reduce(SUM)`) and returns this rank's rows, the recipe
of SimCLR / solo-learn's `GatherLayer`. Without an initialised process group, or with one process,
both gathers return their input unchanged, so `gather=True` is always safe to pass.

Gradient-scaling convention, for every loss with `gather=True` and `W` processes each holding an
equal share of the global batch:

* Loss value. `triplet_semihard_loss` returns the loss of the whole global batch, the same value on
  every process. `npairs_loss`, `info_nce`, `nt_xent` and `cpc_loss` return the mean over this
  process's anchors (candidates / negatives come from the global batch); the mean of the `W`
  per-process values equals the 1-process loss on the global batch.
* Gradient. The gradient a process gets for its own inputs is `W` times the matching rows of the
  1-process gradient of the global-batch loss. Averaging parameter gradients over processes, which
  is what DDP and `accelerate` do, therefore yields exactly the 1-process gradient: use the loss as
  returned, with no extra scaling.

Every process must run the loss and call `backward()` (the backward of the gather is a collective).
Per-process batch sizes may differ (the gather pads, then strips the padding); the losses stay
correct row for row, but the "mean of per-process values" identity above then weights processes
equally instead of anchors.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "InfoNCELoss",
    "NPairsLoss",
    "NTXentLoss",
    "TripletSemiHardLoss",
    "cpc_loss",
    "dpc_loss",
    "gather_no_grad",
    "gather_with_grad",
    "info_nce",
    "npairs_loss",
    "nt_xent",
    "pairwise_distance",
    "semihard_negatives",
    "semihard_negatives_masked",
    "singleview_tcn_loss",
    "triplet_semihard_loss",
]


# --------------------------------------------------------------------------------------------------
# Gathering across processes
# --------------------------------------------------------------------------------------------------


def _world_size(group=None) -> int:
    """Processes in `group`; 1 when torch.distributed is unavailable or not initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


class _AllGatherWithGrad(torch.autograd.Function):
    """`(B, ...)` per rank -> `(W, B, ...)`; backward: all_reduce(SUM) the gradient, keep our rows."""

    @staticmethod
    def forward(ctx, x: Tensor, group) -> Tensor:
        ctx.group = group
        ctx.rank = dist.get_rank(group)
        x = x.contiguous()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, x, group=group)
        return torch.stack(parts)

    @staticmethod
    def backward(ctx, grad: Tensor):
        # Every rank's loss may depend on every rank's rows: d(sum_s L_s)/dx_r = sum over ranks of
        # the gradient each rank holds for slot r.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        return grad[ctx.rank], None


def _gather_sizes(x: Tensor, group) -> list[int]:
    """Rows held by each rank; raises ValueError when the ranks' trailing dimensions differ."""
    shape = torch.tensor([x.ndim, *x.shape], dtype=torch.long, device=x.device)
    # Shapes of different ndim cannot be gathered into one tensor: pad to a fixed length first.
    padded = torch.full((9,), -1, dtype=torch.long, device=x.device)
    if shape.numel() > padded.numel():
        raise ValueError(f"gather supports tensors of at most 8 dimensions, got {tuple(x.shape)}")
    padded[: shape.numel()] = shape
    parts = [torch.empty_like(padded) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, padded, group=group)
    shapes = [tuple(int(v) for v in p[1 : 1 + int(p[0])]) for p in parts]
    if any(s[1:] != shapes[0][1:] for s in shapes):
        raise ValueError(
            f"gather: the processes hold tensors whose shapes differ beyond the batch dimension "
            f"(per rank: {shapes}); only dimension 0 may differ"
        )
    return [s[0] for s in shapes]


def _gather(x: Tensor, group=None, *, with_grad: bool) -> tuple[Tensor, int]:
    """All-gather `x` along dim 0 in rank order; returns `(gathered, row offset of this rank)`."""
    world = _world_size(group)
    if world == 1:
        return x, 0
    if x.ndim == 0:
        raise ValueError("gather needs a tensor with a batch dimension, got a 0-d tensor")
    rank = dist.get_rank(group)
    sizes = _gather_sizes(x, group)
    longest = max(sizes)
    if x.shape[0] < longest:  # all_gather needs equal shapes: pad, strip after
        x = torch.cat([x, x.new_zeros((longest - x.shape[0], *x.shape[1:]))])
    if with_grad:
        stacked = _AllGatherWithGrad.apply(x, group)
    else:
        with torch.no_grad():
            parts = [torch.empty_like(x) for _ in range(world)]
            dist.all_gather(parts, x.contiguous(), group=group)
            stacked = torch.stack(parts)
    if all(n == longest for n in sizes):
        gathered = stacked.reshape(world * longest, *stacked.shape[2:])
    else:
        gathered = torch.cat([stacked[r, : sizes[r]] for r in range(world)])
    return gathered, sum(sizes[:rank])


def gather_with_grad(x: Tensor, group=None) -> Tensor:
    """All-gather `x` from every process along dim 0, keeping the gradient.

    `dist.all_gather` and `accelerate`'s `gather` return tensors without a graph
    (huggingface/accelerate#1154). Here the forward all-gathers and the backward all-reduces (sums)
    the incoming gradient over processes and returns this process's rows: the SimCLR / solo-learn
    `GatherLayer` recipe. With `W` processes and a loss whose mean over processes is the global loss,
    each process then gets `W` times its rows of the global gradient, which DDP's gradient averaging
    turns back into the exact global gradient (see the module docstring).

    Processes may hold different numbers of rows (padded for the collective, stripped after); all
    other dimensions must agree, else ValueError. Costs one extra small all_gather for the sizes.

    Args:
        x: `(B, ...)` this process's rows.
        group: process group; `None` for the default group.

    Returns:
        `(sum_r B_r, ...)` rows of every process in rank order; `x` itself when torch.distributed is
        unavailable or not initialised, or has a single process.
    """
    return _gather(x, group, with_grad=True)[0]


def gather_no_grad(x: Tensor, group=None) -> Tensor:
    """All-gather `x` (e.g. labels) along dim 0 without a gradient; see `gather_with_grad`.

    Args:
        x: `(B, ...)` this process's rows.
        group: process group; `None` for the default group.

    Returns:
        `(sum_r B_r, ...)` rows of every process in rank order (no graph); `x` itself when not
        distributed.
    """
    return _gather(x, group, with_grad=False)[0]


def _check_pair(a: Tensor, b: Tensor, names: str) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"{names} must both be (N, D) with the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def _check_labels(labels: Tensor, n: int) -> None:
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must be (N,) with N={n}, got {tuple(labels.shape)}")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


# --------------------------------------------------------------------------------------------------
# Triplet loss with semi-hard mining (FaceNet; TF metric_learning.triplet_semihard_loss)
# --------------------------------------------------------------------------------------------------


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
            process then computes the same loss over the global batch (gradient convention in the
            module docstring).

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


# --------------------------------------------------------------------------------------------------
# N-pair loss (Sohn 2016; TF metric_learning.npairs_loss)
# --------------------------------------------------------------------------------------------------


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
            this process's rows (gradient convention in the module docstring).

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


# --------------------------------------------------------------------------------------------------
# InfoNCE (van den Oord 2018; MoCo form) and NT-Xent (SimCLR)
# --------------------------------------------------------------------------------------------------


def _info_nce_one_way(
    q: Tensor, k: Tensor, temperature: float, negatives: Tensor | None, gather: bool
) -> Tensor:
    candidates, offset = _gather(k, with_grad=True) if gather else (k, 0)
    if negatives is not None:
        candidates = torch.cat([candidates, negatives])
    logits = q @ candidates.T / temperature
    target = torch.arange(q.shape[0], device=q.device) + offset
    return F.cross_entropy(logits, target)


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
            loss is the mean over this process's predictions (gradient convention above).
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


def info_nce(
    query: Tensor,
    key: Tensor,
    temperature: float = 0.1,
    negatives: Tensor | None = None,
    gather: bool = False,
    symmetric: bool = False,
) -> Tensor:
    """InfoNCE (van den Oord et al. 2018, CPC) in MoCo's form (He et al. 2020).

    Query i's positive is key i; its negatives are the other keys of the (global) batch and the
    rows of `negatives` (e.g. MoCo's queue). All inputs are L2-normalised here, so logits are cosine
    similarities divided by the temperature:

        L = mean_i -log( exp(q_i.k_i / t) / (sum_j exp(q_i.k_j / t) + sum_m exp(q_i.n_m / t)) )

    MoCo v1/v2 (facebookresearch/moco) use only the queue as negatives and t = 0.07 / 0.2; MoCo v3
    uses the in-batch keys (gathered across processes) and no queue. The default t = 0.1 is
    SimCLR's ImageNet setting (google-research/simclr, `--temperature`).

    Args:
        query: `(N, D)`.
        key: `(N, D)`; row i is the positive of query i.
        temperature: softmax temperature t.
        negatives: `(K, D)` extra negatives, or None. Not gathered (a MoCo queue already holds
            gathered keys); used in both directions when `symmetric`.
        gather: take the keys of all processes (with gradient) as candidates; the loss is the
            mean over this process's queries (gradient convention in the module docstring).
        symmetric: average the query->key and key->query losses (MoCo v3).

    Returns:
        Scalar loss.
    """
    _check_pair(query, key, "query and key")
    _check_temperature(temperature)
    q = F.normalize(query, dim=1)
    k = F.normalize(key, dim=1)
    neg = None
    if negatives is not None:
        if negatives.ndim != 2 or negatives.shape[1] != query.shape[1]:
            raise ValueError(f"negatives must be (K, {query.shape[1]}), got {tuple(negatives.shape)}")
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
            anchors (gradient convention in the module docstring).

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


# --------------------------------------------------------------------------------------------------
# nn.Module wrappers
# --------------------------------------------------------------------------------------------------


class TripletSemiHardLoss(nn.Module):
    """`triplet_semihard_loss` with its hyper-parameters; `forward(embeddings, labels)`."""

    def __init__(self, margin: float = 0.2, squared: bool = True, gather: bool = False):
        super().__init__()
        self.margin, self.squared, self.gather = margin, squared, gather

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return triplet_semihard_loss(embeddings, labels, self.margin, self.squared, self.gather)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, squared={self.squared}, gather={self.gather}"


class NPairsLoss(nn.Module):
    """`npairs_loss` with its hyper-parameters; `forward(anchors, positives, labels=None)`."""

    def __init__(self, reg_lambda: float = 0.002, gather: bool = False):
        super().__init__()
        self.reg_lambda, self.gather = reg_lambda, gather

    def forward(self, anchors: Tensor, positives: Tensor, labels: Tensor | None = None) -> Tensor:
        return npairs_loss(anchors, positives, labels, self.reg_lambda, self.gather)

    def extra_repr(self) -> str:
        return f"reg_lambda={self.reg_lambda}, gather={self.gather}"


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
