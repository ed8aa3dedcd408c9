"""Exporters of the ViT and clip backbones: strict loading into timm / torchvision, same features."""

from __future__ import annotations

import sys

import pytest
import torch
import torchvision
from run_fixtures import make_run
from safetensors.torch import load_file

from tempssl.eval import export as export_module
from tempssl.eval.checkpoints import load_method
from tempssl.eval.export import ExportError, export_backbone, prepare_export
from tempssl.models import build_backbone
from tempssl.schema import TrainConfig


def _config(backbone: str, size: int = 32, **model_args) -> TrainConfig:
    cfg = TrainConfig()
    cfg.model.backbone, cfg.model.args, cfg.transforms.size = backbone, model_args, size
    return cfg


def _trained(name: str, **args) -> torch.nn.Module:
    """A backbone unlike a fresh build: random BatchNorm statistics, every tensor shifted."""
    torch.manual_seed(0)
    backbone = build_backbone(name, **args)
    with torch.no_grad():
        for key, value in backbone.state_dict().items():
            if key.endswith("running_var"):
                value.uniform_(0.5, 2.0)
            elif value.is_floating_point():
                value.add_(torch.randn(value.shape) * 0.01)
    return backbone


def test_vit_exports_to_timm_at_its_own_image_size():
    pytest.importorskip("timm")
    backbone = _trained("vit_tiny", img_size=32, patch_size=8)
    export, difference = prepare_export(backbone, "vit_tiny", _config("vit_tiny", size=64))
    assert export.target == (
        'timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=32, '
        "patch_size=8)"
    )
    assert export.check_size == 32 and export.modules == ["timm"] and difference < 1e-5
    assert export.state_dict.keys() == backbone.state_dict().keys()  # timm's names already


def test_vit_export_needs_timm(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` raises ImportError
    backbone = build_backbone("vit_tiny", img_size=32, patch_size=16)
    with pytest.raises(ExportError, match=r"pip install timm \(or pip install -e \"\.\[timm\]\"\)"):
        prepare_export(backbone, "vit_tiny", _config("vit_tiny"))


def test_vit_exporter_refuses_another_network():
    with pytest.raises(
        ExportError, match=r"expects a tempssl\.models\.vit\.VisionTransformer, got SmallCNN"
    ):
        prepare_export(build_backbone("small_cnn", width=4), "vit_small", _config("vit_small"))


def test_video_resnet_exports_to_torchvision_and_is_checked_on_clips():
    backbone = _trained("r3d_18")
    export, difference = prepare_export(backbone, "r3d_18", _config("r3d_18"))
    assert export.target == "torchvision.models.video.r3d_18()" and difference < 1e-4
    assert (
        export.state_dict["fc.weight"].shape == (400, 512) and not export.state_dict["fc.weight"].any()
    )
    assert any("(B, 3, T, H, W)" in note for note in export.notes)
    model = torchvision.models.video.r3d_18()
    model.load_state_dict(export.state_dict, strict=True)


def test_small_3dcnn_rebuilds_with_tempssl():
    backbone = _trained("small_3dcnn", width=4)
    export, _ = prepare_export(backbone, "small_3dcnn", _config("small_3dcnn", width=4))
    assert export.target == 'tempssl.models.build_backbone("small_3dcnn", width=4)'
    model = build_backbone("small_3dcnn", width=4)
    model.load_state_dict(export.state_dict, strict=True)


def test_a_changed_clip_export_fails_naming_the_clip(monkeypatch):
    original = export_module.EXPORTERS.get("small_3dcnn")

    def forgets_bn_statistics(backbone, cfg):
        export = original(backbone, cfg)
        export.state_dict["features.1.running_mean"] = torch.zeros(4)
        return export

    monkeypatch.setitem(export_module.EXPORTERS._entries, "small_3dcnn", forgets_bn_statistics)
    with pytest.raises(ExportError, match=r"other features .* on a random 4x32x32 clip"):
        prepare_export(_trained("small_3dcnn", width=4), "small_3dcnn", _config("small_3dcnn", width=4))


def test_vit_checkpoint_exports_to_a_file_that_loads_into_timm(tmp_path):
    timm = pytest.importorskip("timm")
    run = make_run(tmp_path, "vit_tiny", {"img_size": 32, "patch_size": 8})[0]
    result = export_backbone(run, tmp_path / "vit_tiny_tcn.safetensors")
    model = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=32, patch_size=8
    )
    model.load_state_dict(load_file(result.path), strict=True)
    method, _, _ = load_method(run)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), method.backbone.eval()(x), rtol=1e-5, atol=1e-5)
    card = result.card.read_text()
    assert result.target in card and "import safetensors.torch, timm" in card


def test_unsupported_backbone_lists_every_supported_one():
    supported = (
        "mc3_18, r2plus1d_18, r2plus1d_r50, r3d_18, resnet18, resnet50, slow_r50, small_3dcnn, "
        "small_cnn, video_vit_small, video_vit_tiny, vit_base, vit_small, vit_tiny, x3d_s, x3d_xs"
    )
    with pytest.raises(
        ExportError, match=f"cannot export backbone 'vit_huge': supported backbones are {supported}"
    ):
        prepare_export(build_backbone("small_cnn", width=4), "vit_huge", _config("small_cnn"))


def test_video_vit_exports_as_a_tempssl_rebuild_with_the_same_features():
    backbone = _trained("video_vit_tiny", img_size=16, num_frames=4, patch_size=8, tubelet=2)
    export, difference = prepare_export(backbone, "video_vit_tiny", _config("video_vit_tiny", size=64))
    assert export.target == (
        'tempssl.models.build_backbone("video_vit_tiny", img_size=16, num_frames=4, patch_size=8, '
        "tubelet=2)"
    )
    assert (export.check_size, export.check_frames) == (16, 4) and difference < 1e-5
    rebuilt = build_backbone("video_vit_tiny", img_size=16, num_frames=4, patch_size=8, tubelet=2)
    rebuilt.load_state_dict(export.state_dict, strict=True)  # the fixed positions are no state
    assert "pos_embed" not in export.state_dict


@pytest.mark.parametrize("small_stem", [False, True])
def test_one_channel_resnet_exports_to_torchvision_with_its_conv1_replaced(small_stem):
    """Colorization's lightness-only ResNet: the card's setup line replaces conv1 before a
    strict load; the export is checked on 1-channel input."""
    backbone = _trained("resnet18", in_chans=1, small_stem=small_stem)
    export, difference = prepare_export(backbone, "resnet18", _config("resnet18"))
    assert export.state_dict["conv1.weight"].shape[1] == 1 and difference < 1e-5
    kernel = "3, stride=1, padding=1" if small_stem else "7, stride=2, padding=3"
    assert export.setup[0] == f"model.conv1 = torch.nn.Conv2d(1, 64, {kernel}, bias=False)"
    namespace = {"torch": torch, "torchvision": torchvision}
    exec(f"model = {export.target}\n" + "\n".join(export.setup), namespace)
    model = namespace["model"]
    model.load_state_dict(export.state_dict, strict=True)
    model.fc = torch.nn.Identity()
    x = torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), backbone.eval()(x), rtol=1e-5, atol=1e-5)
    assert any("one input channel" in note for note in export.notes)


def test_one_channel_vit_and_small_cnn_export():
    backbone = _trained("small_cnn", width=4, in_chans=1)
    export, difference = prepare_export(backbone, "small_cnn", _config("small_cnn", in_chans=1))
    assert "in_chans=1" in export.target and difference < 1e-5
    pytest.importorskip("timm")
    backbone = _trained("vit_tiny", img_size=32, patch_size=8, in_chans=1)
    export, difference = prepare_export(backbone, "vit_tiny", _config("vit_tiny", size=32))
    assert "in_chans=1" in export.target and difference < 1e-5


@pytest.mark.parametrize("name", ["resnet18", "small_cnn", "vit_tiny"])
def test_backbones_take_the_input_channels_they_are_built_with(name):
    args = {"img_size": 32, "patch_size": 8} if name == "vit_tiny" else {}
    for channels in (1, 4):
        backbone = build_backbone(name, in_chans=channels, **args).eval()
        assert backbone.in_chans == channels
        with torch.no_grad():
            assert backbone(torch.randn(2, channels, 32, 32)).shape == (2, backbone.out_dim)
    with pytest.raises(ValueError, match="in_chans must be a positive"):
        build_backbone(name, in_chans=0, **args)
