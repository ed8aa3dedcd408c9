"""SimCLR (Chen, Kornblith, Norouzi, Hinton 2020, "A Simple Framework for Contrastive Learning of
Visual Representations"), on video frames or images.

Each frame is augmented twice (`transforms.name: simclr`, the paper's Appendix A recipe), both views
go through the backbone `f` and a projection head `g` (2-layer MLP with BN after the hidden layer:
hidden 2048, out 128; google-research/simclr also batch-normalizes the output, which we do not),
and NT-Xent (Eq. 1) picks each view's partner among the other 2N - 1
views of the batch, gathered from every process with gradients (`tempssl.losses.nt_xent`). The
representation kept is `h = f(x)`, before the head (Sec. 4.2).

Both views go through the backbone in one batch, so BatchNorm's statistics are over all 2N views
of this process: on one process that is the paper's global BN; with several, each process
normalizes its own share (use SyncBatchNorm on GPUs for the paper's exact setting).

Temperature: 0.5 for small data and batches (Appendix B.9, CIFAR-10), 0.1 for ImageNet with large
batches (Sec. 5.1). LARS with lr = 0.3 x batch / 256 is the paper's optimizer for large batches
(`optim.name: lars`, `optim.lr_batch_size: 256`).
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.losses import nt_xent
from tempssl.methods.base import METHODS, Method, pair_accuracy, two_views
from tempssl.models.heads import MLPHead


@METHODS.register("simclr")
class SimCLR(Method):
    """SimCLR on two views per frame.

    Batches (sampler `frames` with a two-view transform): `views (B, 2K, C, H, W)`.

    Args:
        backbone: a frame backbone `(B, C, H, W) -> (B, D)` with `out_dim`.
        proj_hidden_dim: the projection head's hidden width (paper: 2048).
        proj_dim: the projection's output width (paper: 128).
        temperature: NT-Xent's t (0.5 small data, 0.1 ImageNet).
        gather: negatives from every process's views (with gradients).
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        proj_hidden_dim: int = 2048,
        proj_dim: int = 128,
        temperature: float = 0.5,
        gather: bool = True,
    ):
        super().__init__(backbone)
        self.projector = MLPHead(backbone.out_dim, proj_hidden_dim, proj_dim, num_layers=2)
        self.temperature, self.gather = temperature, gather

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x1, x2 = two_views(batch["views"], batch.get("views_per_frame"))
        z1, z2 = self.projector(self.backbone(torch.cat([x1, x2]))).chunk(2)
        loss = nt_xent(z1, z2, self.temperature, gather=self.gather)
        return {"loss": loss, "pair_accuracy": pair_accuracy(z1, z2)}
