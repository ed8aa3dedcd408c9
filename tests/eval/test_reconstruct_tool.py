"""tools/reconstruct.py: PSNR / SSIM and the grid of a restoring method's reconstructions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
from PIL import Image
from run_fixtures import make_run

from tempssl.config import load_config, save_config
from tempssl.schema import TrainConfig

ROOT = Path(__file__).parents[2]


def _main():
    spec = importlib.util.spec_from_file_location("reconstruct_tool", ROOT / "tools" / "reconstruct.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _images(folder: Path, count: int = 3) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_writes_metrics_grid_and_the_random_init_baseline(tmp_path, capsys):
    run, _ = make_run(
        tmp_path, "vit_tiny", {"img_size": 32, "patch_size": 8}, method="mae",
        method_args={"decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2},
    )  # fmt: skip
    cfg = load_config(TrainConfig, run / "config.yaml")
    cfg.transforms.size = 32
    save_config(cfg, run / "config.yaml")
    out = tmp_path / "recon"
    code = _main()(
        ["--checkpoint", str(run), "--videos", str(_images(tmp_path / "frames")), "--out", str(out),
         "--baseline", "random", "--quiet"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "reconstruction.json").read_text())
    assert result["frames"] == 3 and 0 < result["psnr"] < 60 and -1 <= result["ssim"] <= 1
    assert set(result["random_init"]) == {"psnr", "ssim"}
    grid = np.asarray(Image.open(out / "reconstructions.png"))
    assert grid.shape == (3 * (32 + 2), 3 * (32 + 2), 3)  # rows: frames; columns: masked, output, target
    assert (out / "reconstructions_random_init.png").exists()
    assert "PSNR" in capsys.readouterr().out


def test_a_method_that_does_not_reconstruct_is_an_error(tmp_path, capsys):
    run, _ = make_run(tmp_path, "small_cnn", {"width": 4})
    code = _main()(
        [
            "--checkpoint",
            str(run),
            "--videos",
            str(_images(tmp_path / "f")),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2 and "does not reconstruct" in capsys.readouterr().err
