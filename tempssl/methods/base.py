"""The `Method` interface shared by every self-supervised method."""

from __future__ import annotations

import torch
from torch import nn

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

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Representation of frames `(B, C, H, W) -> (B, D)`: the backbone's features."""
        return self.backbone(frames)

    def on_step_end(self) -> None:
        """Called after each optimizer step (momentum encoders update here)."""
