"""tools/extract.py on bad input: clear errors, exit code 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from launch import cpu_env, cpu_launch, run_checked
from run_fixtures import make_run

from tempssl.video.synthetic import write_coded_video

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


def _tiny_run(tmp_path) -> Path:
    return make_run(tmp_path, "small_cnn", {"width": 4})[0]


def test_empty_video_folder(tmp_path, capsys):
    run = _tiny_run(tmp_path)
    empty = tmp_path / "videos"
    empty.mkdir()
    code = _main()(["--checkpoint", str(run), "--videos", str(empty), "--out", str(tmp_path / "e")])
    assert code == 2
    assert "the folder is empty" in capsys.readouterr().err


def test_baseline_random_is_extracted_from_the_sidecar(tmp_path):
    run = _tiny_run(tmp_path)
    for label in ("a", "b"):
        (tmp_path / "videos" / label).mkdir(parents=True)
        for i in range(3):
            write_coded_video(tmp_path / "videos" / label / f"{i}.mp4", 6, seed=i + 10 * (label == "b"))
    emb = tmp_path / "emb"
    args = ["--checkpoint", str(run), "--videos", str(tmp_path / "videos"), "--frames", "2"]
    assert _main()([*args, "--out", str(emb), "--workers", "0", "--quiet"]) == 0
    spec = importlib.util.spec_from_file_location("evaluate_tool", TOOL.with_name("evaluate.py"))
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)
    out = tmp_path / "knn.json"
    assert (
        evaluate.main(
            ["knn", "--embeddings", str(emb), "--k", "3", "--baseline", "random", "--out", str(out)]
        )
        == 0
    )
    result = json.loads(out.read_text())
    assert "baseline" in result and (emb / "random_init" / "embeddings.npz").is_file()
    random_info = json.loads((emb / "random_init" / "embeddings.json").read_text())
    assert random_info["weights"] == "random init" and random_info["checkpoint"].endswith(
        "step_00000001"
    )


def test_two_processes_split_the_videos_and_agree_with_one(tmp_path):
    import numpy as np

    from tempssl.eval.store import load_embeddings

    run = _tiny_run(tmp_path)
    (tmp_path / "videos").mkdir()
    for i in range(5):
        write_coded_video(tmp_path / "videos" / f"{i}.mp4", 6, seed=i)
    args = ["--checkpoint", str(run), "--videos", str(tmp_path / "videos"), "--frames", "2",
            "--workers", "0", "--chunk-videos", "2", "--quiet"]  # fmt: skip
    assert _main()([*args, "--out", str(tmp_path / "one")]) == 0
    run_checked([*cpu_launch(2), str(TOOL), *args, "--out", str(tmp_path / "two")], env=cpu_env())
    one, two = load_embeddings(tmp_path / "one"), load_embeddings(tmp_path / "two")
    assert (one.info["processes"], two.info["processes"]) == (1, 2)
    assert list(one.paths) == list(two.paths) and len(one) == 5
    np.testing.assert_allclose(one.embeddings, two.embeddings, rtol=1e-5, atol=1e-6)
