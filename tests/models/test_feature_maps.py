"""Feature maps of frame backbones (`forward_features`) and the heads that read them."""

from __future__ import annotations

import pytest
import torch
import torchvision

from tempssl.models import build_backbone
from tempssl.models.heads import FlattenedMapHead, SpatialSoftmax


@pytest.mark.parametrize(("name", "side"), [("small_cnn", 4), ("resnet18", 2)])
def test_forward_features_pooled_is_forward(name, side):
    backbone = build_backbone(name).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        features = backbone.forward_features(x)
        assert features.shape == (2, backbone.out_dim, side, side)
        assert torch.allclose(features.mean(dim=(2, 3)), backbone(x), atol=1e-5)


def test_resnet_backbone_weights_still_load_into_torchvision():
    backbone = build_backbone("resnet18")
    state = {k: v for k, v in backbone.state_dict().items()}
    reference = torchvision.models.resnet18(weights=None)
    state.update({k: v for k, v in reference.state_dict().items() if k.startswith("fc.")})
    reference.load_state_dict(state, strict=True)  # same keys and shapes: nothing added


def test_vit_forward_features_is_the_patch_grid():
    vit = build_backbone("vit_tiny", img_size=32, patch_size=8).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        grid = vit.forward_features(x)
        tokens = vit.forward_tokens(vit.embed_patches(x))[:, 1:]
    assert grid.shape == (2, 192, 4, 4)
    assert torch.equal(grid[:, :, 1, 2], tokens[:, 1 * 4 + 2])  # row-major patches


def test_spatial_softmax_finds_a_peak_by_hand():
    x = torch.full((1, 2, 3, 5), -50.0)
    x[0, 0, 2, 4] = 50.0  # bottom right: x = 1, y = 1
    x[0, 1, 1, 0] = 50.0  # middle row, left column: x = -1, y = 0
    out = SpatialSoftmax()(x)
    assert torch.allclose(out, torch.tensor([[1.0, 1.0, -1.0, 0.0]]), atol=1e-6)
    # a uniform map: the expected position is the centre
    assert torch.allclose(SpatialSoftmax()(torch.zeros(1, 1, 4, 6)), torch.zeros(1, 2), atol=1e-6)


def test_flattened_map_head_keeps_position_and_any_size():
    head = FlattenedMapHead(3, out_dim=8, grid=2)
    a, b = torch.zeros(1, 3, 6, 6), torch.zeros(1, 3, 6, 6)
    a[..., 0, 0], b[..., 5, 5] = 1.0, 1.0  # same content, other corner
    assert not torch.allclose(head.pool(a).flatten(1), head.pool(b).flatten(1))
    assert head(torch.rand(4, 3, 9, 7)).shape == (4, 8)
