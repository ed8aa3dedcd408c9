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
