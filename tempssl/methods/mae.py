"""MAE (He, Chen, Xie, Li, Dollar, Girshick 2022, "Masked Autoencoders Are Scalable Vision
Learners"), on video frames or images; read against facebookresearch/mae `models_mae.py`.

patchify -> random masking -> encoder on the visible patches -> decoder -> loss:

1. The frame `(B, 3, H, W)` is cut into N patches; the ViT encoder embeds them with a fixed 2-D
   sin-cos position embedding and keeps a random 25 % per sample (`mask_ratio` 0.75): masked
   patches never reach the encoder (no mask tokens in it).
2. A light decoder (linear to `decoder_dim`, ViT blocks, its own sin-cos embedding) sees the
   encoded visible tokens and a shared, learned mask token at every masked position, and
   predicts each patch's pixels.
3. The loss is the mean squared error on the masked patches only; with `norm_pix_loss` (the
   paper's default for its best results) each target patch is normalized by its own mean and
   variance.

The encoder is the run's ViT backbone (`vit_tiny` / `vit_small` / `vit_base`): what a user keeps,
exported to timm with `strict=True` (the fixed position table is part of its state dict).
`reconstruct` gives the decoder's images for inspection (`tools/reconstruct.py`).
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.losses import masked_mse, normalize_patches
from tempssl.methods.base import METHODS, Method, frames_of
from tempssl.models.patches import keep_tokens, patchify, random_masking, sincos_2d, unpatchify
from tempssl.models.vit import MaskedDecoder, VisionTransformer


@METHODS.register("mae")
class MAE(Method):
    """Masked autoencoder: a ViT encoder on visible patches, a light decoder, MSE on masked ones.

    Batches (sampler `frames` with a single-view transform): `frames (B, K, C, H, W)` (or `views`).

    Args:
        backbone: a `VisionTransformer` (its `img_size` the training size).
        mask_ratio: fraction of patches masked per sample (0.75).
        decoder_dim, decoder_depth, decoder_heads: the decoder (paper: 512, 8, 16).
        norm_pix_loss: regress per-patch normalized pixels (the paper's default; True).
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        mask_ratio: float = 0.75,
        decoder_dim: int = 512,
        decoder_depth: int = 8,
        decoder_heads: int = 16,
        norm_pix_loss: bool = True,
    ):
        if not isinstance(backbone, VisionTransformer):
            raise ValueError(
                f"mae trains a ViT backbone (vit_tiny, vit_small, vit_base), got "
                f"{type(backbone).__name__}: set model.backbone"
            )
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mae mask_ratio must be in (0, 1), got {mask_ratio}")
        super().__init__(backbone)
        backbone.use_sincos_position_embedding()
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        self.patch_size, self.grid = backbone.patch_size, backbone.img_size // backbone.patch_size
        self.decoder = MaskedDecoder(
            backbone.out_dim, decoder_dim, decoder_depth, decoder_heads, self.patch_size**2 * 3,
            positions=sincos_2d(self.grid, decoder_dim),
        )  # fmt: skip

    def encode(self, images: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """The encoder on the kept patches only: `(B, 3, H, W)`, `keep (B, M)` -> `(B, 1 + M, D)`."""
        return self.backbone.forward_tokens(keep_tokens(self.backbone.embed_patches(images), keep))

    def decode(self, encoded: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Pixels of every patch: encoded `(B, 1 + M, D)` -> `(B, N, p * p * 3)`. Visible tokens go
        back to their positions, the mask token fills the rest; the class token is dropped after
        the blocks, as in the reference."""
        return self.decoder(encoded, keep, prefix=1)

    def loss(self, images: torch.Tensor, predicted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean squared error over masked patches: `(B, 3, H, W)`, `(B, N, p*p*3)`, `bool (B, N)`."""
        target = patchify(images, self.patch_size)
        if self.norm_pix_loss:
            target = normalize_patches(target)[0]
        return masked_mse(predicted, target, mask)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = frames_of(batch)
        keep, mask = random_masking(images.shape[0], self.grid**2, self.mask_ratio, images.device)
        predicted = self.decode(self.encode(images, keep), keep)
        return {"loss": self.loss(images, predicted, mask)}

    @torch.no_grad()
    def reconstruct(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """For inspection: `images (B, 3, H, W)` (normalized) -> `masked`, `output` (the
        prediction with the visible patches pasted in, as the paper's figures), `target`, all
        `(B, 3, H, W)` in the input's normalization, and `mask (B, N)`. With `norm_pix_loss` the
        predicted patches are mapped back with each target patch's own mean and variance."""
        keep, mask = random_masking(
            images.shape[0], self.grid**2, self.mask_ratio, images.device, generator
        )
        predicted = self.decode(self.encode(images, keep), keep)
        target = patchify(images, self.patch_size)
        if self.norm_pix_loss:
            _, mean, std = normalize_patches(target)
            predicted = predicted * std + mean
        hidden = mask[..., None].to(images.dtype)
        pasted = target * (1 - hidden) + predicted * hidden
        grid = (self.grid, self.grid)
        return {
            "masked": unpatchify(target * (1 - hidden), self.patch_size, grid),
            "output": unpatchify(pasted, self.patch_size, grid),
            "target": images,
            "mask": mask,
        }
