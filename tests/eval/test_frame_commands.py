"""tools/evaluate.py phase|progression|kendall end to end on small embedding folders: the JSON
results, the tables with a baseline column, the PNGs, and clear errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tempssl.eval.store import Embeddings, save_embeddings

TOOL = Path(__file__).parents[2] / "tools" / "evaluate.py"
FRAMES = 15


@pytest.fixture(scope="module")
def evaluate():
    spec = importlib.util.spec_from_file_location("evaluate_tool", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main


def progress_of(video: int) -> np.ndarray:
    """A video's progress: videos differ in pace (an early or late middle)."""
    t = np.linspace(0, 1, FRAMES)
    return t ** (0.7 + 0.1 * (video % 5))


def write_folder(folder: Path, videos: Path, first: int, count: int, informative: bool, seed: int):
    """`count` videos (numbers first..), 2 actions; frames embed their progress when `informative`."""
    rng = np.random.default_rng(seed)
    numbers = range(first, first + count)
    frames = []
    for v in numbers:
        p = progress_of(v)[:, None]
        signal = np.hstack([np.cos(2 * p), np.sin(2 * p), p]) if informative else np.zeros((FRAMES, 3))
        frames.append(signal + (0.02 if informative else 1.0) * rng.normal(size=(FRAMES, 3)))
    data = Embeddings(
        embeddings=np.zeros((count, 3), np.float32),
        paths=np.array([str(videos / f"v{v}.mp4") for v in numbers]),
        labels=np.array([v % 2 for v in numbers], dtype=np.int64),
        classes=np.array(["pour", "lift"]),
        groups=np.full(count, ""),
        views=np.full(count, ""),
        frame_embeddings=np.stack(frames).astype(np.float32),
        frame_times=np.tile(np.arange(FRAMES) / 10.0, (count, 1)),
        frame_indices=np.tile(np.arange(FRAMES), (count, 1)),
        info={"videos": str(videos)},
    )
    return save_embeddings(folder, data)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("frames")
    videos = root / "videos"
    videos.mkdir()
    rows = ["path,frame,label,progress"]
    for v in range(20):
        for t, p in enumerate(progress_of(v)):
            rows.append(f"v{v}.mp4,{t},{['start', 'middle', 'end'][min(int(p * 3), 2)]},{p:.6f}")
    (videos / "frames.csv").write_text("\n".join(rows) + "\n")
    return {
        "train": write_folder(root / "train", videos, 0, 10, True, 0),
        "test": write_folder(root / "test", videos, 10, 10, True, 1),
        "random_train": write_folder(root / "random_train", videos, 0, 10, False, 2),
        "random_test": write_folder(root / "random_test", videos, 10, 10, False, 3),
    }


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_phase_with_few_shot_baseline_and_plots(evaluate, folders, tmp_path, capsys):
    out, plot, confusion = tmp_path / "phase.json", tmp_path / "shots.png", tmp_path / "confusion.png"
    args = [
        "phase",
        "--train",
        str(folders["train"]),
        "--test",
        str(folders["test"]),
        "--shots",
        "1",
        "3",
    ]
    args += ["--draws", "3", "--weight-decays", "1e-3", "--out", str(out), "--plot", str(plot)]
    args += [
        "--confusion",
        str(confusion),
        "--baseline",
        str(folders["random_train"]),
        str(folders["random_test"]),
    ]
    assert evaluate(args) == 0
    result = read(out)
    assert result["protocol"] == "phase" and result["inputs"]["test_frames"] == 10 * FRAMES
    assert result["inputs"]["frame_labels"].endswith("frames.csv") and result["inputs"]["phases"] == 3
    assert result["results"]["accuracy"] > 0.8
    assert result["results"]["few_shot"]["3"]["draws"] == 3
    assert result["baseline"]["results"]["accuracy"] < result["results"]["accuracy"]
    table = capsys.readouterr().out
    assert "| 1-shot per action accuracy (mean of 3 draws)" in table and "baseline" in table
    assert result["results"]["actions"] == 2 and set(result["results"]["per_action"]) == {"pour", "lift"}
    assert plot.read_bytes()[:4] == b"\x89PNG" and confusion.read_bytes()[:4] == b"\x89PNG"


def test_progression_reports_r2_and_plots_predictions(evaluate, folders, tmp_path):
    plot = tmp_path / "progress.png"
    args = ["progression", "--train", str(folders["train"]), "--test", str(folders["test"])]
    args += [
        "--plot",
        str(plot),
        "--baseline",
        str(folders["random_train"]),
        str(folders["random_test"]),
    ]
    assert evaluate(args) == 0
    result = read(folders["test"] / "progression.json")  # the default: next to the test folder
    assert result["results"]["r2"] > 0.95
    assert result["baseline"]["results"]["r2"] < 0.3
    assert len(result["results"]["predictions"]) == 10 * FRAMES
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_progression_on_one_folder_split_by_videos_pooled(evaluate, folders, tmp_path):
    out = tmp_path / "split.json"
    args = ["progression", "--embeddings", str(folders["train"]), "--out", str(out), "--pooled"]
    assert evaluate(args) == 0
    document = read(out)
    inputs = document["inputs"]
    assert inputs["split"] == 0.5 and inputs["train_videos"] + inputs["test_videos"] == 10
    assert document["results"]["actions"] == 1 and "per_action" not in document["results"]


def test_kendall_pairs_videos_of_one_class(evaluate, folders, tmp_path, capsys):
    plot = tmp_path / "taus.png"
    args = ["kendall", "--embeddings", str(folders["test"]), "--plot", str(plot)]
    assert evaluate([*args, "--baseline", str(folders["random_test"])]) == 0
    result = read(folders["test"] / "kendall.json")
    assert result["results"]["num_pairs"] == 2 * 5 * 4  # 2 actions of 5 videos, ordered pairs
    assert result["results"]["kendall_tau"] > 0.9
    assert abs(result["baseline"]["results"]["kendall_tau"]) < 0.3
    assert result["settings"]["metric"] == "euclidean"
    assert "Kendall's tau (mean over pairs)" in capsys.readouterr().out
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_errors_are_one_line_with_exit_code_2(evaluate, folders, tmp_path, capsys):
    plain = save_embeddings(
        tmp_path / "plain",
        Embeddings(
            embeddings=np.zeros((2, 3), np.float32), paths=np.array(["a.mp4", "b.mp4"]),
            labels=np.zeros(2, np.int64), classes=np.array(["c"]), groups=np.full(2, ""),
            views=np.full(2, ""), info={"videos": str(tmp_path)},
        ),
    )  # fmt: skip
    assert evaluate(["kendall", "--embeddings", str(plain)]) == 2
    assert "--save-frames" in capsys.readouterr().err
    assert evaluate(["phase", "--embeddings", str(plain)]) == 2
    assert "no per-frame labels" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("path,frame,label\nv0.mp4,zero,x\n")
    args = ["phase", "--train", str(folders["train"]), "--test", str(folders["test"])]
    assert evaluate([*args, "--frame-labels", str(bad)]) == 2
    assert f"{bad}, line 2: frame 'zero' is not a frame index" in capsys.readouterr().err
