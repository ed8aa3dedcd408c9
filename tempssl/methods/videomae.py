"""VideoMAE (Tong, Song, Wang, Wang 2022, "VideoMAE: Masked Autoencoders are Data-Efficient
Learners for Self-Supervised Video Pre-Training"), on clips; MAE's recipe (`tempssl.methods.mae`)
with tubelets and tube masking, read against MCG-NJU/VideoMAE `modeling_pretrain.py`.

1. The clip `(B, 3, T, H, W)` is cut into tubelets of 2 frames x p x p pixels.
2. Tube masking at a very high ratio (0.9): one random spatial mask per clip, the same at every
   time step, so that a hidden patch cannot be copied from the same place a few frames away
   (video is redundant in time: random masking would make the task trivial).
3. The video ViT encoder runs on the visible 10 % only; a light decoder sees them and a shared
   mask token at every hidden position (with the fixed 3-D sin-cos positions) and predicts each
   tubelet's pixels.
4. The loss is the mean squared error on the hidden tubelets, of per-tubelet normalized pixels
   (`norm_pix_loss`; VideoMAE normalizes each patch's pixels, as MAE).

The encoder is the run's `video_vit_*` backbone: its feature is the mean of its encoded tokens.
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.losses import masked_mse, normalize_patches
from tempssl.methods.base import METHODS, Method
from tempssl.models.patches import keep_tokens, patchify, sincos_3d, tube_masking
from tempssl.models.video_vit import VideoVisionTransformer
from tempssl.models.vit import MaskedDecoder


@METHODS.register("videomae")
class VideoMAE(Method):
    """Masked autoencoding of clips with tube masking.

    Batches (sampler `clips`): `clip (B, C, T, H, W)`.

    Args:
        backbone: a `VideoVisionTransformer` (its `num_frames` / `img_size` the training clips').
        mask_ratio: fraction of tubes hidden (0.9).
        decoder_dim, decoder_depth, decoder_heads: the decoder (paper: 384, 4, 6 for ViT-B).
        norm_pix_loss: regress per-tubelet normalized pixels (True, the paper's).
    """

    sampler_kind = "clips"
    backbone_kinds = ("clip",)

    def __init__(
        self,
        backbone: nn.Module,
        mask_ratio: float = 0.9,
        decoder_dim: int = 384,
        decoder_depth: int = 4,
        decoder_heads: int = 6,
        norm_pix_loss: bool = True,
    ):
        if not isinstance(backbone, VideoVisionTransformer):
            raise ValueError(
                f"videomae trains a video ViT backbone (video_vit_tiny, video_vit_small), got "
                f"{type(backbone).__name__}: set model.backbone"
            )
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"videomae mask_ratio must be in (0, 1), got {mask_ratio}")
        super().__init__(backbone)
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        self.grid, self.patch_size, self.tubelet = backbone.grid, backbone.patch_size, backbone.tubelet
        self.decoder = MaskedDecoder(
            backbone.out_dim, decoder_dim, decoder_depth, decoder_heads,
            self.tubelet * self.patch_size**2 * 3, positions=sincos_3d(self.grid, decoder_dim),
        )  # fmt: skip

    def mask(self, batch: int, device=None, generator: torch.Generator | None = None):
        """Tube masks: `keep (B, M)`, `mask bool (B, N)` (True = hidden)."""
        return tube_masking(batch, self.grid, self.mask_ratio, device, generator)

    def encode(self, clip: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """The encoder on the visible tubelets only: `(B, 3, T, H, W)`, `keep (B, M)` -> `(B, M, D)`."""
        return self.backbone.forward_tokens(keep_tokens(self.backbone.embed_patches(clip), keep))

    def decode(self, encoded: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Pixels of every tubelet: `(B, M, D)` -> `(B, N, t*p*p*3)`."""
        return self.decoder(encoded, keep)

    def targets(self, clip: torch.Tensor) -> torch.Tensor:
        """`(B, N, t*p*p*3)` tubelet pixels, normalized per tubelet with `norm_pix_loss`."""
        target = patchify(clip, self.patch_size, tubelet=self.tubelet)
        return normalize_patches(target)[0] if self.norm_pix_loss else target

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        clip = batch["clip"]
        keep, mask = self.mask(len(clip), clip.device)
        predicted = self.decode(self.encode(clip, keep), keep)
        return {"loss": masked_mse(predicted, self.targets(clip), mask)}
