"""Colorization (Zhang, Isola, Efros 2016, "Colorful Image Colorization"), on video frames or images.

The network sees only the lightness L of a frame (CIE Lab) and predicts its colour, the ab
channels, as a distribution over Q = 313 quantized in-gamut ab bins (grid 10), per pixel at a
quarter of the input resolution (the paper's 64 x 64 of 256 x 256):

1. Lab of the RGB frame; the backbone (built with `in_chans: 1`) takes `(L - 50) / 50`.
2. A decoder (`PixelDecoder`: up-convolutions from the backbone's map) gives logits `(B, Q, h, w)`.
3. Targets: the frame's ab, area-downsampled to `(h, w)`, soft-encoded over their 5 nearest bins
   (Gaussian, sigma 5).
4. Loss (Eq. 2): multinomial cross-entropy, each pixel weighted by the class-rebalancing weight
   (Eq. 3-4, lambda 0.5) of its target's most likely bin, so rare saturated colours count.
5. Decoding (Eq. 5): the annealed mean (T = 0.38) of the predicted distribution, upsampled and put
   back with the full-resolution L (`reconstruct`, logged as PSNR / SSIM and image grids).

Where we deviate, and why: the paper estimates the empirical bin distribution p of its
rebalancing once, on ImageNet's 1.3M training images, before training. Here it is estimated
from the training frames while training: the bin counts of every batch's targets (of every
process) accumulate in a buffer (saved in checkpoints, so a resumed run continues with the same
counts), and the weights are recomputed from them at each step; after the first steps they
change little. The network is a ResNet (or any frame backbone with `forward_features`) and
the up-convolutional decoder of the restoring methods, not the paper's dilated VGG.

Frames must arrive as RGB in [0, 1] (`transforms.args: {mean: null, std: null}`, as
`configs/colorization.yaml` sets): the colour target is computed from them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tempssl.data.color import (
    ab_bins,
    annealed_mean,
    lab_to_rgb,
    lightness_input,
    rebalancing_weights,
    rgb_to_lab,
    smoothed_prior,
    soft_encode,
)
from tempssl.losses.gather import gather_no_grad
from tempssl.methods.base import METHODS, Method, frames_of
from tempssl.models.backbones import feature_map, input_channels
from tempssl.models.heads import PixelDecoder

OUTPUT_STRIDE = 4  # predictions at a quarter of the input resolution, as in the paper


@METHODS.register("colorization")
class Colorization(Method):
    """Colorful image colorization: predict each pixel's ab bin distribution from L.

    Batches (sampler `frames`, a single-view transform without normalization):
    `frames (B, K, 3, H, W)` RGB in [0, 1].

    Args:
        backbone: a frame backbone with `in_chans = 1` and `forward_features`.
        neighbours, sigma: soft encoding of the targets (paper: 5 nearest bins, sigma 5).
        rebalance: lambda of the class rebalancing, the weight of the uniform distribution
            mixed into the prior (paper: 0.5; 1: every weight 1, no rebalancing; 0: the inverse
            of the prior).
        temperature: annealed-mean temperature T of the decoded colours (paper: 0.38).
        decoder_width: channels of the decoder's first up-convolution.
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        neighbours: int = 5,
        sigma: float = 5.0,
        rebalance: float = 0.5,
        temperature: float = 0.38,
        decoder_width: int = 256,
    ):
        super().__init__(backbone)
        if input_channels(backbone) != 1:
            raise ValueError(
                f"colorization feeds the lightness channel alone: build the backbone with "
                f"model.args.in_chans: 1 (it takes {input_channels(backbone)})"
            )
        if not 0.0 <= rebalance <= 1.0 or temperature <= 0 or neighbours < 1 or sigma <= 0:
            raise ValueError(
                f"colorization needs rebalance in [0, 1], temperature > 0, neighbours >= 1 and "
                f"sigma > 0; got {rebalance}, {temperature}, {neighbours}, {sigma}"
            )
        self.neighbours, self.sigma = neighbours, sigma
        self.rebalance, self.temperature = rebalance, temperature
        self.register_buffer("bins", ab_bins(), persistent=False)  # (Q, 2)
        # empirical counts of the target bins seen in training (p of the rebalancing)
        self.register_buffer("bin_counts", torch.zeros(len(self.bins), dtype=torch.float64))
        self.decoder = PixelDecoder.for_backbone(
            backbone, len(self.bins), decoder_width, output_stride=OUTPUT_STRIDE
        )

    def logits(self, lab: torch.Tensor) -> torch.Tensor:
        """Bin logits `(B, Q, H / 4, W / 4)` of Lab frames `(B, 3, H, W)` (only L is used)."""
        size = (lab.shape[-2] // OUTPUT_STRIDE, lab.shape[-1] // OUTPUT_STRIDE)
        return self.decoder(feature_map(self.backbone, lightness_input(lab)), size)

    def targets(self, lab: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Soft-encoded ab targets `(B, Q, h, w)`: the frames' ab area-averaged to `size`."""
        ab = F.adaptive_avg_pool2d(lab[:, 1:], size)
        return soft_encode(ab, self.bins, self.neighbours, self.sigma)

    def weights(self) -> torch.Tensor:
        """Rebalancing weights `(Q,)` from the bin counts seen so far (all 1 before any)."""
        if self.bin_counts.sum() == 0:
            return torch.ones(len(self.bins), device=self.bins.device)
        prior = smoothed_prior(self.bin_counts, self.bins, self.sigma)
        return rebalancing_weights(prior, self.rebalance).float()

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = frames_of(batch)
        lab = rgb_to_lab(_checked_unit_range(images))
        logits = self.logits(lab)
        target = self.targets(lab, tuple(logits.shape[-2:]))
        hardest = target.argmax(dim=1)  # (B, h, w) the target's most likely bin
        if self.training:
            with torch.no_grad():
                counts = torch.bincount(hardest.flatten(), minlength=len(self.bins)).double()
                self.bin_counts += gather_no_grad(counts[None]).sum(dim=0)
        pixel_weight = self.weights()[hardest]  # (B, h, w)
        cross_entropy = -(target * F.log_softmax(logits, dim=1)).sum(dim=1)  # (B, h, w)
        loss = (pixel_weight * cross_entropy).mean()
        accuracy = (logits.argmax(dim=1) == hardest).float().mean()
        return {"loss": loss, "bin_accuracy": accuracy}

    @torch.no_grad()
    def colorize(self, images: torch.Tensor) -> torch.Tensor:
        """RGB frames `(B, 3, H, W)` in [0, 1] recoloured from their L alone: the annealed mean
        of the predicted bins (upsampled) with the frames' own L, back to RGB in [0, 1]."""
        return self._recoloured(rgb_to_lab(_checked_unit_range(images)))

    def _recoloured(self, lab: torch.Tensor) -> torch.Tensor:
        probabilities = F.softmax(self.logits(lab), dim=1)
        ab = annealed_mean(probabilities, self.bins, self.temperature)
        ab = F.interpolate(ab, size=lab.shape[-2:], mode="bilinear", align_corners=False)
        return lab_to_rgb(torch.cat([lab[:, :1], ab], dim=1))

    @torch.no_grad()
    def reconstruct(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """`input` (the grey L frame the network sees), `output` (recoloured), `target`:
        `(B, 3, H, W)` RGB in [0, 1]. Nothing random (`generator` unused)."""
        lab = rgb_to_lab(_checked_unit_range(images))
        grey = lab_to_rgb(torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], dim=1))
        return {"input": grey, "output": self._recoloured(lab), "target": images}


def _checked_unit_range(images: torch.Tensor) -> torch.Tensor:
    low, high = torch.stack(torch.aminmax(images.detach())).tolist()  # one device sync
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(
            f"colorization takes RGB frames in [0, 1], got values in [{low:.2f}, {high:.2f}]: "
            "set transforms.args.mean: null and transforms.args.std: null (no normalization)"
        )
    return images
