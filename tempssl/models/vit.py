"""Vision Transformer backbones: `float (B, 3, H, W) -> float (B, D)`, the final-norm class token.

Written here rather than imported, but with timm's module and parameter names
(`timm.models.vision_transformer.VisionTransformer`: `cls_token`, `pos_embed`, `patch_embed.proj`,
`blocks.{i}.norm1/attn.qkv/attn.proj/norm2/mlp.fc1/mlp.fc2`, `norm`), so that a trained state dict
loads with `strict=True` into `timm.create_model("vit_small_patch16_224", num_classes=0, ...)`.

Masked-image methods (MAE) and MoCo v3 use the two halves of `forward` separately, as
facebookresearch/mae's `models_mae.py` does: `embed_patches` gives the patch tokens with their
position embedding, a method keeps some of them, and `forward_tokens` runs the encoder on those:

    tokens = vit.embed_patches(images)  # (B, N, D)
    kept = tokens[:, keep]  # e.g. 25% of the N patches
    encoded = vit.forward_tokens(kept)  # (B, 1 + len(keep), D); [:, 0] is the class token

The position embedding is learned (timm's default). MAE and MoCo v3 use fixed 2-D sin-cos position
embeddings (and MoCo v3 a frozen patch projection): such a method sets them on its ViT, e.g. by
filling `pos_embed` and turning off its gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

from tempssl.models.backbones import BACKBONES, check_in_chans
from tempssl.models.patches import sincos_2d


class PatchEmbed(nn.Module):
    """Non-overlapping patches, linearly projected: `(B, C, H, W) -> (B, N, D)`, N = (H / p) * (W / p).

    Args:
        img_size: input height and width (square inputs only).
        patch_size: patch height and width; must divide `img_size`.
        embed_dim: D.
        in_chans: C (3: RGB; 1: colorization's lightness).
    """

    def __init__(self, img_size: int, patch_size: int, embed_dim: int, in_chans: int = 3):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(f"ViT img_size {img_size} is not a multiple of patch_size {patch_size}")
        self.img_size, self.patch_size = img_size, patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.img_size, self.img_size):
            raise ValueError(
                f"ViT built for {self.img_size}x{self.img_size} inputs got {x.shape[-2]}x{x.shape[-1]} "
                f"(set the backbone's img_size to the training size)"
            )
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention: `(B, N, D) -> (B, N, D)`, one qkv projection (with bias)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"ViT embed_dim {dim} is not a multiple of num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, D / heads)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    """`(B, N, D) -> (B, N, D)`: Linear -> GELU -> Linear."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """A pre-norm transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))`: `(B, N, D)`.

    Args:
        dim: D.
        num_heads: attention heads.
        mlp_ratio: MLP hidden size / D.
        drop_path: probability of skipping each residual branch per sample while training
            (stochastic depth).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = StochasticDepth(drop_path, mode="row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


def init_transformer_layers(module: nn.Module) -> None:
    """MAE's (and timm's) initialization of every linear and norm layer in `module`:
    xavier-uniform linear weights (a patch projection, a `Conv2d` / `Conv3d`, as the flat linear
    map it is), zero biases, LayerNorm weight 1 and bias 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            nn.init.xavier_uniform_(layer.weight.view(layer.weight.shape[0], -1))
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.LayerNorm):
            nn.init.ones_(layer.weight)
            nn.init.zeros_(layer.bias)


class MaskedDecoder(nn.Module):
    """MAE's light decoder (facebookresearch/mae `models_mae.py`), shared by MAE and VideoMAE:
    the encoded visible tokens go back to their positions, a shared learned mask token fills the
    hidden ones, a fixed position table is added, and ViT blocks predict every token's pixels.

    Args:
        in_dim: the encoder's width.
        dim, depth, heads: the decoder's width, blocks and attention heads.
        out_dim: pixels per token (`p * p * 3`, or `t * p * p * 3` for tubelets).
        positions: `(N, dim)` fixed position table of the N tokens (derived state, not saved).

    Call:
        encoded: `(B, prefix + M, in_dim)`: `prefix` leading tokens without a position (MAE's
            class token), then the M visible tokens in `keep` order.
        keep: `long (B, M)` their token indices.
        prefix: how many leading tokens `encoded` has; they pass through the blocks and are
            dropped after them, as in the reference.

        Returns `(B, N, out_dim)`.
    """

    def __init__(
        self, in_dim: int, dim: int, depth: int, heads: int, out_dim: int, positions: torch.Tensor
    ):
        super().__init__()
        self.embed = nn.Linear(in_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", positions[None].float(), persistent=False)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pred = nn.Linear(dim, out_dim)
        nn.init.normal_(self.mask_token, std=0.02)  # MAE's initialization
        init_transformer_layers(self)

    def forward(self, encoded: torch.Tensor, keep: torch.Tensor, prefix: int = 0) -> torch.Tensor:
        x = self.embed(encoded)
        batch, dim = x.shape[0], x.shape[-1]
        full = self.mask_token.expand(batch, self.pos_embed.shape[1], dim)
        full = full.scatter(1, keep[..., None].expand(-1, -1, dim), x[:, prefix:]) + self.pos_embed
        out = self.blocks(torch.cat([x[:, :prefix], full], dim=1))
        return self.pred(self.norm(out))[:, prefix:]


class VisionTransformer(nn.Module):
    """ViT with a class token and a learned position embedding: `(B, 3, H, W) -> (B, embed_dim)`.

    Args:
        img_size: input height and width; the position embedding has one entry per patch of it.
        patch_size: patch height and width; must divide `img_size`.
        embed_dim: token width D (= `out_dim`).
        depth: number of blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden size / D.
        drop_path_rate: stochastic depth of the last block, rising linearly from 0 at the first.
        global_pool: the `(B, D)` feature: "token", the class token (timm's default), or "avg",
            the mean of the patch tokens (after the final norm: timm's `global_pool="avg",
            fc_norm=False`); MAE's encoder trains its patch tokens, not its class token.
        in_chans: input channels (3: RGB; 1: colorization's lightness).

    Attributes:
        out_dim: D.
        input_kind: `"frame"`.
        img_size, patch_size: as given.
        num_patches: N = (img_size / patch_size) ** 2.
    """

    input_kind = "frame"

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.0,
        global_pool: str = "token",
        in_chans: int = 3,
    ):
        super().__init__()
        check_in_chans(in_chans)
        if global_pool not in ("token", "avg"):
            raise ValueError(f"ViT global_pool must be 'token' or 'avg', got {global_pool!r}")
        self.global_pool = global_pool
        self.patch_embed = PatchEmbed(img_size, patch_size, embed_dim, in_chans)
        self.img_size, self.patch_size, self.in_chans = img_size, patch_size, in_chans
        self.num_patches = self.patch_embed.num_patches
        self.out_dim = embed_dim
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.num_patches, embed_dim))
        rates = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # rising linearly
        self.blocks = nn.Sequential(*[Block(embed_dim, num_heads, mlp_ratio, rate) for rate in rates])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self._init_weights()

    def _init_weights(self) -> None:
        """timm's and MAE's initialization: truncated normal (std 0.02) class token and position
        embedding; xavier-uniform projections (the patch projection as a flat linear map, as in
        MAE); zero biases; LayerNorm weight 1, bias 0."""
        if self.pos_embed.is_meta:  # built on the meta device (shape checks): nothing to fill
            return
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        init_transformer_layers(self)

    def no_weight_decay(self) -> set[str]:
        """Parameters that take no weight decay (timm's `no_weight_decay`; MAE's optimizer too)."""
        return {"cls_token", "pos_embed"}

    def use_sincos_position_embedding(self, temperature: float = 10000.0) -> None:
        """Fixed 2-D sin-cos position embedding instead of the learned one (MoCo v3 and MAE use
        one; this is MAE's channel order, column first: moco-v3 puts the row's four quarters
        first): a quarter of the channels each for sin(x), cos(x), sin(y), cos(y) at frequencies
        `temperature ** (-i / (D / 4))`, a zero embedding for the class token, no gradient."""
        table = sincos_2d(self.img_size // self.patch_size, self.out_dim, temperature)
        with torch.no_grad():
            self.pos_embed[0, 0].zero_()
            self.pos_embed[0, 1:] = table.to(self.pos_embed.dtype)
        self.pos_embed.requires_grad_(False)

    def embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Patch tokens with their position embedding, no class token.

        Args:
            x: `float (B, 3, img_size, img_size)`.

        Returns:
            `(B, N, D)`, patches in row-major order.
        """
        return self.patch_embed(x) + self.pos_embed[:, 1:]

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """The encoder on any subset of patch tokens: class token prepended, blocks, final norm.

        Args:
            tokens: `(B, M, D)` from `embed_patches` (all N of them, or the M a method keeps).

        Returns:
            `(B, 1 + M, D)`; `[:, 0]` is the class token.
        """
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(tokens.shape[0], -1, -1)
        return self.norm(self.blocks(torch.cat([cls, tokens], dim=1)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The patch tokens after the final norm as a map: `(B, 3, img_size, img_size) ->
        (B, D, img_size / patch_size, img_size / patch_size)`."""
        tokens = self.forward_tokens(self.embed_patches(x))[:, 1:]
        side = self.img_size // self.patch_size
        return tokens.transpose(1, 2).unflatten(2, (side, side))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`(B, 3, img_size, img_size) -> (B, D)`: the class token after the final norm, or the
        mean of the patch tokens (`global_pool="avg"`)."""
        tokens = self.forward_tokens(self.embed_patches(x))
        return tokens[:, 0] if self.global_pool == "token" else tokens[:, 1:].mean(dim=1)


@BACKBONES.register("vit_tiny")
def vit_tiny(
    img_size: int = 224,
    patch_size: int = 16,
    drop_path_rate: float = 0.0,
    global_pool: str = "token",
    in_chans: int = 3,
) -> nn.Module:
    """ViT-Ti (D 192, 12 blocks, 3 heads): `(B, 3, img_size, img_size) -> (B, 192)`."""
    return VisionTransformer(
        img_size,
        patch_size,
        192,
        12,
        3,
        drop_path_rate=drop_path_rate,
        global_pool=global_pool,
        in_chans=in_chans,
    )


@BACKBONES.register("vit_small")
def vit_small(
    img_size: int = 224,
    patch_size: int = 16,
    drop_path_rate: float = 0.0,
    global_pool: str = "token",
    in_chans: int = 3,
) -> nn.Module:
    """ViT-S (D 384, 12 blocks, 6 heads): `(B, 3, img_size, img_size) -> (B, 384)`."""
    return VisionTransformer(
        img_size,
        patch_size,
        384,
        12,
        6,
        drop_path_rate=drop_path_rate,
        global_pool=global_pool,
        in_chans=in_chans,
    )


@BACKBONES.register("vit_base")
def vit_base(
    img_size: int = 224,
    patch_size: int = 16,
    drop_path_rate: float = 0.0,
    global_pool: str = "token",
    in_chans: int = 3,
) -> nn.Module:
    """ViT-B (D 768, 12 blocks, 12 heads): `(B, 3, img_size, img_size) -> (B, 768)`."""
    return VisionTransformer(
        img_size,
        patch_size,
        768,
        12,
        12,
        drop_path_rate=drop_path_rate,
        global_pool=global_pool,
        in_chans=in_chans,
    )
