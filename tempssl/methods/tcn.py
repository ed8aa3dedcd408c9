"""Time-Contrastive Networks (Sermanet et al., 2017, "Time-Contrastive Networks: Self-Supervised
Learning from Video"), as the reference code trains them (tensorflow/models research/tcn).

Multi-view: frames shown at the same moment from different cameras are pulled together, other
moments of the batch pushed apart, with the N-pairs loss of the reference (`MVTCNEstimator`); the
multi-view sampler fills a batch with moments of one scene and lists each moment's cameras in a
random order, so the anchor is a random camera per pair.

Single view (paper Sec. 3.1): frames close in time are positives, frames far apart negatives. As in
the reference (`SVTCNTripletEstimator`), a batch is a window of consecutive frames of one video;
every frame is an anchor, every other frame within `pos_radius` seconds a positive, frames more
than `neg_radius` away (and all frames of other windows) negatives, with semi-hard negative mining
(`tempssl.losses.singleview_tcn_loss`). `mode="single_view_triplets"` keeps the paper's Eq. 1 on
one random (anchor, positive, negative) triplet per video instead.

Embedding: `head="spatial_softmax"` is the reference embedder (feature map -> 2 conv -> spatial
soft arg-max -> FC -> 32-d; `tempssl.models.heads.SpatialEmbeddingHead`), which keeps where things
are; `head="linear"` maps the globally pooled features to the embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.losses import npairs_loss, singleview_tcn_loss, triplet_semihard_loss
from tempssl.methods.base import METHODS, Method
from tempssl.models.backbones import feature_map
from tempssl.models.heads import EmbeddingHead, SpatialEmbeddingHead

MODES = {"multiview": "multiview", "single_view": "sequences", "single_view_triplets": "pairs"}


@METHODS.register("tcn")
class TCN(Method):
    """TCN over a frame backbone, with the paper's 32-d embedding.

    Batches by mode: "multiview" (sampler `multiview`): `views (B, V, C, H, W)`; "single_view"
    (sampler `sequences`, blocks of one frame): `clip (B, N, 1, C, H, W)` windows with their frame
    `times (B, N)` in seconds; "single_view_triplets" (sampler `pairs`): `anchor`, `positive`,
    `negative (B, C, H, W)`.

    Args:
        backbone: `(B, 3, H, W) -> (B, D)` with `out_dim` (and `forward_features` for the spatial
            head).
        mode: "multiview", "single_view" or "single_view_triplets".
        embedding_dim: size of the embedding (paper: 32).
        head: "linear" (pooled features -> [hidden] -> embedding) or "spatial_softmax" (the
            reference's conv -> spatial softmax -> FC embedder on the backbone's feature map).
        hidden_dim: linear head: optional fully connected layer before the embedding (0 = none).
        conv_channels, fc_dims: spatial head: its 3x3 convolutions and FC layers (reference:
            [512, 512] and [2048]).
        loss: multi-view loss, "npairs" (reference) or "triplet" (semi-hard mining over the views,
            labels = moment).
        margin: triplet margin of the single-view and triplet losses (reference: 0.2).
        pos_radius, neg_radius: single view: seconds within which a frame is a positive, beyond
            which a negative (reference: 6 and 12 frames at 29 fps = 0.2 s and 0.4 s).
        npairs_reg: N-pairs embedding L2 regularization (reference: 0.002).
        gather: gather embeddings across processes (with gradients) for more negatives.
        normalize: L2-normalize the embedding. Default: for the triplet losses (whose margin assumes
            unit vectors), not for N-pairs, whose `npairs_reg` term bounds the embedding norm
            instead (unit vectors would cap its logits at +-1); the reference's choices.
    """

    def __init__(
        self,
        backbone: nn.Module,
        mode: str = "multiview",
        embedding_dim: int = 32,
        head: str = "linear",
        hidden_dim: int = 0,
        conv_channels: tuple[int, ...] = (512, 512),
        fc_dims: tuple[int, ...] = (2048,),
        loss: str = "npairs",
        margin: float = 0.2,
        pos_radius: float = 0.2,
        neg_radius: float = 0.4,
        npairs_reg: float = 0.002,
        gather: bool = True,
        normalize: bool | None = None,
    ):
        super().__init__(backbone)
        if mode not in MODES:
            raise ValueError(f"TCN mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        if loss not in ("npairs", "triplet"):
            raise ValueError(f"TCN loss must be 'npairs' or 'triplet', got {loss!r}")
        if head not in ("linear", "spatial_softmax"):
            raise ValueError(f"TCN head must be 'linear' or 'spatial_softmax', got {head!r}")
        if not 0 < pos_radius < neg_radius:
            raise ValueError(
                f"TCN needs 0 < pos_radius < neg_radius (seconds), got {pos_radius} and {neg_radius}"
            )
        self.mode, self.loss_name, self.head_name = mode, loss, head
        self.sampler_kind = MODES[mode]
        self.margin, self.npairs_reg, self.gather = margin, npairs_reg, gather
        self.pos_radius, self.neg_radius = pos_radius, neg_radius
        if normalize is None:
            normalize = mode != "multiview" or loss == "triplet"
        if head == "spatial_softmax":
            self.head = SpatialEmbeddingHead(  # a backbone's feature map has out_dim channels
                backbone.out_dim,
                embedding_dim,
                tuple(conv_channels),
                tuple(fc_dims),
                normalize=normalize,
            )
        else:
            self.head = EmbeddingHead(backbone.out_dim, embedding_dim, hidden_dim, normalize=normalize)

    def tcn_embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """TCN embedding `(B, C, H, W) -> (B, embedding_dim)` (unit length if `normalize`)."""
        if self.head_name == "spatial_softmax":
            return self.head(feature_map(self.backbone, frames))
        return self.head(self.backbone(frames))

    @torch.no_grad()
    def frame_embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """The TCN embedding of frames `(B, C, H, W) -> (B, embedding_dim)`, without gradient:
        what `tools/extract.py --features embedding` extracts (the paper aligns with it)."""
        return self.tcn_embedding(frames)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.mode == "multiview":
            return self._multiview(batch["views"])
        if self.mode == "single_view":
            return self._single_view(batch["clip"], batch["times"])
        return self._triplets(batch["anchor"], batch["positive"], batch["negative"])

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

    def _single_view(self, clip: torch.Tensor, times: torch.Tensor) -> dict[str, torch.Tensor]:
        if clip.shape[2] != 1:
            raise ValueError(
                f"single-view TCN takes windows of single frames (sampler.args.block_len: 1), got "
                f"blocks of {clip.shape[2]} frames"
            )
        windows, length = clip.shape[:2]
        z = self.tcn_embedding(clip.flatten(0, 2))  # (B * N, E)
        ids = torch.arange(windows, device=z.device).repeat_interleave(length)
        loss = singleview_tcn_loss(
            z, times.flatten().to(z.dtype), self.pos_radius, self.neg_radius, self.margin,
            sequence_ids=ids, gather=self.gather,
        )  # fmt: skip
        with torch.no_grad():  # is each frame's nearest other frame of its window a positive?
            d = torch.cdist(z, z).fill_diagonal_(float("inf"))
            same = ids[:, None] == ids[None, :]
            nearest = d.masked_fill(~same, float("inf")).argmin(dim=1)
            t = times.flatten()
            close = ((t - t[nearest]).abs() <= self.pos_radius + 1e-6).float().mean()
        return {"loss": loss, "nearest_is_positive": close}

    def _triplets(self, anchor, positive, negative) -> dict[str, torch.Tensor]:
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
