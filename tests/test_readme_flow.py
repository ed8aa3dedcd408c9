"""The README's "Use the learned representations" commands, end to end on the toy dataset:
train TCN briefly (ResNet-18), extract, kNN and linear probe on `action` and `object`, alignment of
the two views, export to torchvision ResNet-18 (strict)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import load_file

from tempssl.eval.store import load_embeddings

ROOT = Path(__file__).parents[1]


def _run(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=1200,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, f"{args}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_extract_evaluate_export(tmp_path):
    tools = ROOT / "tools"
    _run(
        "-m", "accelerate.commands.launch", str(tools / "train.py"), str(ROOT / "configs" / "tcn.yaml"),
        "model.backbone=resnet18", "trainer.epochs=1", "eval.enabled=false",
        f"trainer.output_dir={tmp_path / 'runs'}", "trainer.progress=false", cwd=tmp_path,
    )  # fmt: skip
    (run,) = (tmp_path / "runs" / "tcn").iterdir()
    common = ["--checkpoint", str(run), "--frames", "4", "--quiet"]
    for split in ("train", "val"):
        for labels in ("action", "object"):
            out = tmp_path / f"emb_{split}_{labels}"
            videos = ["--videos", f"toy:{split}", "--label-column", labels]
            _run(str(tools / "extract.py"), *common, *videos, "--out", str(out), cwd=tmp_path)
    for labels in ("action", "object"):
        train, val = tmp_path / f"emb_train_{labels}", tmp_path / f"emb_val_{labels}"
        for protocol in ("knn", "linear"):
            _run(str(tools / "evaluate.py"), protocol, "--train", str(train), "--test", str(val),
                 "--out", str(tmp_path / f"{protocol}_{labels}.json"), cwd=tmp_path)  # fmt: skip
            result = json.loads((tmp_path / f"{protocol}_{labels}.json").read_text())
            assert result, protocol
    views = tmp_path / "emb_val_views"
    _run(str(tools / "extract.py"), *common, "--videos", "toy:val", "--layout", "multiview",
         "--save-frames", "--out", str(views), cwd=tmp_path)  # fmt: skip
    _run(str(tools / "evaluate.py"), "alignment", "--embeddings", str(views),
         "--out", str(tmp_path / "alignment.json"), cwd=tmp_path)  # fmt: skip
    assert json.loads((tmp_path / "alignment.json").read_text())
    exported = tmp_path / "resnet18_tcn.safetensors"
    _run(str(tools / "export.py"), "--checkpoint", str(run), "--out", str(exported), cwd=tmp_path)
    model = torchvision.models.resnet18()
    model.load_state_dict(load_file(str(exported)), strict=True)
    model.fc = torch.nn.Identity()
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 512)


def _train_briefly(config: str, tmp_path: Path, *overrides: str) -> Path:
    name = Path(config).stem
    _run(
        "-m", "accelerate.commands.launch", str(ROOT / "tools" / "train.py"),
        str(ROOT / "configs" / config), "trainer.max_steps=2", "eval.enabled=false",
        f"trainer.output_dir={tmp_path / 'runs'}", "trainer.progress=false", *overrides, cwd=tmp_path,
    )  # fmt: skip
    (run,) = (tmp_path / "runs" / name).iterdir()
    return run


@pytest.mark.slow
def test_order_protocol_of_a_shuffle_and_learn_run(tmp_path):
    run = _train_briefly("shuffle_learn.yaml", tmp_path)
    out = tmp_path / "order.json"
    _run(str(ROOT / "tools" / "evaluate.py"), "order", "--checkpoint", str(run), "--videos", "toy:val",
         "--tuples-per-video", "2", "--baseline", "random", "--quiet", "--out", str(out),
         cwd=tmp_path)  # fmt: skip
    result = json.loads(out.read_text())
    assert result["results"]["tuples"] == result["baseline"]["results"]["tuples"] == 2 * 80


@pytest.mark.slow
def test_cpc_context_and_clip_extraction(tmp_path):
    run = _train_briefly("cpc.yaml", tmp_path)
    tools, common = ROOT / "tools", ["--checkpoint", str(run), "--frames", "2", "--quiet"]
    for features, dims in (("context", 256), ("backbone", 128)):  # GRU width; small_3dcnn width 16 x 8
        for split in ("train", "val"):
            _run(str(tools / "extract.py"), *common, "--videos", f"toy:{split}", "--label-column",
                 "action", "--features", features, "--out", str(tmp_path / f"{features}_{split}"),
                 cwd=tmp_path)  # fmt: skip
        train, val = tmp_path / f"{features}_train", tmp_path / f"{features}_val"
        out = tmp_path / f"knn_{features}.json"
        _run(str(tools / "evaluate.py"), "knn", "--train", str(train), "--test", str(val),
             "--out", str(out), cwd=tmp_path)  # fmt: skip
        assert json.loads(out.read_text())["inputs"]["test_videos"] == 80
        assert json.loads((val / "embeddings.json").read_text())["settings"]["features"] == features
        assert load_embeddings(val).embeddings.shape == (80, dims)
