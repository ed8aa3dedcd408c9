"""Video Vision Transformer (VideoMAE's encoder, Tong et al. 2022): `float (B, 3, T, H, W) ->
float (B, D)`, the mean of the encoded tubelet tokens.

A clip is cut into tubelets of `tubelet` frames x `patch_size` x `patch_size` pixels, each
linearly projected (a `Conv3d` with that kernel and stride), with a fixed sin-cos position
embedding of (time, row, column) (`tempssl.models.patches.sincos_3d`; VideoMAE uses a 1-D table
over the flattened tokens, which gives neighbours in time and in space the same kind of code).
No class token: VideoMAE pools the tokens. As the frame ViT, `embed_patches` / `forward_tokens`
let a method run the encoder on a subset of the tokens (VideoMAE's visible 10 %).
"""

from __future__ import annotations

import torch
from torch import nn

from tempssl.models.backbones import BACKBONES
from tempssl.models.patches import sincos_3d
from tempssl.models.vit import Block, init_transformer_layers


class VideoVisionTransformer(nn.Module):
    """ViT over tubelets: `(B, 3, num_frames, img_size, img_size) -> (B, embed_dim)`.

    Args:
        img_size: frame height and width; `patch_size` must divide it.
        num_frames: clip length T; `tubelet` must divide it.
        patch_size, tubelet: tubelet size in pixels and frames (VideoMAE: 16 and 2).
        embed_dim, depth, num_heads, mlp_ratio: the transformer.

    Attributes:
        out_dim: D. input_kind: `"clip"`. grid: `(T / tubelet, H / p, W / p)`.
    """

    input_kind = "clip"

    def __init__(
        self,
        img_size: int = 224,
        num_frames: int = 16,
        patch_size: int = 16,
        tubelet: int = 2,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
    ):
        super().__init__()
        if img_size % patch_size or num_frames % tubelet:
            raise ValueError(
                f"video ViT: img_size {img_size} must be a multiple of patch_size {patch_size} and "
                f"num_frames {num_frames} of tubelet {tubelet}"
            )
        self.img_size, self.num_frames, self.patch_size, self.tubelet = (
            img_size,
            num_frames,
            patch_size,
            tubelet,
        )
        self.grid = (num_frames // tubelet, img_size // patch_size, img_size // patch_size)
        self.out_dim = embed_dim
        kernel = (tubelet, patch_size, patch_size)
        self.patch_embed = nn.Conv3d(3, embed_dim, kernel_size=kernel, stride=kernel)
        self.register_buffer("pos_embed", sincos_3d(self.grid, embed_dim)[None], persistent=False)
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        init_transformer_layers(self)

    def embed_patches(self, clip: torch.Tensor) -> torch.Tensor:
        """`(B, 3, T, H, W) -> (B, N, D)` tubelet tokens with their position, time slowest (the
        order of `patchify(clip, p, tubelet)`)."""
        if tuple(clip.shape[-3:]) != (self.num_frames, self.img_size, self.img_size):
            raise ValueError(
                f"video ViT built for {self.num_frames} x {self.img_size} x {self.img_size} clips got "
                f"{tuple(clip.shape[-3:])} (set the backbone's num_frames / img_size to the "
                "training clips)"
            )
        return self.patch_embed(clip).flatten(2).transpose(1, 2) + self.pos_embed

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The encoder on any subset of tokens: `(B, M, D) -> (B, M, D)` (blocks, final norm)."""
        return self.norm(self.blocks(tokens))

    def forward_features(self, clip: torch.Tensor, pre_activation: bool = False) -> torch.Tensor:
        """`(B, 3, T, H, W) -> (B, D, T', H', W')`: the encoded tokens as a map."""
        tokens = self.forward_tokens(self.embed_patches(clip))
        return tokens.transpose(1, 2).unflatten(2, self.grid)

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        """`(B, 3, T, H, W) -> (B, D)`: the mean of the encoded tokens."""
        return self.forward_tokens(self.embed_patches(clip)).mean(dim=1)


@BACKBONES.register("video_vit_tiny")
def video_vit_tiny(
    img_size: int = 224, num_frames: int = 16, patch_size: int = 16, tubelet: int = 2
) -> nn.Module:
    """Video ViT-Ti (D 192, 12 blocks, 3 heads): `(B, 3, T, H, W) -> (B, 192)`."""
    return VideoVisionTransformer(img_size, num_frames, patch_size, tubelet, 192, 12, 3)


@BACKBONES.register("video_vit_small")
def video_vit_small(
    img_size: int = 224, num_frames: int = 16, patch_size: int = 16, tubelet: int = 2
) -> nn.Module:
    """Video ViT-S (D 384, 12 blocks, 6 heads): `(B, 3, T, H, W) -> (B, 384)`."""
    return VideoVisionTransformer(img_size, num_frames, patch_size, tubelet, 384, 12, 6)
