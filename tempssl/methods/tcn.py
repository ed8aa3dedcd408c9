"""Time-Contrastive Networks (Sermanet et al., 2017, "Time-Contrastive Networks: Self-Supervised
Learning from Video").

Multi-view: frames shown at the same moment from different cameras are pulled together, other
moments (of the same and other scenes in the batch) pushed apart, with the N-pairs loss as in the
reference code (tensorflow/models research/tcn). Single-view: an anchor frame, a positive within a
small temporal window and a negative beyond a margin, with the triplet loss
`max(||a - p||^2 - ||a - n||^2 + margin, 0)` (paper Sec. 3.1).
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.losses import npairs_loss, triplet_semihard_loss
from tempssl.methods.base import METHODS, Method
from tempssl.models.heads import EmbeddingHead


@METHODS.register("tcn")
class TCN(Method):
    """TCN over a frame backbone, with the paper's 32-d L2-normalized embedding.

    Args:
        backbone: `(B, 3, H, W) -> (B, D)` with an `out_dim` attribute.
        mode: "multiview" (batches `views (B, V, C, H, W)`) or "single_view" (batches
            `anchor/positive/negative (B, C, H, W)`).
        embedding_dim: size of the embedding (paper: 32).
        hidden_dim: optional fully connected layer before the embedding (0 = none).
        loss: multi-view loss, "npairs" (reference code) or "triplet" (semi-hard mining over the
            views, labels = moment); single view always uses the triplet loss.
        margin: triplet margin (reference code: 0.2).
        npairs_reg: N-pairs embedding L2 regularization (reference code: 0.002).
        gather: gather embeddings across processes (with gradients) for more negatives.
        normalize: L2-normalize the embedding. Default: for the triplet losses (whose margin assumes
            unit vectors), not for N-pairs, whose `npairs_reg` term bounds the embedding norm
            instead (unit vectors would cap its logits at +-1).
    """

    def __init__(
        self,
        backbone: nn.Module,
        mode: str = "multiview",
        embedding_dim: int = 32,
        hidden_dim: int = 0,
        loss: str = "npairs",
        margin: float = 0.2,
        npairs_reg: float = 0.002,
        gather: bool = True,
        normalize: bool | None = None,
    ):
        super().__init__(backbone)
        if mode not in ("multiview", "single_view"):
            raise ValueError(f"TCN mode must be 'multiview' or 'single_view', got {mode!r}")
        if loss not in ("npairs", "triplet"):
            raise ValueError(f"TCN loss must be 'npairs' or 'triplet', got {loss!r}")
        self.mode, self.loss_name = mode, loss
        self.sampler_kind = "multiview" if mode == "multiview" else "pairs"
        self.margin, self.npairs_reg, self.gather = margin, npairs_reg, gather
        if normalize is None:
            normalize = mode == "single_view" or loss == "triplet"
        self.head = EmbeddingHead(backbone.out_dim, embedding_dim, hidden_dim, normalize=normalize)

    def tcn_embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """TCN embedding `(B, C, H, W) -> (B, embedding_dim)` (unit length if `normalize`)."""
        return self.head(self.backbone(frames))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.mode == "multiview":
            return self._multiview(batch["views"])
        return self._single_view(batch["anchor"], batch["positive"], batch["negative"])

    def _multiview(self, views: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, num_views = views.shape[:2]
        z = self.tcn_embedding(views.flatten(0, 1)).unflatten(0, (batch, num_views))  # (B, V, E)
        if self.loss_name == "npairs":
            # Every other view of a moment is a positive for view 0, the anchor: a random camera
            # per moment, since the multi-view sampler lists each plan's views in random order.
            losses = [
                npairs_loss(z[:, 0], z[:, v], reg_lambda=self.npairs_reg, gather=self.gather)
                for v in range(1, num_views)
            ]
            loss = torch.stack(losses).mean()
        else:
            # Moment ids must stay unique once gathered: offset them by this process's rank.
            first = _rank() * batch if self.gather else 0
            moments = torch.arange(first, first + batch, device=z.device).repeat_interleave(num_views)
            loss = triplet_semihard_loss(
                z.flatten(0, 1), moments, margin=self.margin, gather=self.gather
            )
        with torch.no_grad():  # does each view-0 frame find its own moment among the other view's?
            if self.loss_name == "npairs":  # by the loss's own similarity: dot products
                nearest = (z[:, 0] @ z[:, 1].T).argmax(dim=1)
            else:  # the triplet loss compares squared distances
                nearest = torch.cdist(z[:, 0], z[:, 1]).argmin(dim=1)
            alignment = (nearest == torch.arange(batch, device=z.device)).float().mean()
        return {"loss": loss, "view_alignment": alignment}

    def _single_view(self, anchor, positive, negative) -> dict[str, torch.Tensor]:
        batch = anchor.shape[0]
        z = self.tcn_embedding(torch.cat([anchor, positive, negative]))
        za, zp, zn = z[:batch], z[batch : 2 * batch], z[2 * batch :]
        d_ap = (za - zp).pow(2).sum(dim=1)
        d_an = (za - zn).pow(2).sum(dim=1)
        loss = torch.relu(d_ap - d_an + self.margin).mean()  # paper Eq. 1
        return {"loss": loss, "triplet_accuracy": (d_ap < d_an).float().mean()}


def _rank() -> int:
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_rank() if distributed else 0
