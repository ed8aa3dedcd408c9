"""Gathering across processes, for the losses' `gather=True` (multi-process training).

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
  process's anchors (candidates / negatives come from the global batch; `info_nce` with a queue
  scores against the queue alone, so `gather` changes nothing there); the mean of the `W`
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
from torch import Tensor

__all__ = [
    "gather_no_grad",
    "gather_with_grad",
]


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
