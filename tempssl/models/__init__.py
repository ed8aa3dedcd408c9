"""Networks: frame backbones (`(B, C, H, W) -> (B, D)`) and heads, built by name from registries."""

from tempssl.models.backbones import BACKBONES, build_backbone
from tempssl.models.heads import EmbeddingHead, MLPHead

__all__ = ["BACKBONES", "EmbeddingHead", "MLPHead", "build_backbone"]
