"""tools/extract.py on bad input: clear errors, exit code 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).parents[2] / "tools" / "extract.py"


def _main():
    spec = importlib.util.spec_from_file_location("extract_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_missing_checkpoint(tmp_path, capsys):
    code = _main()(
        ["--checkpoint", str(tmp_path / "nope"), "--videos", str(tmp_path), "--out", str(tmp_path / "e")]
    )
    assert code == 2
    assert "nope" in capsys.readouterr().err


def test_empty_video_folder(tmp_path, capsys, monkeypatch):
    from tempssl.config import save_config
    from tempssl.engine.build import build_model
    from tempssl.schema import ModelConfig, TrainConfig

    run = tmp_path / "run"
    step = run / "checkpoints" / "step_00000001"
    step.mkdir(parents=True)
    cfg = TrainConfig(model=ModelConfig(backbone="small_cnn", args={"width": 4}))
    save_config(cfg, run / "config.yaml")
    from safetensors.torch import save_file

    save_file(build_model(cfg).state_dict(), str(step / "model.safetensors"))
    (step / "trainer_state.json").write_text('{"epoch": 1, "step_in_epoch": 0, "global_step": 1}')
    (run / "checkpoints" / "latest").write_text(step.name)
    empty = tmp_path / "videos"
    empty.mkdir()
    code = _main()(["--checkpoint", str(run), "--videos", str(empty), "--out", str(tmp_path / "e")])
    assert code == 2
    assert "the folder is empty" in capsys.readouterr().err
