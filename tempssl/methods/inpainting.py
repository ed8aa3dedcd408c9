"""Context encoders (Pathak, Krahenbuhl, Donahue, Darrell, Efros 2016, "Context Encoders: Feature
Learning by Inpainting"), on video frames or images.

A square region of each frame is dropped (filled with the dataset mean, 0 after normalization):
the central one (the paper's "central region", half the side) or one at a random position
(`region: random`). The encoder (the backbone) sees the rest, a decoder
(`tempssl.models.heads.PixelDecoder`) paints the whole frame, and the loss is the squared error
inside the dropped region (Eq. 1), plus, optionally, an adversarial term (Eq. 2-3): a small
discriminator tells real regions from painted ones, and the painter is trained to fool it, with
the paper's weights 0.999 (reconstruction) and 0.001 (adversarial).

One optimizer trains both players: the discriminator's loss sees the painted regions detached
(its gradient reaches the discriminator only), and the painter's adversarial loss runs the
discriminator with detached weights (its gradient reaches the painter only through the
discriminator's verdict).

As in the paper's code (pathak22/context-encoder, `overlapPred`): the painted region is larger
than the hole by a border that the encoder still sees (4 px of a 128 px frame, `overlap_fraction`
4/128), and the squared error on that border counts 10x (`overlap_weight`), so the painting
joins its context; the discriminator judges the whole painted region.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from tempssl.methods.base import METHODS, Method, frames_of
from tempssl.models.backbones import feature_map
from tempssl.models.heads import PixelDecoder
from tempssl.models.patches import crop_squares

REGIONS = ("center", "random")


def region_corners(
    batch: int, size: int, side: int, region: str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Top-left corners `long (B, 2)` (row, col) of the dropped `side` x `side` squares."""
    if region == "center":
        return torch.full((batch, 2), (size - side) // 2, dtype=torch.long)
    return torch.randint(0, size - side + 1, (batch, 2), generator=generator)


def square_masks(shape: torch.Size, corners: torch.Tensor, side: int) -> torch.Tensor:
    """`bool (B, 1, H, W)`, True inside each image's dropped square."""
    height, width = shape[-2:]
    ys = torch.arange(height)[None, :, None]
    xs = torch.arange(width)[None, None, :]
    top, left = corners[:, 0, None, None], corners[:, 1, None, None]
    inside = (ys >= top) & (ys < top + side) & (xs >= left) & (xs < left + side)
    return inside[:, None]


class RegionDiscriminator(nn.Module):
    """Real or painted? `(B, 3, s, s) -> (B,)` logits: strided 4x4 convolutions with BN and
    LeakyReLU(0.2) (the paper's DCGAN-style discriminator, narrowed), then global pooling."""

    def __init__(self, width: int = 32, depth: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for i in range(depth):
            out = width * 2**i
            layers += [nn.Conv2d(channels, out, 4, stride=2, padding=1, bias=i == 0)]
            layers += [nn.BatchNorm2d(out)] if i else []
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.verdict = nn.Linear(channels, 1)

    def forward(self, regions: torch.Tensor) -> torch.Tensor:
        return self.verdict(self.features(regions).mean(dim=(-2, -1))).squeeze(1)


@METHODS.register("inpainting")
class ContextEncoder(Method):
    """Paint a dropped square of each frame from its context.

    Batches (sampler `frames` with a single-view transform): `frames (B, K, C, H, W)`.

    Args:
        backbone: a frame backbone with `forward_features` (the encoder).
        region: "center" (the paper's central region) or "random" (a square anywhere).
        region_fraction: side of the square / side of the frame (the paper: 1/2).
        adversarial: add the adversarial term (the paper's joint loss).
        reconstruction_weight, adversarial_weight: the paper's 0.999 and 0.001.
        decoder_width: channels of the decoder's first up-convolution.
        overlap_fraction: width of the painted border the encoder sees / frame side (the
            paper's 4 px of 128: 4/128); 0: the hole is the whole painted region.
        overlap_weight: weight of the squared error on that border (the paper: 10).
    """

    sampler_kind = "frames"

    def __init__(
        self,
        backbone: nn.Module,
        region: str = "center",
        region_fraction: float = 0.5,
        adversarial: bool = True,
        reconstruction_weight: float = 0.999,
        adversarial_weight: float = 0.001,
        decoder_width: int = 256,
        overlap_fraction: float = 4 / 128,
        overlap_weight: float = 10.0,
    ):
        super().__init__(backbone)
        if not 0.0 <= overlap_fraction < region_fraction / 2 or overlap_weight < 0:
            raise ValueError(
                f"inpainting overlap_fraction must be in [0, region_fraction / 2) and "
                f"overlap_weight >= 0, got {overlap_fraction} and {overlap_weight}"
            )
        self.overlap_fraction, self.overlap_weight = overlap_fraction, overlap_weight
        if region not in REGIONS:
            raise ValueError(f"inpainting region must be one of {REGIONS}, got {region!r}")
        if not 0.0 < region_fraction < 1.0:
            raise ValueError(f"inpainting region_fraction must be in (0, 1), got {region_fraction}")
        self.region, self.region_fraction = region, region_fraction
        self.weights = (reconstruction_weight, adversarial_weight)
        self.decoder = PixelDecoder.for_backbone(backbone, width=decoder_width)
        self.discriminator = RegionDiscriminator() if adversarial else None

    def geometry(self, size: int) -> tuple[int, int]:
        """`(side, overlap)` in pixels for a `size` px frame: the painted square's side and the
        border of it that stays visible (the hole is `side - 2 overlap` wide)."""
        side = max(1, round(size * self.region_fraction))
        overlap = min(round(size * self.overlap_fraction), (side - 1) // 2)
        return side, overlap

    def paint(self, images: torch.Tensor, generator: torch.Generator | None = None):
        """Drop a square, paint the frame: returns `(masked input, painted (B, C, H, W), corners,
        side)`: the painted squares' corners and side (the hole is their inside, `overlap` in
        from each edge)."""
        size = images.shape[-1]
        side, overlap = self.geometry(size)
        corners = region_corners(len(images), size, side, self.region, generator)
        hole = square_masks(images.shape, corners + overlap, side - 2 * overlap).to(images.device)
        masked = images.masked_fill(hole, 0.0)
        painted = self.decoder(feature_map(self.backbone, masked), images.shape[-2:])
        return masked, painted, corners, side

    def losses(
        self, images: torch.Tensor, painted: torch.Tensor, corners: torch.Tensor, side: int
    ) -> dict[str, torch.Tensor]:
        """Reconstruction (squared error in the painted square, its visible border weighted
        `overlap_weight`), and with the discriminator: the painter's adversarial loss (D's
        weights detached) and D's own loss (painting detached)."""
        real, fake = (crop_squares(x, corners[:, None], side)[:, 0] for x in (images, painted))
        _, overlap = self.geometry(images.shape[-1])
        inner = square_masks(real.shape, torch.full((1, 2), overlap), side - 2 * overlap)
        weight = torch.where(inner, 1.0, self.overlap_weight).to(real)  # (1, 1, side, side)
        out = {"reconstruction": (weight * (fake - real) ** 2).mean()}
        if self.discriminator is not None:
            frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
            fooled = functional_call(self.discriminator, frozen, (fake,))
            out["adversarial"] = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
            real_logits = self.discriminator(real)
            fake_logits = self.discriminator(fake.detach())
            out["discriminator"] = F.binary_cross_entropy_with_logits(
                real_logits, torch.ones_like(real_logits)
            ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return out

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = frames_of(batch)
        _, painted, corners, side = self.paint(images)
        parts = self.losses(images, painted, corners, side)
        w_rec, w_adv = self.weights
        if self.discriminator is None:
            loss = parts["reconstruction"]
        else:
            loss = (
                w_rec * parts["reconstruction"] + w_adv * parts["adversarial"] + parts["discriminator"]
            )
        return {"loss": loss, **{f"{k}_loss": v.detach() for k, v in parts.items()}}

    @torch.no_grad()
    def reconstruct(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """`masked` input, `output` (the painting pasted into the hole), `target`."""
        masked, painted, corners, side = self.paint(images, generator)
        _, overlap = self.geometry(images.shape[-1])
        hole = square_masks(images.shape, corners + overlap, side - 2 * overlap).to(images.device)
        return {"masked": masked, "output": torch.where(hole, painted, images), "target": images}
