"""MoCo v1 and v2 (He, Fan, Wu, Xie, Girshick 2020, "Momentum Contrast for Unsupervised Visual
Representation Learning"; Chen, Fan, Girshick, He 2020, "Improved Baselines with Momentum
Contrastive Learning"), checked against facebookresearch/moco (`moco/builder.py`).

Two views of each frame: the query view goes through the encoder `f_q` (backbone + head), the key
view through the momentum encoder `f_k`, an exponential moving average of `f_q` (m = 0.999, after
every step; `tempssl.methods.base.MomentumMethod`). The loss is InfoNCE (Eq. 1) of each query
against its own key and the K keys of the queue, the keys of earlier batches, and nothing else
(`tempssl.losses.info_nce` with `negatives`); then the batch's keys, gathered from every process,
replace the oldest ones in the queue (`tempssl.models.momentum.KeyQueue`; K must be a multiple of
the global batch). Queue and momentum encoder are in every checkpoint.

v1: a linear head to 128-d, t = 0.07, `transforms.name: mocov1` (crop, jitter 0.4, grayscale).
v2: a 2-layer MLP head (hidden = the backbone's width, ReLU, no BN), t = 0.2, `transforms.name:
mocov2` (adds blur, SimCLR-style jitter probability).

Shuffling BN (Sec. 3.3): keys are encoded in a random order shuffled across processes, so BN's
batch statistics do not leak which key is the positive (`shuffled_forward`). On one process,
`bn_splits` > 1 also encodes queries and (shuffled) keys in that many sub-batches, each normalized on
its own, as MoCo's CIFAR demo does to stand in for 8 GPUs; with `bn_splits: 1` on one process the
key batch is only permuted, which leaves BatchNorm's statistics the same: use it only with several
processes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tempssl.losses import gather_no_grad, info_nce
from tempssl.methods.base import METHODS, MomentumMethod, two_views
from tempssl.models.heads import MLPHead
from tempssl.models.momentum import KeyQueue, shuffled_forward, split_forward


@METHODS.register("moco")
class MoCo(MomentumMethod):
    """MoCo v1 (`mlp=False`, t = 0.07) / v2 (`mlp=True`, t = 0.2) with a queue of negatives.

    Batches (sampler `frames` with a two-view transform): `views (B, 2K, C, H, W)`.

    Args:
        backbone: a frame backbone with `out_dim` D.
        mlp: v2's 2-layer MLP head (D -> D -> dim) instead of v1's linear one.
        dim: the key dimension (paper: 128).
        queue_size: K, negatives kept (paper: 65536; a multiple of the global batch).
        temperature: t (v1: 0.07, v2: 0.2).
        momentum: m of the key encoder (paper: 0.999, constant).
        bn_splits: sub-batches BatchNorm normalizes separately, per process (module docstring).
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        mlp: bool = True,
        dim: int = 128,
        queue_size: int = 65536,
        temperature: float = 0.2,
        momentum: float = 0.999,
        bn_splits: int = 1,
    ):
        width = backbone.out_dim
        head = (
            MLPHead(width, width, dim, num_layers=2, batch_norm=False) if mlp else nn.Linear(width, dim)
        )
        super().__init__(backbone, head, momentum, "constant")
        if bn_splits < 1:
            raise ValueError(f"moco bn_splits must be >= 1, got {bn_splits}")
        self.queue = KeyQueue(queue_size, dim)
        self.temperature, self.bn_splits = temperature, bn_splits
        # batches shuffled so far: seeds each shuffle, so a resumed run shuffles as the first did
        self.register_buffer("shuffles", torch.zeros((), dtype=torch.long))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x_q, x_k = two_views(batch["views"], batch.get("views_per_frame"))
        q = split_forward(lambda x: self.projector(self.backbone(x)), x_q, self.bn_splits)
        generator = torch.Generator().manual_seed(int(self.shuffles))
        keys = shuffled_forward(self.momentum_forward, x_k, self.bn_splits, generator)
        k = F.normalize(keys, dim=1)
        negatives = self.queue.keys.clone()  # the queue changes below; autograd keeps this copy
        loss = info_nce(q, k, self.temperature, negatives=negatives)
        with torch.no_grad():
            qn = F.normalize(q, dim=1)
            positive = (qn * k).sum(dim=1)
            accuracy = (positive > (qn @ negatives.T).max(dim=1).values).float().mean()
        if self.training:
            self.queue.enqueue(gather_no_grad(k))
            self.shuffles += 1
        return {"loss": loss, "key_accuracy": accuracy, "momentum": self.momentum.clone()}
