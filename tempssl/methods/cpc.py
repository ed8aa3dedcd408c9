"""Contrastive Predictive Coding over frame sequences (van den Oord et al., 2018, "Representation
Learning with Contrastive Predictive Coding"), on blocks of video frames as in Dense Predictive
Coding (Han et al. 2019): CPC's model on DPC's blocks ("CPC-style"; DPC itself is
`tempssl.methods.dpc`).

A sequence of N blocks of L frames (`tempssl.data.sampling.SequenceSampler`) is encoded block by
block, `z_t = g_enc(block_t)`, and summarized by an autoregressive GRU, `c_t = g_ar(z_<=t)`. From
every context `c_t` the method predicts the next K blocks with one linear map per step,
`z_hat_{t+k} = W_k c_t`, and scores each prediction against every block of the (global) batch with
the log-bilinear score `z_j . z_hat` (paper Eq. 3). The InfoNCE loss (Eq. 4) picks the true block
among them: the other blocks of the same sequence (other times) and of other sequences are the
negatives, as in DPC. The loss is the mean over all (sequence, t, k) predictions.

Two accuracies are logged. `prediction_accuracy` is top-1 among all B x N blocks of the batch;
since all but N of them come from other videos, knowing only which video a block belongs to
scores about 1 / N (a guess among the sequence's own blocks) without predicting anything.
`own_prediction_accuracy` is top-1 among the sequence's own N blocks (chance 1 / N): the number
that shows prediction. Train with colour jitter drawn per frame (`color_per_frame`, as DPC
does), so that a block's colour does not give its video away.

This is CPC's predictor on pooled block vectors, not DPC's: DPC predicts only the last blocks from
the context after the first ones, feeding each prediction back into a convolutional GRU over
spatial feature maps (so its negatives include other spatial positions) with a 2-layer head.

Blocks are encoded by the backbone: a clip backbone (`input_kind == "clip"`, e.g. a 3D ResNet as in
DPC) takes the block `(C, L, H, W)` whole; a frame backbone embeds its L frames and averages them
(with L = 1: CPC over single frames).
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.losses import cpc_loss
from tempssl.methods.base import METHODS, Method
from tempssl.models import input_kind


@METHODS.register("cpc")
class CPC(Method):
    """CPC over block sequences (CPC-style: CPC's GRU and linear predictors on DPC's blocks).

    Batches (sampler `sequences`): `clip (B, N, L, C, H, W)`: N blocks of L frames.

    Args:
        backbone: a frame backbone `(B, C, H, W) -> (B, D)` or a clip backbone
            `(B, C, L, H, W) -> (B, D)`, with an `out_dim` attribute.
        pred_steps: K, blocks predicted ahead of each context. Default 3 (DPC predicts 3 blocks).
        context_dim: GRU width (the context `c_t`). Default 256 (CPC's audio model; DPC's too).
        gather: score predictions against the blocks of every process (with gradients).
    """

    sampler_kind = "sequences"
    backbone_kinds = ("frame", "clip")

    def __init__(
        self, backbone: nn.Module, pred_steps: int = 3, context_dim: int = 256, gather: bool = True
    ):
        super().__init__(backbone)
        if pred_steps < 1:
            raise ValueError(f"cpc pred_steps must be >= 1, got {pred_steps}")
        if context_dim < 1:
            raise ValueError(f"cpc context_dim must be >= 1, got {context_dim}")
        self.pred_steps, self.gather = pred_steps, gather
        self.clip_backbone = input_kind(backbone) == "clip"
        self.aggregator = nn.GRU(backbone.out_dim, context_dim, batch_first=True)
        self.predictors = nn.ModuleList(
            nn.Linear(context_dim, backbone.out_dim, bias=False) for _ in range(pred_steps)
        )

    def encode_blocks(self, clip: torch.Tensor) -> torch.Tensor:
        """Block latents `z`: `(B, N, L, C, H, W) -> (B, N, D)`."""
        batch, blocks, length = clip.shape[:3]
        if self.clip_backbone:
            z = self.backbone(clip.flatten(0, 1).transpose(1, 2))  # (B*N, C, L, H, W)
        else:
            z = self.backbone(clip.flatten(0, 2)).unflatten(0, (batch * blocks, length)).mean(dim=1)
        return z.unflatten(0, (batch, blocks))

    def context(self, z: torch.Tensor) -> torch.Tensor:
        """Contexts `c_t` of every prefix: `(B, N, D) -> (B, N, context_dim)`."""
        return self.aggregator(z)[0]

    @torch.no_grad()
    def context_embedding(self, clip: torch.Tensor) -> torch.Tensor:
        """The aggregated context after the last block, `(B, N, L, C, H, W) -> (B, context_dim)`:
        the sequence's representation (what `tools/extract.py --features context` extracts)."""
        return self.context(self.encode_blocks(clip))[:, -1]

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        clip = batch["clip"]
        batch_size, blocks = clip.shape[:2]
        if blocks <= self.pred_steps:
            raise ValueError(
                f"cpc: sequences of {blocks} blocks leave no context for pred_steps = "
                f"{self.pred_steps}; raise sampler.args.num_blocks above it"
            )
        z = self.encode_blocks(clip)  # (B, N, D)
        c = self.context(z)  # (B, N, context_dim)
        first = torch.arange(batch_size, device=z.device)[:, None] * blocks  # row of (b, 0) in z
        predictions, targets = [], []
        for k, predictor in enumerate(self.predictors, start=1):
            predictions.append(predictor(c[:, : blocks - k]).flatten(0, 1))  # z_hat_{t+k} from c_t
            targets.append((first + torch.arange(k, blocks, device=z.device)).flatten())
        sequence = torch.arange(batch_size, device=z.device).repeat_interleave(blocks)
        loss, accuracy, own_accuracy = cpc_loss(
            torch.cat(predictions),
            z.flatten(0, 1),
            torch.cat(targets),
            gather=self.gather,
            groups=sequence,
        )
        return {
            "loss": loss,
            "prediction_accuracy": accuracy,
            "own_prediction_accuracy": own_accuracy,
        }
