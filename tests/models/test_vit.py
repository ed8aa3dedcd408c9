"""The ViT backbone: shapes, token-level entry points, stochastic depth, init, timm compatibility."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tempssl.models import BACKBONES, build_backbone, input_kind
from tempssl.models.vit import VisionTransformer


def _images(batch: int, size: int) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def vit() -> VisionTransformer:
    torch.manual_seed(0)
    return build_backbone("vit_tiny", img_size=32, patch_size=8).eval()


@pytest.mark.parametrize(("img_size", "patch_size"), [(32, 8), (48, 16), (64, 16), (64, 32)])
def test_shapes_for_image_and_patch_sizes(img_size, patch_size):
    model = build_backbone("vit_tiny", img_size=img_size, patch_size=patch_size).eval()
    num_patches = (img_size // patch_size) ** 2
    assert model.num_patches == num_patches and model.patch_size == patch_size
    assert model.pos_embed.shape == (1, 1 + num_patches, 192)
    x = _images(2, img_size)
    with torch.no_grad():
        assert model.embed_patches(x).shape == (2, num_patches, 192)
        assert model(x).shape == (2, 192)


@pytest.mark.parametrize(
    ("name", "dim", "heads"), [("vit_tiny", 192, 3), ("vit_small", 384, 6), ("vit_base", 768, 12)]
)
def test_registered_sizes(name, dim, heads):
    assert name in BACKBONES.names("vit_*")
    model = build_backbone(name, img_size=32, patch_size=16)
    assert model.out_dim == dim and input_kind(model) == "frame"
    assert len(model.blocks) == 12 and model.blocks[0].attn.num_heads == heads
    with torch.no_grad():
        assert model.eval()(_images(1, 32)).shape == (1, dim)


def test_forward_is_the_normed_class_token_of_all_patches(vit):
    x = _images(3, 32)
    with torch.no_grad():
        encoded = vit.forward_tokens(vit.embed_patches(x))
        assert encoded.shape == (3, 1 + 16, 192)
        torch.testing.assert_close(encoded[:, 0], vit(x))


def test_a_subset_of_tokens_ignores_the_dropped_patches(vit):
    x = _images(2, 32)
    keep = torch.tensor([0, 5, 6, 15])  # patches in row-major order on the 4x4 grid
    changed = x.clone()
    changed[:, :, 8:16, :8] = 0  # patch 4: dropped
    with torch.no_grad():
        kept = vit.forward_tokens(vit.embed_patches(x)[:, keep])
        again = vit.forward_tokens(vit.embed_patches(changed)[:, keep])
        full = vit.forward_tokens(vit.embed_patches(changed))
    assert kept.shape == (2, 1 + 4, 192)
    torch.testing.assert_close(again, kept)
    assert not torch.allclose(full[:, 0], kept[:, 0])


def test_wrong_sizes_are_errors(vit):
    with pytest.raises(ValueError, match="built for 32x32 inputs got 64x64"):
        vit(_images(1, 64))
    with pytest.raises(ValueError, match="not a multiple of patch_size"):
        build_backbone("vit_tiny", img_size=30, patch_size=8)


def test_stochastic_depth_only_while_training():
    torch.manual_seed(0)
    model = build_backbone("vit_tiny", img_size=32, patch_size=16, drop_path_rate=0.5)
    x = _images(4, 32)
    with torch.no_grad():
        assert not torch.allclose(model.train()(x), model.train()(x))
        torch.testing.assert_close(model.eval()(x), model(x))
    plain = build_backbone("vit_tiny", img_size=32, patch_size=16)
    with torch.no_grad():
        torch.testing.assert_close(plain.train()(x), plain.eval()(x))


def test_initialization():
    torch.manual_seed(0)
    model = build_backbone("vit_small", img_size=32, patch_size=8)
    assert 0.015 < model.pos_embed.std().item() < 0.025 and 0.015 < model.cls_token.std().item() < 0.025
    for module in model.modules():
        if isinstance(module, nn.Linear):
            bound = (6 / (module.in_features + module.out_features)) ** 0.5  # xavier-uniform
            assert module.weight.abs().max() <= bound and not module.bias.any()
        elif isinstance(module, nn.LayerNorm):
            assert (module.weight == 1).all() and not module.bias.any()


def test_state_dict_loads_strictly_into_timm_with_the_same_features(vit):
    timm = pytest.importorskip("timm")
    with torch.no_grad():  # not the initialization, so that every tensor is compared
        for value in vit.state_dict().values():
            value.add_(torch.randn(value.shape, generator=torch.Generator().manual_seed(1)) * 0.01)
    target = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=192, depth=12, num_heads=3, num_classes=0
    ).eval()
    assert set(target.state_dict()) == set(vit.state_dict())
    target.load_state_dict(vit.state_dict(), strict=True)
    x = _images(2, 32)
    with torch.no_grad():
        torch.testing.assert_close(target(x), vit(x), rtol=1e-5, atol=1e-5)


def test_average_pooled_features_match_timms_avg_pool_after_the_norm():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    vit = build_backbone("vit_tiny", img_size=32, patch_size=8, global_pool="avg").eval()
    x = _images(2, 32)
    with torch.no_grad():
        tokens = vit.forward_tokens(vit.embed_patches(x))
        torch.testing.assert_close(
            vit(x), tokens[:, 1:].mean(dim=1)
        )  # patch tokens, not the class token
        target = timm.models.vision_transformer.VisionTransformer(
            img_size=32, patch_size=8, embed_dim=192, depth=12, num_heads=3, num_classes=0,
            global_pool="avg", fc_norm=False,
        ).eval()  # fmt: skip
        target.load_state_dict(vit.state_dict(), strict=True)
        torch.testing.assert_close(target(x), vit(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="global_pool"):
        build_backbone("vit_tiny", img_size=32, patch_size=8, global_pool="max")
