"""Clip backbones: shapes for short clips, `input_kind`, torchvision-compatible state dicts."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from tempssl.models import BACKBONES, build_backbone, input_kind

TORCHVISION = ["r3d_18", "r2plus1d_18", "mc3_18"]


def _clips(frames: int, size: int = 32) -> torch.Tensor:
    return torch.randn(2, 3, frames, size, size, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module", params=TORCHVISION)
def video_resnet(request) -> tuple[str, nn.Module]:
    torch.manual_seed(0)
    return request.param, build_backbone(request.param).eval()


@pytest.mark.parametrize("frames", [1, 4, 8])
def test_torchvision_video_resnets_embed_clips(video_resnet, frames):
    _, model = video_resnet
    assert model.out_dim == 512 and input_kind(model) == "clip"
    with torch.no_grad():
        assert model(_clips(frames)).shape == (2, 512)


def test_torchvision_state_dict_loads_strictly_after_adding_the_classifier(video_resnet):
    name, model = video_resnet
    target = getattr(torchvision.models.video, name)()
    state = dict(model.state_dict())
    assert not any(key.startswith("fc.") for key in state)
    state["fc.weight"], state["fc.bias"] = torch.zeros(400, 512), torch.zeros(400)
    target.load_state_dict(state, strict=True)
    target.fc = nn.Identity()
    with torch.no_grad():
        torch.testing.assert_close(target.eval()(_clips(4)), model(_clips(4)))


@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5])
def test_small_3dcnn_embeds_clips_of_any_length(frames):
    model = build_backbone("small_3dcnn", width=4).eval()
    assert model.out_dim == 32 and input_kind(model) == "clip"
    with torch.no_grad():
        assert model(_clips(frames)).shape == (2, 32)


def test_small_3dcnn_trains():
    model = build_backbone("small_3dcnn", width=4)
    model(_clips(3)).pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_input_kinds():
    assert {"r3d_18", "r2plus1d_18", "mc3_18", "small_3dcnn"} <= set(BACKBONES.names())
    assert input_kind(build_backbone("small_cnn", width=4)) == "frame"
    assert input_kind(build_backbone("resnet18")) == "frame"
    assert input_kind(nn.Linear(2, 2)) == "frame"  # no attribute: a frame backbone


@pytest.mark.parametrize("frames", [1, 5])
def test_forward_features_pooled_is_forward(video_resnet, frames):
    """The map before global pooling: its (t, h, w) average is the embedding."""
    _, model = video_resnet
    with torch.no_grad():
        maps = model.forward_features(_clips(frames))
        assert maps.shape[:2] == (2, 512) and maps.ndim == 5
        torch.testing.assert_close(maps.mean(dim=(2, 3, 4)), model(_clips(frames)))


def test_pre_activation_is_the_map_before_the_last_relu(video_resnet):
    _, model = video_resnet
    with torch.no_grad():
        before = model.forward_features(_clips(4), pre_activation=True)
        after = model.forward_features(_clips(4))
    assert (before < 0).any()  # a residual sum, not yet rectified
    torch.testing.assert_close(before.relu(), after)


def test_forward_features_keeps_torchvisions_modules_and_keys(video_resnet):
    name, model = video_resnet
    target = getattr(torchvision.models.video, name)()
    assert isinstance(model, torchvision.models.video.VideoResNet)
    assert list(model.state_dict()) == [k for k in target.state_dict() if not k.startswith("fc.")]


@pytest.mark.parametrize("frames", [1, 4, 5])
def test_small_3dcnn_forward_features(frames):
    torch.manual_seed(0)
    model = build_backbone("small_3dcnn", width=4).eval()
    with torch.no_grad():
        maps = model.forward_features(_clips(frames))
        before = model.forward_features(_clips(frames), pre_activation=True)
        assert maps.shape == (2, 32, (frames + 3) // 4, 2, 2)
        torch.testing.assert_close(maps.mean(dim=(2, 3, 4)), model(_clips(frames)))
    assert (before < 0).any()
    torch.testing.assert_close(before.relu(), maps)
