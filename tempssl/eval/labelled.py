"""Labelled embedding sets for the protocols: read embedding folders, check them, split them.

Either one folder split into train/test (stratified, seeded, the views of a multi-view scene kept on
one side) or two folders (train, test) whose classes are matched by name. A baseline's folders are
read `like` the main ones: the same videos, in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tempssl.eval import linear
from tempssl.eval.store import ARRAYS, Embeddings, load_embeddings


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
        return folder_of(self.folders[-1]) / f"{protocol}.json"


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
    data = [load_folder(folder) for folder in spec.folders]
    if like is not None:
        data = [
            same_videos(d, ref, folder) for d, ref, folder in zip(data, like, spec.folders, strict=True)
        ]
    for d, folder in zip(data, spec.folders, strict=True):
        if not (np.asarray(d.labels) >= 0).any():
            raise ValueError(
                f"{folder_of(folder)}: no labelled videos (labels are all -1): this protocol needs "
                "class labels; extract embeddings of a labelled source (a folder of classes, or a "
                "manifest with --label-column)"
            )
    sets = _split_one(data[0], spec) if spec.embeddings is not None else _train_test(*data, spec)
    sets.sources = data
    return sets


def require_split(sets: LabelledSets, protocol: str) -> None:
    """A ValueError when `sets` has no training part (one folder used whole)."""
    if sets.train_x is None:
        raise ValueError(f"{protocol} needs a training set: give --train and --test, or --split")


def folder_baseline(baseline: str | Path, main: Embeddings, evaluate) -> dict:
    """The `"baseline"` section of a one-folder protocol: `evaluate` on the baseline folder's
    embeddings of `main`'s videos (`same_videos`), with its inputs."""
    other = same_videos(load_folder(baseline), main, baseline)
    return {
        "inputs": {"embeddings": str(folder_of(baseline)), "videos": len(other)},
        "results": evaluate(other),
    }


def same_videos(data: Embeddings, like: Embeddings, folder: str | Path) -> Embeddings:
    """`data` reordered to `like`'s videos (matched by path); an error when the videos differ."""
    paths, like_paths = np.asarray(data.paths).astype(str), np.asarray(like.paths).astype(str)
    if paths.tolist() == like_paths.tolist():
        return data
    if sorted(paths) != sorted(like_paths) or len(set(paths)) != len(paths):
        raise ValueError(
            f"baseline {folder_of(folder)} holds other videos than the embeddings it is compared with: "
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
            "frame_indices",
        )
    }
    return Embeddings(**arrays, classes=data.classes, info=data.info)


def load_folder(folder: str | Path) -> Embeddings:
    """`load_embeddings`, with the whole command that creates a missing folder."""
    if not (folder_of(folder) / ARRAYS).is_file():
        raise FileNotFoundError(
            f"{folder_of(folder)}: no {ARRAYS} here; create it with `python tools/extract.py "
            f"--checkpoint RUN --videos VIDEOS --out {folder_of(folder)}` (add --save-frames for "
            "alignment and the per-frame protocols)"
        )
    return load_embeddings(folder)


def scene_groups(data: Embeddings) -> np.ndarray:
    """`(N,)` str scene of each video ("" for all when the folder has none)."""
    groups = np.asarray(data.groups).astype(str)
    return groups if len(groups) == len(data) else np.full(len(data), "")


def folder_of(path: str | Path) -> Path:
    """The embedding folder of a folder or of its `embeddings.npz`."""
    path = Path(path)
    return path.parent if path.name == ARRAYS else path


def _split_one(data: Embeddings, spec: DataSpec) -> LabelledSets:
    labelled = np.flatnonzero(np.asarray(data.labels) >= 0)
    x, y = np.asarray(data.embeddings)[labelled], np.asarray(data.labels)[labelled].astype(np.int64)
    groups = scene_groups(data)[labelled]
    classes = [str(c) for c in data.classes]
    num_classes = len(classes) or int(y.max()) + 1
    _check_range(y, classes, spec.embeddings)
    inputs = {
        "embeddings": str(folder_of(spec.embeddings)),
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
            f"train embeddings ({folder_of(spec.train)}) are {dims[0]}-d but test embeddings "
            f"({folder_of(spec.test)}) are {dims[1]}-d: extract both with the same checkpoint and "
            "pooling"
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
                f"test classes unknown to the training set ({folder_of(spec.train)}): {unknown}; "
                f"training classes: {train_classes}"
            )
        test_y = np.array([index[test_classes[y]] for y in test_y], dtype=np.int64)
    classes = train_classes or test_classes
    num_classes = len(classes) or int(max(train_y.max(), test_y.max())) + 1
    inputs = {
        "train": str(folder_of(spec.train)),
        "test": str(folder_of(spec.test)),
        "classes": num_classes,
        "train_videos": len(train_y),
        "test_videos": len(test_y),
        "unlabelled_dropped": (len(train) - len(train_y)) + (len(test) - len(test_y)),
    }
    return LabelledSets(
        np.asarray(test.embeddings)[test_keep], test_y, scene_groups(test)[test_keep],
        np.asarray(train.embeddings)[train_keep], train_y, scene_groups(train)[train_keep],
        classes, num_classes, inputs,
    )  # fmt: skip


def _check_range(labels: np.ndarray, classes: list[str], folder: Path) -> None:
    if classes and len(labels) and labels.max() >= len(classes):
        raise ValueError(
            f"{folder_of(folder)}: label {labels.max()} but only {len(classes)} class names"
        )
