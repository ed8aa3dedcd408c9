"""The `Method` interface shared by every self-supervised method."""

from __future__ import annotations

import torch
from torch import nn

from tempssl.models import input_kind
from tempssl.registry import Registry

METHODS: Registry = Registry("method")


def build_method(name: str, backbone: nn.Module, **kwargs) -> Method:
    """The method registered as `name`, around `backbone`, with its own hyper-parameters."""
    return METHODS.get(name)(backbone, **kwargs)


class Method(nn.Module):
    """A self-supervised method: a backbone (what users keep), its heads, and its loss.

    Subclasses set `sampler_kind` (the batch structure they train on, see `tempssl.data.dataset`)
    and implement `forward(batch) -> {"loss": scalar, <metric>: scalar, ...}`.
    """

    sampler_kind: str = ""
    # the backbones it can train: "frame" `(B, C, H, W)` and/or "clip" `(B, C, T, H, W)` ones
    backbone_kinds: tuple[str, ...] = ("frame",)

    def __init__(self, backbone: nn.Module):
        super().__init__()
        kind = input_kind(backbone)
        if kind not in self.backbone_kinds:
            raise ValueError(
                f"{type(self).__name__} trains {' or '.join(self.backbone_kinds)} backbones, got a "
                f"{kind} backbone ({type(backbone).__name__}): choose another model.backbone"
            )
        self.backbone = backbone

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's features `(B, D)` of frames `(B, C, H, W)` (frame backbones) or clips
        `(B, C, T, H, W)` (clip backbones)."""
        return self.backbone(x)

    def on_step_end(self) -> None:
        """Called after each optimizer step (momentum encoders update here)."""
