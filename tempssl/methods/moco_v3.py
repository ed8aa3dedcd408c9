"""MoCo v3 (Chen, Xie, He 2021, "An Empirical Study of Training Self-Supervised Vision
Transformers"), checked against facebookresearch/moco-v3 (`moco/builder.py`, `vits.py`).

No queue: the keys of the current batch, gathered from every process, are the candidates.
Both views go through the online encoder (backbone -> projector -> predictor) and the momentum
encoder (backbone -> projector), and the loss is symmetric (Alg. 1):

    L = ctr(q1, k2) + ctr(q2, k1),  ctr(q, k) = 2t * InfoNCE_t(q, k)  (in-batch, `info_nce`)

The projector is a 3-layer MLP (hidden 4096, out 256, BN after every layer, the last one
`BatchNorm1d(affine=False)`, no biases; the reference uses 2 layers for ResNets, `proj_layers: 2`),
the predictor a 2-layer MLP (hidden 4096, no last BN). The momentum starts at 0.99 and rises to 1
on a cosine schedule. t = 0.2 for ViTs, 1.0 for ResNet-50 (the reference's defaults).

ViT backbones get the paper's two stability measures (Sec. 4.1, 5): a fixed 2-D sin-cos position
embedding and a frozen random patch projection (`sincos_pos_embed`, `freeze_patch_projection`).
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.losses import info_nce
from tempssl.methods.base import (
    METHODS,
    MomentumMethod,
    groups_with_own_rate,
    pair_accuracy,
    two_views,
)
from tempssl.models.heads import MLPHead
from tempssl.models.vit import VisionTransformer


@METHODS.register("moco_v3")
class MoCoV3(MomentumMethod):
    """MoCo v3: symmetric in-batch InfoNCE between predictor outputs and momentum keys.

    Batches (sampler `frames` with a two-view transform): `views (B, 2K, C, H, W)`.

    Args:
        backbone: a frame backbone (ResNet or ViT) with `out_dim`.
        proj_layers: projector depth (3; the reference uses 2 for ResNets).
        hidden_dim: hidden width of projector and predictor (4096).
        dim: output width (256).
        temperature: t (ViT 0.2, ResNet 1.0).
        momentum: the momentum at step 0 (0.99), cosine to 1.
        predictor_lr_scale: the predictor's learning rate relative to the rest (reference: 1).
        gather: keys of every process as candidates.
        sincos_pos_embed, freeze_patch_projection: ViT only, see the module docstring.
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        proj_layers: int = 3,
        hidden_dim: int = 4096,
        dim: int = 256,
        temperature: float = 0.2,
        momentum: float = 0.99,
        predictor_lr_scale: float = 1.0,
        gather: bool = True,
        sincos_pos_embed: bool = True,
        freeze_patch_projection: bool = True,
    ):
        if isinstance(backbone, VisionTransformer):  # before the momentum copy is made
            if sincos_pos_embed:
                backbone.use_sincos_position_embedding()
            if freeze_patch_projection:
                backbone.patch_embed.proj.requires_grad_(False)
        projector = MLPHead(backbone.out_dim, hidden_dim, dim, proj_layers, last_bn=True, bias=False)
        super().__init__(backbone, projector, momentum, "cosine")
        self.predictor = MLPHead(dim, hidden_dim, dim, num_layers=2, bias=False)
        self.temperature, self.gather = temperature, gather
        self.predictor_lr_scale = predictor_lr_scale

    def parameter_groups(self) -> list[dict]:
        return groups_with_own_rate(self, "predictor", self.predictor_lr_scale)

    def contrastive(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """`ctr(q, k) = 2t * InfoNCE_t(q, k)` over the gathered in-batch keys."""
        return 2 * self.temperature * info_nce(q, k, self.temperature, gather=self.gather)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x1, x2 = two_views(batch["views"], batch.get("views_per_frame"))
        q1 = self.predictor(self.projector(self.backbone(x1)))
        q2 = self.predictor(self.projector(self.backbone(x2)))
        k1, k2 = self.momentum_forward(x1), self.momentum_forward(x2)
        loss = self.contrastive(q1, k2) + self.contrastive(q2, k1)
        return {"loss": loss, "pair_accuracy": pair_accuracy(q1, k2), "momentum": self.momentum.clone()}
