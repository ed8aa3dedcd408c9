"""Momentum-encoder machinery shared by MoCo (v1/v2/v3) and BYOL.

- `momentum_copy(module)`: the target (key) network, a frozen deep copy that no gradient reaches.
- `ema_update(target, online, m)`: `theta_t <- m * theta_t + (1 - m) * theta_o` for every parameter
  (buffers such as BatchNorm running statistics are the target's own, from its own forward passes,
  as in MoCo's and BYOL's code).
- `MomentumSchedule`: `constant` (MoCo v1/v2: 0.999) or `cosine` from the base value to 1 over
  training (BYOL Sec. 3.2: `tau = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2`; MoCo v3 alike).
- `KeyQueue`: MoCo's dictionary, a FIFO of K keys `(K, D)` kept as buffers, so it lives in the
  method's `state_dict` and therefore in every checkpoint.

Everything here is plain torch state (parameters and buffers of the method), so saving and
resuming a run saves and restores it with no extra code.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


def momentum_copy(module: nn.Module) -> nn.Module:
    """A frozen deep copy of `module` (`requires_grad=False` on every parameter)."""
    target = copy.deepcopy(module)
    for param in target.parameters():
        param.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """`target <- momentum * target + (1 - momentum) * online`, parameter by parameter.

    Raises:
        ValueError: momentum outside [0, 1], or modules whose parameters do not correspond.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be in [0, 1], got {momentum}")
    targets, onlines = list(target.parameters()), list(online.parameters())
    if len(targets) != len(onlines) or any(
        t.shape != o.shape for t, o in zip(targets, onlines, strict=True)
    ):
        raise ValueError("ema_update: target and online networks must have the same parameters")
    torch._foreach_mul_(targets, momentum)
    torch._foreach_add_(targets, [o.detach() for o in onlines], alpha=1.0 - momentum)


class MomentumSchedule:
    """The target network's momentum at a training step.

    Args:
        base: the momentum at step 0 (MoCo v1/v2: 0.999; BYOL: 0.996; MoCo v3: 0.99).
        kind: "constant" (MoCo v1/v2) or "cosine": `1 - (1 - base) * (cos(pi * step / total) + 1) / 2`,
            from `base` at step 0 to 1 at the last step (BYOL, MoCo v3).
    """

    def __init__(self, base: float, kind: str = "constant"):
        if not 0.0 <= base <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {base}")
        if kind not in ("constant", "cosine"):
            raise ValueError(f"momentum schedule must be 'constant' or 'cosine', got {kind!r}")
        self.base, self.kind = base, kind

    def __call__(self, step: int, total_steps: int) -> float:
        if self.kind == "constant" or total_steps <= 0:
            return self.base
        progress = min(max(step / total_steps, 0.0), 1.0)
        return 1.0 - (1.0 - self.base) * (math.cos(math.pi * progress) + 1.0) / 2.0

    def __repr__(self) -> str:
        return f"MomentumSchedule(base={self.base}, kind={self.kind!r})"


class KeyQueue(nn.Module):
    """MoCo's queue of negative keys: `size` L2-normalized keys of `dim`, first in, first out.

    `keys (size, dim)` starts as random unit vectors (as in MoCo); `enqueue(k)` writes a batch of
    keys over the oldest ones. The keys and the write position are buffers, so they are saved with
    the method and restored on resume.

    Args:
        size: K, the number of keys (MoCo: 65536; must be a multiple of the global batch size,
            which `enqueue` checks).
        dim: the key dimension.
    """

    def __init__(self, size: int, dim: int):
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be >= 1, got {size} and {dim}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys.shape[0]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Replace the `n` oldest keys by `keys (n, dim)` (MoCo's `_dequeue_and_enqueue`).

        Raises:
            ValueError: `n` does not divide the queue size (MoCo asserts the same: a batch must
                never wrap around the end of the queue), or the wrong dim.
        """
        n = keys.shape[0]
        if keys.ndim != 2 or keys.shape[1] != self.keys.shape[1]:
            raise ValueError(f"keys must be (n, {self.keys.shape[1]}), got {tuple(keys.shape)}")
        if self.size % n:
            raise ValueError(
                f"the queue size {self.size} must be a multiple of the (global) batch of keys {n}: "
                "set method.args.queue_size to a multiple of trainer.batch_size x processes"
            )
        start = int(self.pointer)
        self.keys[start : start + n] = keys.detach().to(self.keys.dtype)
        self.pointer.fill_((start + n) % self.size)


def split_forward(encoder, x: torch.Tensor, splits: int = 1) -> torch.Tensor:
    """`encoder` on `x` in `splits` consecutive sub-batches (so BatchNorm normalizes each on its
    own, as on `splits` devices), outputs concatenated in order: `(B, ...) -> (B, d)`."""
    if splits <= 1:
        return encoder(x)
    return torch.cat([encoder(chunk) for chunk in x.chunk(splits)])


@torch.no_grad()
def shuffled_forward(
    encoder, x: torch.Tensor, splits: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """MoCo's shuffling BN (He et al. 2020, Sec. 3.3): the key encoder sees the batch in a random
    order and in groups that differ from the query encoder's, so BatchNorm's batch statistics
    cannot tell a query which key is its positive. Outputs come back in `x`'s order.

    With several processes, the batches of all of them are shuffled together, each process
    encodes its share of the shuffled whole, and the keys are un-shuffled (facebookresearch/moco
    `_batch_shuffle_ddp` / `_batch_unshuffle_ddp`; equal batch sizes on every process). Within a
    process the (shuffled) batch is further encoded in `splits` sub-batches: on one process this is
    what keeps the statistics of a key's group apart from its query's (MoCo's CIFAR demo simulates
    8 GPUs this way); the query encoder should then use the same `splits` (`split_forward`).

    Args:
        encoder: `(n, ...) -> (n, d)`.
        x: `(B, ...)` this process's inputs.
        splits: sub-batches per process.
        generator: the CPU generator the permutation is drawn from (None: torch's global one).
            A method that must resume exactly passes one seeded from state it checkpoints.
    """
    dist = torch.distributed
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    n = x.shape[0]
    if world == 1:
        order = torch.randperm(n, generator=generator).to(x.device)
        keys = split_forward(encoder, x[order], splits)
        return torch.empty_like(keys).index_copy_(0, order, keys)
    parts = [torch.empty_like(x) for _ in range(world)]
    dist.all_gather(parts, x.contiguous())
    order = torch.randperm(n * world, generator=generator).to(x.device)
    dist.broadcast(order, src=0)  # one permutation for all processes
    rank = dist.get_rank()
    mine = order[rank * n : (rank + 1) * n]
    keys = split_forward(encoder, torch.cat(parts)[mine], splits)
    gathered = [torch.empty_like(keys) for _ in range(world)]
    dist.all_gather(gathered, keys.contiguous())
    unshuffled = torch.empty_like(torch.cat(gathered)).index_copy_(0, order, torch.cat(gathered))
    return unshuffled[rank * n : (rank + 1) * n]
