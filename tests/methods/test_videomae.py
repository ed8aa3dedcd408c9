"""VideoMAE and its video ViT against the paper's definitions."""

from __future__ import annotations

import pytest
import torch

from tempssl.methods import build_method
from tempssl.models import build_backbone
from tempssl.models.patches import patchify, unpatchify


def _videomae(**kwargs):
    torch.manual_seed(0)
    vit = build_backbone("video_vit_tiny", img_size=16, num_frames=4, patch_size=8, tubelet=2)
    args = dict(decoder_dim=32, decoder_depth=1, decoder_heads=2) | kwargs
    return build_method("videomae", vit, **args).eval()


def test_token_order_is_patchifys_so_masks_and_targets_line_up():
    vit = build_backbone("video_vit_tiny", img_size=16, num_frames=4, patch_size=8, tubelet=2)
    clip = torch.randn(2, 3, 4, 16, 16)
    with torch.no_grad():
        tokens = vit.embed_patches(clip) - vit.pos_embed
        weight = vit.patch_embed.weight.permute(0, 2, 3, 4, 1).reshape(192, -1)  # (D, u p q c)
        expected = patchify(clip, 8, tubelet=2) @ weight.T + vit.patch_embed.bias
    torch.testing.assert_close(tokens, expected, rtol=1e-4, atol=1e-4)
    assert vit(clip).shape == (2, 192) and vit.forward_features(clip).shape == (2, 192, 2, 2, 2)


def test_tube_masks_hide_the_same_places_at_every_time_step():
    method = _videomae(mask_ratio=0.5)
    keep, mask = method.mask(8, generator=torch.Generator().manual_seed(0))
    per_step = mask.view(8, 2, 4)  # (B, T', H' W')
    assert (per_step == per_step[:, :1]).all() and (per_step.sum(-1) == 2).all()
    assert keep.shape == (8, 4)


def test_hidden_tubelets_never_reach_the_encoder():
    method = _videomae(mask_ratio=0.5)
    clip = torch.randn(2, 3, 4, 16, 16)
    keep, mask = method.mask(2, generator=torch.Generator().manual_seed(1))
    tubes = patchify(clip, 8, tubelet=2)
    tubes[mask] = torch.randn_like(tubes[mask]) * 10
    changed = unpatchify(tubes, 8, (2, 2, 2), tubelet=2)
    assert not torch.equal(changed, clip)
    with torch.no_grad():
        torch.testing.assert_close(method.encode(clip, keep), method.encode(changed, keep))


def test_videomae_trains_on_clips():
    method = _videomae().train()
    out = method({"clip": torch.randn(3, 3, 4, 16, 16)})
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and method.backbone.patch_embed.weight.grad is not None
    assert method.decoder.mask_token.grad is not None


def test_videomae_refuses_other_backbones_and_wrong_clips():
    with pytest.raises(ValueError, match="video ViT"):
        build_method("videomae", build_backbone("small_3dcnn"))
    vit = build_backbone("video_vit_tiny", img_size=16, num_frames=4, patch_size=8)
    with pytest.raises(ValueError, match="num_frames"):
        vit(torch.zeros(1, 3, 6, 16, 16))
