"""Denoising autoencoder (Vincent, Larochelle, Bengio, Manzagol 2008, "Extracting and Composing
Robust Features with Denoising Autoencoders"), on video frames or images, with a convolutional
encoder (the backbone) and decoder.

The clean frame x is corrupted into x~ (the paper's masking noise: a random fraction of the input
values set to 0, here to the dataset mean, which is 0 after normalization; or additive Gaussian
noise), the backbone encodes x~ into its feature map, a decoder (`tempssl.models.heads.PixelDecoder`)
maps it back to pixels, and the loss compares the output with the clean x (squared error, or
absolute error). Restoring what the noise hid needs a model of what frames look like.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tempssl.methods.base import METHODS, Method, frames_of
from tempssl.models.backbones import feature_map
from tempssl.models.heads import PixelDecoder

NOISES = ("masking", "gaussian")


@METHODS.register("denoising")
class DenoisingAutoencoder(Method):
    """Encode a corrupted frame, decode the clean one.

    Batches (sampler `frames` with a single-view transform): `frames (B, K, C, H, W)`.

    Args:
        backbone: a frame backbone with `forward_features` (the encoder).
        noise: "masking" (a `mask_fraction` of the values set to 0 = the mean; the paper's
            masking noise, per value) or "gaussian" (additive, `noise_std`).
        mask_fraction: fraction of input values masked (the paper: 10-50 %; 25 % default).
        noise_std: Gaussian noise in units of the normalized input (ImageNet's std is ~0.23 of
            the [0, 1] range, so 0.5 is ~0.11 of it).
        loss: "l2" (squared error, the paper's for real-valued inputs) or "l1".
        decoder_width: channels of the decoder's first up-convolution.
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        noise: str = "masking",
        mask_fraction: float = 0.25,
        noise_std: float = 0.5,
        loss: str = "l2",
        decoder_width: int = 256,
    ):
        super().__init__(backbone)
        if noise not in NOISES:
            raise ValueError(f"denoising noise must be one of {NOISES}, got {noise!r}")
        if loss not in ("l2", "l1"):
            raise ValueError(f"denoising loss must be 'l2' or 'l1', got {loss!r}")
        if not 0.0 <= mask_fraction < 1.0:
            raise ValueError(f"denoising mask_fraction must be in [0, 1), got {mask_fraction}")
        self.noise, self.mask_fraction, self.noise_std, self.loss_name = (
            noise,
            mask_fraction,
            noise_std,
            loss,
        )
        self.decoder = PixelDecoder.for_backbone(backbone, width=decoder_width)

    def corrupt(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """x -> x~, `(B, C, H, W)`: masking noise zeroes each value with probability
        `mask_fraction`; Gaussian noise adds N(0, noise_std^2) to each."""
        if self.noise == "masking":
            keep = (
                torch.rand(images.shape, generator=generator, device=images.device) >= self.mask_fraction
            )
            return images * keep
        return images + self.noise_std * torch.randn(
            images.shape, generator=generator, device=images.device
        )

    def restore(self, corrupted: torch.Tensor) -> torch.Tensor:
        """`(B, C, H, W)` -> the decoder's clean estimate, same shape."""
        return self.decoder(feature_map(self.backbone, corrupted), corrupted.shape[-2:])

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = frames_of(batch)
        output = self.restore(self.corrupt(images))
        loss = F.mse_loss(output, images) if self.loss_name == "l2" else F.l1_loss(output, images)
        return {"loss": loss}

    @torch.no_grad()
    def reconstruct(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """`input` (corrupted), `output`, `target`: `(B, C, H, W)` in the input's normalization."""
        corrupted = self.corrupt(images, generator)
        return {"input": corrupted, "output": self.restore(corrupted), "target": images}
