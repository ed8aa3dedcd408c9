"""Run the evaluation protocols on embedding folders and report them: what `tools/evaluate.py` calls.

Every command reads embedding folders (`tempssl.eval.store`), checks them (labels present, same
dimension, class names that match), runs one protocol (optionally on a baseline's folders too, e.g.
the same videos embedded by the randomly initialized network), prints a table and writes a JSON
result atomically:

    {"protocol": "knn", "inputs": {...}, "settings": {...}, "results": {...},
     "baseline": {"inputs": {...}, "results": {...}}}      # "baseline" only with one

`order_command` is the exception: order verification scores a checkpoint's own head on tuples of
held-out videos, so it reads a checkpoint and videos instead of embedding folders.

Adding a protocol: a `<name>_command` function here (load, evaluate, `report`) and a subcommand in
`tools/evaluate.py` that parses its options and calls it.
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

import numpy as np

from tempssl.atomic import atomic_path
from tempssl.eval import alignment, knn, linear, retrieval
from tempssl.eval.store import ARRAYS, Embeddings, load_embeddings

Rows = list[tuple[str, object]]


@dataclass(frozen=True)
class DataSpec:
    """Where the labelled embeddings of a protocol come from.

    Either `train` and `test` folders, or one `embeddings` folder split into train/test by a
    stratified, seeded `split` (the held-out fraction; scenes of multi-view sources are kept whole)
    or, with `split=None`, used whole as its own gallery (retrieval only).
    """

    embeddings: Path | None = None
    train: Path | None = None
    test: Path | None = None
    split: float | None = None
    seed: int = 0

    def __post_init__(self):
        if (self.embeddings is None) == (self.train is None and self.test is None):
            raise ValueError("give either --embeddings, or --train and --test")
        if self.embeddings is None and (self.train is None or self.test is None):
            raise ValueError("--train and --test go together")
        if self.embeddings is None and self.split is not None:
            raise ValueError(
                "--split splits one --embeddings folder; it does not apply to --train/--test"
            )

    @property
    def folders(self) -> list[Path]:
        return [self.embeddings] if self.embeddings is not None else [self.train, self.test]

    def with_folders(self, folders: Sequence[str | Path]) -> DataSpec:
        """The same split of other folders (one for `embeddings`, two for `train`/`test`)."""
        if len(folders) != len(self.folders):
            what = "one folder (like --embeddings)" if self.embeddings else "two folders: TRAIN TEST"
            raise ValueError(f"--baseline takes {what}, got {len(folders)}")
        if self.embeddings is not None:
            return replace(self, embeddings=Path(folders[0]))
        return replace(self, train=Path(folders[0]), test=Path(folders[1]))

    def default_out(self, protocol: str) -> Path:
        """`<embeddings or test folder>/<protocol>.json`."""
        return _folder(self.folders[-1]) / f"{protocol}.json"


@dataclass
class LabelledSets:
    """Labelled train (bank, gallery) and test (query) embeddings with one class indexing.

    `train_*` is None when the one set is its own gallery (`DataSpec.split` None).
    """

    test_x: np.ndarray  # (Q, D) float32
    test_y: np.ndarray  # (Q,) int64
    test_groups: np.ndarray  # (Q,) str
    train_x: np.ndarray | None
    train_y: np.ndarray | None
    train_groups: np.ndarray | None
    classes: list[str]
    num_classes: int
    inputs: dict
    sources: list[Embeddings] = field(default_factory=list, repr=False)  # the folders as read


def knn_command(
    spec: DataSpec,
    ks: Sequence[int] = (20, 200),
    temperature: float = 0.07,
    out: str | Path | None = None,
    confusion: str | Path | None = None,
    baseline: Sequence[str | Path] | None = None,
    stream: TextIO | None = None,
) -> dict:
    """kNN classification (`tempssl.eval.knn.knn_evaluate`); `confusion`: a PNG of the first k's."""
    settings = {"ks": [int(k) for k in ks], "temperature": temperature}

    def evaluate(sets: LabelledSets) -> dict:
        _require_split(sets, "knn")
        return knn.knn_evaluate(
            sets.train_x, sets.train_y, sets.test_x, sets.test_y, ks, temperature, sets.num_classes
        )

    def rows(result: dict) -> Rows:
        table = []
        for k, r in result["k"].items():
            clipped = "" if r["k_used"] == int(k) else f" (clipped to {r['k_used']})"
            table += [
                (f"k={k}{clipped} top-1", r["top1"]),
                (f"k={k}{clipped} top-5", r["top5"]),
                (f"k={k}{clipped} mean per-class", _mean(r["per_class"])),
            ]
        return table

    document, sets = _run_labelled("knn", spec, evaluate, rows, settings, out, baseline, stream)
    if confusion is not None:
        from tempssl.eval.plots import plot_confusion

        k = str(settings["ks"][0])
        plot_confusion(
            document["results"]["k"][k]["confusion"],
            sets.classes,
            confusion,
            title=f"kNN (k={k}) confusion",
        )
    return document


def linear_command(
    spec: DataSpec,
    optimizer: str = "lbfgs",
    weight_decays: Sequence[float] = linear.DEFAULT_WEIGHT_DECAYS,
    val_fraction: float = 0.2,
    out: str | Path | None = None,
    baseline: Sequence[str | Path] | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Linear probe (`tempssl.eval.linear.linear_probe`), seeded by `spec.seed`."""
    settings = {
        "optimizer": optimizer,
        "weight_decays": [float(d) for d in weight_decays],
        "val_fraction": val_fraction,
    }

    def evaluate(sets: LabelledSets) -> dict:
        _require_split(sets, "linear")
        return linear.linear_probe(
            sets.train_x, sets.train_y, sets.test_x, sets.test_y, weight_decays, optimizer,
            val_fraction, spec.seed, sets.num_classes, groups=sets.train_groups,
        )  # fmt: skip

    def rows(result: dict) -> Rows:
        return [
            ("top-1", result["top1"]),
            ("top-5", result["top5"]),
            ("mean per-class", _mean(result["per_class"])),
            ("weight decay (chosen)", f"{result['weight_decay']:g}"),
            ("val top-1 (chosen)", result["val_top1"].get(f"{result['weight_decay']:g}")),
        ]

    return _run_labelled("linear", spec, evaluate, rows, settings, out, baseline, stream)[0]


def retrieval_command(
    spec: DataSpec,
    ks: Sequence[int] = (1, 5, 10),
    out: str | Path | None = None,
    baseline: Sequence[str | Path] | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Class retrieval (`tempssl.eval.retrieval.retrieval_evaluate`): test queries against the train
    gallery, or leave-one-out within one folder when `spec.split` is None."""
    settings = {"ks": [int(k) for k in ks]}

    def evaluate(sets: LabelledSets) -> dict:
        # Other views of the query's scene are excluded within one folder only: scene names of
        # two folders may repeat without being the same scene (and a split keeps scenes whole).
        groups = sets.test_groups if sets.train_x is None else None
        return retrieval.retrieval_evaluate(
            sets.test_x, sets.test_y, sets.train_x, sets.train_y, ks, query_groups=groups
        )

    def rows(result: dict) -> Rows:
        return [(f"recall@{k}", v) for k, v in result["recall"].items()] + [("mAP", result["map"])]

    return _run_labelled("retrieval", spec, evaluate, rows, settings, out, baseline, stream)[0]


def alignment_command(
    embeddings: str | Path,
    metric: str = "cosine",
    out: str | Path | None = None,
    plot: str | Path | None = None,
    trajectories: str | Path | None = None,
    baseline: str | Path | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Multi-view alignment (`tempssl.eval.alignment`) of every scene of one embedding folder.

    `plot`: a PNG of the alignment curves; `trajectories`: a PNG of the PCA trajectories of the
    first videos' frame embeddings.
    """
    main = _load(embeddings)
    alignments = alignment.align_scenes(main, metric)
    document = {
        "protocol": "alignment",
        "inputs": {"embeddings": str(_folder(embeddings)), "videos": len(main)},
        "settings": {"metric": metric},
        "results": alignment.summarize(alignments),
    }
    if baseline is not None:
        other = _same_videos(_load(baseline), main, baseline)
        document["baseline"] = {
            "inputs": {"embeddings": str(_folder(baseline)), "videos": len(other)},
            "results": alignment.summarize(alignment.align_scenes(other, metric)),
        }

    def rows(result: dict) -> Rows:
        return [
            ("error (frames of B)", result["error_frames"]),
            ("error (seconds)", result["error_seconds"]),
            ("Kendall's tau", result["kendall_tau"]),
            ("view pairs", result["num_pairs"]),
        ]

    report(document, rows, out or _folder(embeddings) / "alignment.json", stream)
    if plot is not None or trajectories is not None:
        from tempssl.eval import plots

        if plot is not None:
            plots.plot_alignment(alignments, plot)
        if trajectories is not None:
            names = ["/".join(Path(p).parts[-2:]) for p in main.paths]  # e.g. scene_0001/view0.mp4
            plots.plot_trajectories(main.frame_embeddings, trajectories, names, main.frame_times)
    return document


def order_command(
    checkpoint: str | Path,
    videos: str,
    layout: str = "auto",
    tuples_per_video: int = 10,
    seed: int = 0,
    window: int | None = None,
    outer_gap: int | None = None,
    batch_size: int = 64,
    num_workers: int = 2,
    out: str | Path | None = None,
    baseline: str | Path | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
) -> dict:
    """Order-verification accuracy (`tempssl.eval.order`) of a checkpoint on held-out `videos`.

    `baseline`: "random" (the run's network before training) or another checkpoint, scored on
    the same tuples. Default `out`: `order.json` in the run folder.
    """
    import torch

    from tempssl.data.sampling import TupleSampler
    from tempssl.data.sources import load_source
    from tempssl.engine.build import initial_model
    from tempssl.eval.checkpoints import find_config, load_method
    from tempssl.eval.order import order_accuracy, order_tuples

    device = "cuda" if torch.cuda.is_available() else "cpu"
    method, cfg, resolved = load_method(checkpoint, device=device)
    source = load_source(videos, layout, progress=progress)
    tuples = order_tuples(source, cfg, tuples_per_video, seed, window, outer_gap)

    # the share of ordered tuples the head trained on: the run's, else TupleSampler's default
    trained_prior = inspect.signature(TupleSampler).parameters["positive_fraction"].default
    if cfg.sampler.name == "tuples":
        trained_prior = cfg.sampler.args.get("positive_fraction", trained_prior)

    def evaluate(model) -> dict:
        return order_accuracy(model, tuples, batch_size, num_workers, device, progress, trained_prior)

    sampler = tuples.sampler
    document = {
        "protocol": "order",
        "inputs": {"checkpoint": str(resolved), "videos": str(videos)},
        "settings": {
            "tuples_per_video": tuples_per_video,
            "seed": seed,
            "window": sampler.window,
            "outer_gap": sampler.outer_gap,
            "accept_reversed": sampler.accept_reversed,
            "positive_fraction": sampler.positive_fraction,
        },
        "results": evaluate(method),
    }
    if baseline is not None:
        if str(baseline) == "random":
            other, name = initial_model(cfg), "random init"
        else:
            other, _, other_path = load_method(baseline, device=device)
            name = str(other_path)
        document["baseline"] = {"inputs": {"checkpoint": name}, "results": evaluate(other)}

    def rows(result: dict) -> Rows:
        return [
            ("accuracy", result["accuracy"]),
            ("balanced accuracy", result["balanced_accuracy"]),
            (
                f"balanced accuracy, threshold for the training prior {trained_prior}",
                result["balanced_accuracy_prior_corrected"],
            ),
            ("ROC-AUC", result["roc_auc"]),
            ("ordered tuples: accuracy", result["ordered_accuracy"]),
            ("shuffled tuples: accuracy", result["shuffled_accuracy"]),
            ("tuples", result["tuples"]),
            ("videos (too short: skipped)", f"{result['videos']} ({result['skipped_videos']})"),
        ]

    report(document, rows, out or find_config(resolved).parent / "order.json", stream, "trained")
    return document


def report(
    document: dict,
    rows: Callable[[dict], Rows],
    out: str | Path,
    stream: TextIO | None = None,
    column: str = "embeddings",
) -> Path:
    """Write `document` as JSON to `out` (atomically), then print its table to `stream`.

    Args:
        document: `{"protocol", "inputs", "results", optional "baseline": {"results"}}`.
        rows: `(metric, value)` rows of one `results` dict.
        out: the JSON file.
        stream: where the table goes (default: standard output).
        column: the heading of the results' column (the baseline's is "baseline").

    Returns:
        `out`.
    """
    out, stream = write_json(out, document), stream or sys.stdout
    columns = {column: rows(document["results"])}
    if "baseline" in document:
        columns["baseline"] = rows(document["baseline"]["results"])
    inputs = ", ".join(f"{k} {v}" for k, v in document["inputs"].items() if v is not None)
    print(f"{document['protocol']}: {inputs}", file=stream)
    print(format_table(columns), file=stream)
    print(f"wrote {out}", file=stream)
    return out


def format_table(columns: dict[str, Rows]) -> str:
    """A Markdown table with aligned columns: one row per metric, one column per result set.

    Args:
        columns: `{column name: [(metric, value), ...]}`; metrics are taken in first-seen order;
            floats print with 4 decimals, None and NaN as "-".

    Returns:
        The table, without a trailing newline.
    """
    metrics = list(dict.fromkeys(metric for rows in columns.values() for metric, _ in rows))
    values = {name: dict(rows) for name, rows in columns.items()}
    table = [["metric", *columns]] + [
        [metric, *(_cell(values[name].get(metric)) for name in columns)] for metric in metrics
    ]
    widths = [max(3, *(len(row[i]) for row in table)) for i in range(len(table[0]))]
    rule = ["-" * widths[0]] + ["-" * (w - 1) + ":" for w in widths[1:]]  # numbers right-aligned
    lines = [
        [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        for row in [table[0], rule, *table[1:]]
    ]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def write_json(path: str | Path, document: dict) -> Path:
    """Write `document` as indented JSON atomically (see `atomic_path`).

    numpy scalars and arrays become numbers and lists; NaN and infinities become null.
    """
    text = json.dumps(_jsonable(document), indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def load_labelled(spec: DataSpec, like: Sequence[Embeddings] | None = None) -> LabelledSets:
    """Read the folders of `spec`, keep the labelled videos, split, and index classes consistently.

    Args:
        spec: the folders and split.
        like: the already read folders of the main embeddings when `spec` is a baseline: the
            baseline's videos are reordered to theirs (and must be the same videos).

    Raises:
        FileNotFoundError: a folder without embeddings (the message says how to extract them).
        ValueError: no labelled videos, embeddings of different dimensions, test classes unknown to
            the training folder, or a baseline of other videos.
    """
    data = [_load(folder) for folder in spec.folders]
    if like is not None:
        data = [
            _same_videos(d, ref, folder) for d, ref, folder in zip(data, like, spec.folders, strict=True)
        ]
    for d, folder in zip(data, spec.folders, strict=True):
        if not (np.asarray(d.labels) >= 0).any():
            raise ValueError(
                f"{_folder(folder)}: no labelled videos (labels are all -1): this protocol needs class "
                "labels; extract embeddings of a labelled source (a folder of classes, or a manifest "
                "with --label-column)"
            )
    sets = _split_one(data[0], spec) if spec.embeddings is not None else _train_test(*data, spec)
    sets.sources = data
    return sets


def _run_labelled(
    protocol: str,
    spec: DataSpec,
    evaluate: Callable[[LabelledSets], dict],
    rows: Callable[[dict], Rows],
    settings: dict,
    out: str | Path | None,
    baseline: Sequence[str | Path] | None,
    stream: TextIO | None,
) -> tuple[dict, LabelledSets]:
    sets = load_labelled(spec)
    document = {
        "protocol": protocol,
        "inputs": sets.inputs,
        "settings": settings,
        "results": evaluate(sets),
    }
    if baseline is not None:
        baseline_spec = spec.with_folders(baseline)
        baseline_sets = load_labelled(baseline_spec, like=sets.sources)
        document["baseline"] = {"inputs": baseline_sets.inputs, "results": evaluate(baseline_sets)}
    report(document, rows, out or spec.default_out(protocol), stream)
    return document, sets


def _require_split(sets: LabelledSets, protocol: str) -> None:
    if sets.train_x is None:
        raise ValueError(f"{protocol} needs a training set: give --train and --test, or --split")


def _split_one(data: Embeddings, spec: DataSpec) -> LabelledSets:
    labelled = np.flatnonzero(np.asarray(data.labels) >= 0)
    x, y = np.asarray(data.embeddings)[labelled], np.asarray(data.labels)[labelled].astype(np.int64)
    groups = _groups(data)[labelled]
    classes = [str(c) for c in data.classes]
    num_classes = len(classes) or int(y.max()) + 1
    _check_range(y, classes, spec.embeddings)
    inputs = {
        "embeddings": str(_folder(spec.embeddings)),
        "split": spec.split,
        "seed": spec.seed,
        "classes": num_classes,
        "unlabelled_dropped": len(data) - len(labelled),
    }
    if spec.split is None:
        return LabelledSets(
            x, y, groups, None, None, None, classes, num_classes, {**inputs, "videos": len(y)}
        )
    train, test = linear.stratified_split(y, spec.split, spec.seed, groups)
    if len(test) == 0:
        raise ValueError(f"--split {spec.split} holds out no video: raise it or add videos")
    inputs.update(train_videos=len(train), test_videos=len(test))
    return LabelledSets(
        x[test], y[test], groups[test], x[train], y[train], groups[train], classes, num_classes, inputs
    )


def _train_test(train: Embeddings, test: Embeddings, spec: DataSpec) -> LabelledSets:
    dims = np.asarray(train.embeddings).shape[1], np.asarray(test.embeddings).shape[1]
    if dims[0] != dims[1]:
        raise ValueError(
            f"train embeddings ({_folder(spec.train)}) are {dims[0]}-d but test embeddings "
            f"({_folder(spec.test)}) are {dims[1]}-d: extract both with the same checkpoint and pooling"
        )
    train_classes, test_classes = [str(c) for c in train.classes], [str(c) for c in test.classes]
    train_keep = np.flatnonzero(np.asarray(train.labels) >= 0)
    test_keep = np.flatnonzero(np.asarray(test.labels) >= 0)
    train_y = np.asarray(train.labels)[train_keep].astype(np.int64)
    test_y = np.asarray(test.labels)[test_keep].astype(np.int64)
    _check_range(train_y, train_classes, spec.train)
    _check_range(test_y, test_classes, spec.test)
    if train_classes and test_classes:
        index = {name: i for i, name in enumerate(train_classes)}
        unknown = sorted({test_classes[y] for y in test_y} - index.keys())
        if unknown:
            raise ValueError(
                f"test classes unknown to the training set ({_folder(spec.train)}): {unknown}; "
                f"training classes: {train_classes}"
            )
        test_y = np.array([index[test_classes[y]] for y in test_y], dtype=np.int64)
    classes = train_classes or test_classes
    num_classes = len(classes) or int(max(train_y.max(), test_y.max())) + 1
    inputs = {
        "train": str(_folder(spec.train)),
        "test": str(_folder(spec.test)),
        "classes": num_classes,
        "train_videos": len(train_y),
        "test_videos": len(test_y),
        "unlabelled_dropped": (len(train) - len(train_y)) + (len(test) - len(test_y)),
    }
    return LabelledSets(
        np.asarray(test.embeddings)[test_keep], test_y, _groups(test)[test_keep],
        np.asarray(train.embeddings)[train_keep], train_y, _groups(train)[train_keep],
        classes, num_classes, inputs,
    )  # fmt: skip


def _check_range(labels: np.ndarray, classes: list[str], folder: Path) -> None:
    if classes and len(labels) and labels.max() >= len(classes):
        raise ValueError(f"{_folder(folder)}: label {labels.max()} but only {len(classes)} class names")


def _same_videos(data: Embeddings, like: Embeddings, folder: str | Path) -> Embeddings:
    """`data` reordered to `like`'s videos (matched by path); an error when the videos differ."""
    paths, like_paths = np.asarray(data.paths).astype(str), np.asarray(like.paths).astype(str)
    if paths.tolist() == like_paths.tolist():
        return data
    if sorted(paths) != sorted(like_paths) or len(set(paths)) != len(paths):
        raise ValueError(
            f"baseline {_folder(folder)} holds other videos than the embeddings it is compared with: "
            "extract it from the same source"
        )
    position = {path: i for i, path in enumerate(paths)}
    order = np.array([position[p] for p in like_paths], dtype=np.int64)
    arrays = {
        name: None if getattr(data, name) is None else np.asarray(getattr(data, name))[order]
        for name in (
            "embeddings",
            "paths",
            "labels",
            "groups",
            "views",
            "frame_embeddings",
            "frame_times",
        )
    }
    return Embeddings(**arrays, classes=data.classes, info=data.info)


def _load(folder: str | Path) -> Embeddings:
    """`load_embeddings`, with the whole command that creates a missing folder."""
    if not (_folder(folder) / ARRAYS).is_file():
        raise FileNotFoundError(
            f"{_folder(folder)}: no {ARRAYS} here; create it with `python tools/extract.py --checkpoint "
            f"RUN --videos VIDEOS --out {_folder(folder)}` (add --save-frames for alignment)"
        )
    return load_embeddings(folder)


def _groups(data: Embeddings) -> np.ndarray:
    groups = np.asarray(data.groups).astype(str)
    return groups if len(groups) == len(data) else np.full(len(data), "")


def _folder(path: str | Path) -> Path:
    path = Path(path)
    return path.parent if path.name == ARRAYS else path


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value
