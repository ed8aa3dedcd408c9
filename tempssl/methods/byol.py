"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent: A New Approach to Self-Supervised
Learning"), on video frames or images.

No negatives: the online network (backbone -> projector -> predictor) predicts the target
network's projection of the other view, and the target is an exponential moving average of the
online backbone and projector (`tempssl.methods.base.MomentumMethod`), with tau rising from 0.996
to 1 on a cosine schedule (Sec. 3.2). The loss is symmetrized (Eq. 2-4):

    L = ||p1/|p1| - z2'/|z2'|||^2 + ||p2/|p2| - z1'/|z1'|||^2
      = (2 - 2 cos(p1, z2')) + (2 - 2 cos(p2, z1'))

averaged over the batch (`tempssl.losses.normalized_mse`). Projector and predictor are 2-layer MLPs
with BN, hidden 4096, out 256 (Sec. 3.3). The views follow the paper's asymmetric recipe
(`transforms.name: mocov3`: blur 1.0 / 0.1, solarize 0 / 0.2); LARS, lr 0.2 x batch / 256, weight
decay 1.5e-6 for ImageNet.
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.losses import normalized_mse
from tempssl.methods.base import (
    METHODS,
    MomentumMethod,
    groups_with_own_rate,
    pair_accuracy,
    two_views,
)
from tempssl.models.heads import MLPHead


@METHODS.register("byol")
class BYOL(MomentumMethod):
    """BYOL: the online prediction of one view regresses the target projection of the other.

    Batches (sampler `frames` with a two-view transform): `views (B, 2K, C, H, W)`.

    Args:
        backbone: a frame backbone with `out_dim`.
        hidden_dim: hidden width of projector and predictor (4096).
        dim: projection width (256).
        momentum: tau at step 0 (0.996), cosine to 1.
        predictor_lr_scale: the predictor's learning rate relative to the rest (paper: 1).
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        hidden_dim: int = 4096,
        dim: int = 256,
        momentum: float = 0.996,
        predictor_lr_scale: float = 1.0,
    ):
        projector = MLPHead(backbone.out_dim, hidden_dim, dim, num_layers=2)
        super().__init__(backbone, projector, momentum, "cosine")
        self.predictor = MLPHead(dim, hidden_dim, dim, num_layers=2)
        self.predictor_lr_scale = predictor_lr_scale

    def parameter_groups(self) -> list[dict]:
        return groups_with_own_rate(self, "predictor", self.predictor_lr_scale)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x1, x2 = two_views(batch["views"], batch.get("views_per_frame"))
        p1 = self.predictor(self.projector(self.backbone(x1)))
        p2 = self.predictor(self.projector(self.backbone(x2)))
        z1, z2 = self.momentum_forward(x1), self.momentum_forward(x2)
        loss = normalized_mse(p1, z2) + normalized_mse(p2, z1)
        return {"loss": loss, "pair_accuracy": pair_accuracy(p1, z2), "momentum": self.momentum.clone()}
