"""Exporting a trained backbone: torchvision strict loading, same features, formats, card, CLI."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torchvision
from run_fixtures import make_run
from safetensors import safe_open
from safetensors.torch import load_file

from tempssl.eval import export as export_module
from tempssl.eval.checkpoints import load_method
from tempssl.eval.export import ExportError, export_backbone, prepare_export
from tempssl.models import build_backbone

TOOL = Path(__file__).resolve().parents[2] / "tools" / "export.py"


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path)[0]


def _random_input() -> torch.Tensor:
    return torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))


def test_resnet18_export_loads_strict_into_torchvision_with_the_same_features(run, tmp_path):
    result = export_backbone(run, tmp_path / "out" / "resnet18_tcn.safetensors")
    assert (
        result.path == tmp_path / "out" / "resnet18_tcn.safetensors" and result.format == "safetensors"
    )
    state = load_file(result.path)
    model = torchvision.models.resnet18()
    model.load_state_dict(state, strict=True)
    assert state["fc.weight"].shape == (1000, 512) and not state["fc.weight"].any()
    assert not state["fc.bias"].any()
    model.fc = torch.nn.Identity()
    model.eval()
    method, _, _ = load_method(run)
    x = _random_input()
    with torch.no_grad():
        ours, theirs = method.backbone(x), model(x)
    assert ours.shape == (3, 512)
    torch.testing.assert_close(theirs, ours, rtol=1e-5, atol=1e-5)
    with safe_open(str(result.path), "pt") as handle:
        metadata = handle.metadata()
    assert metadata["backbone"] == "resnet18" and metadata["method"] == "tcn"
    assert not any(key.startswith("head.") for key in state)
    assert not list(result.path.parent.glob("*.tmp"))  # temporary files renamed


def test_pt_export_loads_with_weights_only(run, tmp_path):
    by_flag = export_backbone(run, tmp_path / "resnet18_tcn", format="pt")
    assert by_flag.path == tmp_path / "resnet18_tcn.pt"
    by_suffix = export_backbone(run, tmp_path / "other.pt")
    assert by_suffix.format == "pt"
    trained = load_file(run / "checkpoints" / "step_00000001" / "model.safetensors")
    reference = {
        key[len("backbone.") :]: value for key, value in trained.items() if key.startswith("backbone.")
    }
    for path in (by_flag.path, by_suffix.path):
        state = torch.load(path, weights_only=True)
        assert state.keys() == {*reference, "fc.weight", "fc.bias"}
        assert all(torch.equal(state[key], reference[key]) for key in reference)
        torchvision.models.resnet18().load_state_dict(state, strict=True)


def test_format_and_suffix_must_agree(run, tmp_path):
    with pytest.raises(ExportError, match="suffix"):
        export_backbone(run, tmp_path / "x.safetensors", format="pt")
    with pytest.raises(ExportError, match=r"unknown suffix '\.onnx'"):
        export_backbone(run, tmp_path / "x.onnx")
    assert not list(tmp_path.glob("x*"))


def test_card_describes_the_export(run, tmp_path):
    result = export_backbone(run, tmp_path / "resnet18_tcn.safetensors")
    assert result.card == tmp_path / "resnet18_tcn.safetensors.md"
    card = result.card.read_text()
    for expected in (
        "resnet18",
        "tcn",
        "the classifier",
        "is zero: replace or train it",
        "built-in toy dataset",
        "global step 1",
        "`head.*` (2 tensors)",
        "adamw, lr 0.001",
        str(run.resolve() / "config.yaml"),
        str((run / "checkpoints" / "step_00000001").resolve()),
        "model = torchvision.models.resnet18()",
        'model.load_state_dict(safetensors.torch.load_file("resnet18_tcn.safetensors"), strict=True)',
    ):
        assert expected.lower() in card.lower(), expected


def test_small_stem_resnet_of_a_moco_run_exports_and_the_card_code_loads_it(tmp_path):
    run = make_run(tmp_path, "resnet18", {"small_stem": True}, method="moco",
                   method_args={"queue_size": 64})[0]  # fmt: skip
    result = export_backbone(run, tmp_path / "moco.safetensors")
    state = load_file(result.path)
    assert state["conv1.weight"].shape == (64, 3, 3, 3)
    assert not any(k.startswith(("momentum_", "queue", "projector")) for k in state)
    card = result.card.read_text()
    code = card.split("```python\n")[1].split("```")[0]
    code = code.replace(f'"{result.path.name}"', repr(str(result.path)))
    namespace: dict = {}
    exec(code, namespace)  # the card's recipe, as a user would run it
    model = namespace["model"]
    model.fc = torch.nn.Identity()
    method, _, _ = load_method(run)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), method.backbone(x), rtol=1e-5, atol=1e-5)


def test_small_cnn_exports_and_rebuilds_with_tempssl(tmp_path):
    run = make_run(tmp_path, "small_cnn", {"width": 4})[0]
    result = export_backbone(run, tmp_path / "small.safetensors")
    model = build_backbone("small_cnn", width=4)
    model.load_state_dict(load_file(result.path), strict=True)
    method, _, _ = load_method(run)
    x = _random_input()
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), method.backbone(x))
    assert 'build_backbone("small_cnn", width=4)' in result.card.read_text()


def test_unsupported_backbone_lists_the_supported_ones(run):
    method, cfg, _ = load_method(run)
    with pytest.raises(ExportError, match=r"supported backbones are .*resnet18, resnet50, .*small_cnn"):
        prepare_export(method.backbone, "vit_huge", cfg)


def test_an_export_that_changes_the_features_fails_and_writes_nothing(run, tmp_path, monkeypatch):
    original = export_module.EXPORTERS.get("resnet18")

    def forgets_bn_statistics(backbone, cfg):
        export = original(backbone, cfg)
        export.state_dict["bn1.running_mean"] = torch.zeros(64)
        return export

    monkeypatch.setitem(export_module.EXPORTERS._entries, "resnet18", forgets_bn_statistics)
    with pytest.raises(ExportError, match="other features"):
        export_backbone(run, tmp_path / "bad.safetensors")

    def drops_a_key(backbone, cfg):
        export = original(backbone, cfg)
        del export.state_dict["fc.bias"]
        return export

    monkeypatch.setitem(export_module.EXPORTERS._entries, "resnet18", drops_a_key)
    with pytest.raises(ExportError, match=r"do not load into torchvision\.models\.resnet18\(\)"):
        export_backbone(run, tmp_path / "bad.safetensors")
    assert not list(tmp_path.glob("bad*"))


def _tool():
    spec = importlib.util.spec_from_file_location("export_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_writes_the_file(run, tmp_path, capsys):
    tool = _tool()
    out = tmp_path / "resnet18_tcn.safetensors"
    assert tool.main(["--checkpoint", str(run), "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "resnet18_tcn.safetensors.md").is_file()
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "torchvision.models.resnet18()" in printed
    assert tool.main(["--checkpoint", str(run), "--out", str(tmp_path / "r18"), "--format", "pt"]) == 0
    assert (tmp_path / "r18.pt").is_file()


def test_cli_reports_errors(tmp_path, capsys):
    assert _tool().main(["--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "x")]) == 2
    assert "error: checkpoint" in capsys.readouterr().err
