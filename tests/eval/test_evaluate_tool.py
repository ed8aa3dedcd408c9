"""tools/evaluate.py end to end on small embedding folders: JSON results, tables, clear errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tempssl.eval.store import Embeddings, save_embeddings

TOOL = Path(__file__).parents[2] / "tools" / "evaluate.py"
CLASSES = ["circle", "square", "star"]


@pytest.fixture(scope="module")
def evaluate():
    spec = importlib.util.spec_from_file_location("evaluate_tool", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main


def write_folder(
    folder: Path,
    labels,
    classes=CLASSES,
    noise: float = 0.05,
    seed: int = 0,
    dim: int = 6,
    frames: bool = False,
    prefix: str = "v",
) -> Path:
    """Embeddings near the class's axis (separable for small noise); class `c` of `classes` -> axis
    of CLASSES.index(c), so folders with other class orders still agree by name. Views of a scene
    come in pairs (scene i // 2), with 10-frame trajectories at 10 fps when `frames`."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    axis = np.array(
        [CLASSES.index(classes[y]) if y >= 0 and classes[y] in CLASSES else 3 for y in labels]
    )
    x = np.eye(dim)[axis] + noise * rng.normal(size=(len(labels), dim))
    data = Embeddings(
        embeddings=x.astype(np.float32),
        paths=np.array([f"{prefix}{i}.mp4" for i in range(len(labels))]),
        labels=labels.astype(np.int64),
        classes=np.array(classes),
        groups=np.array([f"scene{i // 2}" for i in range(len(labels))]),
        views=np.array([f"view{i % 2}" for i in range(len(labels))]),
    )
    if frames:
        times = np.arange(10) / 10
        angles = np.stack([times, 1.3 * times], axis=1)
        path = np.concatenate([np.cos(angles), np.sin(angles), np.zeros((10, dim - 4))], axis=1)
        data.frame_embeddings = np.repeat(path[None], len(labels), axis=0).astype(np.float32)
        data.frame_times = np.repeat(times[None], len(labels), axis=0)
    return save_embeddings(folder, data)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("emb")
    labels = np.repeat([0, 1, 2], 8)
    return {
        "train": write_folder(root / "train", labels, seed=0, frames=True),
        "test": write_folder(root / "test", labels[::2], seed=1, prefix="t"),
        "random": write_folder(root / "random", labels, noise=10.0, seed=2, frames=True),
        "random_test": write_folder(root / "random_test", labels[::2], noise=10.0, seed=3, prefix="t"),
    }


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_knn_train_test(evaluate, folders, capsys, tmp_path):
    png = tmp_path / "confusion.png"
    args = ["knn", "--train", str(folders["train"]), "--test", str(folders["test"]), "--k", "3", "200"]
    assert evaluate([*args, "--confusion", str(png)] if _has_matplotlib() else args) == 0
    result = read(folders["test"] / "knn.json")  # default: next to the test embeddings
    assert result["protocol"] == "knn"
    assert result["inputs"]["train_videos"] == 24 and result["inputs"]["test_videos"] == 12
    assert result["settings"] == {"ks": [3, 200], "temperature": 0.07}
    assert result["results"]["k"]["3"]["top1"] == 1.0
    assert result["results"]["k"]["200"]["k_used"] == 24
    table = capsys.readouterr().out
    assert "| k=3 top-1" in table and "1.0000" in table and "k=200 (clipped to 24)" in table
    if _has_matplotlib():
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_knn_split_of_one_folder_is_seeded_and_keeps_scenes_whole(evaluate, folders, tmp_path):
    outs = [tmp_path / f"{name}.json" for name in ("a", "b")]
    for out in outs:
        argv = ["knn", "--embeddings", str(folders["train"] / "embeddings.npz"), "--split", "0.5"]
        assert evaluate([*argv, "--seed", "3", "--out", str(out)]) == 0
    first, second = read(outs[0]), read(outs[1])
    assert first == second
    inputs = first["inputs"]
    assert (inputs["train_videos"], inputs["test_videos"]) == (12, 12)  # 2 of 4 scenes per class
    assert first["results"]["k"]["20"]["top1"] == 1.0


def test_linear(evaluate, folders, tmp_path):
    out = tmp_path / "linear.json"
    argv = [
        "linear",
        "--train",
        str(folders["train"]),
        "--test",
        str(folders["test"]),
        "--out",
        str(out),
    ]
    assert evaluate([*argv, "--weight-decays", "1e-4", "1e-2"]) == 0
    result = read(out)["results"]
    assert (result["top1"], result["optimizer"]) == (1.0, "lbfgs")
    assert result["weight_decay"] in (1e-4, 1e-2)
    assert set(result["val_top1"]) == {"0.0001", "0.01"}
    assert evaluate([*argv, "--optimizer", "sgd", "--weight-decays", "1e-4"]) == 0
    assert read(out)["results"]["top1"] == 1.0


def test_retrieval_leave_one_out(evaluate, folders):
    assert evaluate(["retrieval", "--embeddings", str(folders["train"]), "--ks", "1", "5"]) == 0
    result = read(folders["train"] / "retrieval.json")
    assert result["inputs"]["split"] is None
    assert result["results"]["recall"] == {"1": 1.0, "5": 1.0}
    assert result["results"]["map"] == pytest.approx(1.0)


def test_classes_are_matched_by_name(evaluate, tmp_path, folders):
    # The test folder lists its classes in another order (and only two of them).
    reordered = write_folder(tmp_path / "reordered", [0, 0, 1, 1], classes=["star", "circle"], seed=4)
    assert evaluate(["knn", "--train", str(folders["train"]), "--test", str(reordered), "--k", "3"]) == 0
    result = read(reordered / "knn.json")["results"]["k"]["3"]
    assert result["top1"] == 1.0
    assert result["per_class"] == [1.0, None, 1.0]  # circle, square (no queries), star


def test_baseline_is_reported_alongside(evaluate, folders, capsys, tmp_path):
    out = tmp_path / "knn.json"
    argv = ["knn", "--train", str(folders["train"]), "--test", str(folders["test"]), "--out", str(out)]
    assert evaluate([*argv, "--baseline", str(folders["random"]), str(folders["random_test"])]) == 0
    result = read(out)
    assert result["results"]["k"]["20"]["top1"] == 1.0
    assert result["baseline"]["results"]["k"]["20"]["top1"] < 1.0
    assert result["baseline"]["inputs"]["train"] == str(folders["random"])
    header = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| metric"))
    assert "embeddings" in header and "baseline" in header

    assert (
        evaluate(
            ["alignment", "--embeddings", str(folders["train"]), "--baseline", str(folders["random"])]
        )
        == 0
    )
    assert read(folders["train"] / "alignment.json")["baseline"]["results"]["num_pairs"] == 24


def test_alignment(evaluate, folders, tmp_path):
    plot, trajectories = tmp_path / "curve.png", tmp_path / "traj.png"
    argv = ["alignment", "--embeddings", str(folders["train"])]
    if _has_matplotlib():
        argv += ["--plot", str(plot), "--trajectories", str(trajectories)]
    assert evaluate(argv) == 0
    result = read(folders["train"] / "alignment.json")["results"]
    assert (result["num_scenes"], result["num_pairs"]) == (12, 24)
    assert (result["error_frames"], result["error_seconds"], result["kendall_tau"]) == (0.0, 0.0, 1.0)
    if _has_matplotlib():
        assert plot.stat().st_size > 0 and trajectories.stat().st_size > 0


def test_errors(evaluate, folders, tmp_path, capsys):
    def error(argv) -> str:
        assert evaluate(argv) == 2
        return capsys.readouterr().err

    train = str(folders["train"])
    missing = error(["knn", "--train", train, "--test", str(tmp_path / "nowhere")])
    assert "nowhere: no embeddings.npz" in missing and "tools/extract.py" in missing

    unlabelled = write_folder(tmp_path / "unlabelled", [-1, -1, -1, -1])
    assert "labels are all -1" in error(["knn", "--embeddings", str(unlabelled)])
    assert "labels are all -1" in error(["linear", "--train", train, "--test", str(unlabelled)])

    wide = write_folder(tmp_path / "wide", [0, 1], dim=8)
    assert "are 6-d but test embeddings" in error(["knn", "--train", train, "--test", str(wide)])

    unknown = write_folder(tmp_path / "unknown", [0, 1], classes=["circle", "hexagon"])
    message = error(["knn", "--train", train, "--test", str(unknown)])
    assert "unknown to the training set" in message and "hexagon" in message

    no_frames = error(["alignment", "--embeddings", str(folders["test"])])
    assert "no frame embeddings" in no_frames and "--save-frames" in no_frames

    assert "does not apply" in error(["knn", "--train", train, "--test", train, "--split", "0.3"])
    assert "go together" in error(["knn", "--train", train])
    assert "TRAIN TEST" in error(["knn", "--train", train, "--test", train, "--baseline", train])
    other = write_folder(tmp_path / "other", np.repeat([0, 1, 2], 8), prefix="other")
    assert "other videos" in error(["knn", "--embeddings", train, "--baseline", str(other)])


def test_plots_say_how_to_install_matplotlib(monkeypatch):
    import sys

    from tempssl.eval import plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r"pip install matplotlib.*\.\[plots\]"):
        plots.plot_confusion([[1]], ["a"], "unused.png")


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
