"""Per-frame labels for the per-frame protocols: read a label CSV, attach it to embedding folders, split.

The CSV (one row per labelled frame; the toy dataset writes its `frames.csv` in this format)::

    path,frame,label,progress
    train/scene_0000/view0.mp4,0,accelerate,0.000000
    train/scene_0000/view0.mp4,1,accelerate,0.002140
    ...

- `path`: the video, relative to the CSV's folder or absolute (as in the manifests of
  `tempssl.data.sources.manifest`);
- `frame`: the frame's index in its video, from 0;
- `label`: the frame's phase (any name; classes are numbered in the order they first appear);
- `progress` (optional column): a number per frame, the frame's progress through its action
  (typically 0 at the start, 1 at the end), the target of the progression protocol.

Extra columns are ignored. Every frame an extraction sampled (its `frame_indices`) must have a row;
videos of the embedding folder without any row are left out and counted.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tempssl.data.toy import toy_root
from tempssl.eval import linear
from tempssl.eval.labelled import DataSpec, folder_of, load_folder, same_videos, scene_groups
from tempssl.eval.store import Embeddings

FRAME_LABELS = "frames.csv"
REQUIRED_COLUMNS = ("path", "frame", "label")


@dataclass
class FrameLabels:
    """A per-frame label CSV as read.

    Attributes:
        path: the CSV file.
        classes: the label names, in order of first appearance (label indices index them).
        labels: resolved video path -> {frame index: label index}.
        progress: resolved video path -> {frame index: progress}; None without a progress column.
    """

    path: Path
    classes: list[str]
    labels: dict[str, dict[int, int]]
    progress: dict[str, dict[int, float]] | None


@dataclass
class LabelledVideos:
    """Per-frame embeddings and labels of some videos (one side of a split).

    Frames are in time order; padding frames (no index) are dropped, so videos may differ in length.
    """

    frames: list[np.ndarray]  # per video (T_i, D) float32
    labels: list[np.ndarray]  # per video (T_i,) int64, indices into the classes
    progress: list[np.ndarray] | None  # per video (T_i,) float64; None without a progress column
    paths: list[str]
    actions: list[str]  # per video, its class name (e.g. the toy action); "" when unlabelled
    scenes: list[str]  # per video, its multi-view scene; "" when none

    def __len__(self) -> int:
        return len(self.frames)

    def of_action(self, action: str) -> LabelledVideos:
        """The videos of one class."""
        return _subset(self, np.flatnonzero(np.array(self.actions) == action))

    def stacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """All frames `(F, D)`, labels `(F,)`, progress `(F,)` or None, and `(F,)` str the unit
        a validation split must keep whole: the frame's scene, else its video."""
        units = [scene or f"video {i}" for i, scene in enumerate(self.scenes)]
        video = np.concatenate([np.full(len(f), u) for u, f in zip(units, self.frames, strict=True)])
        progress = None if self.progress is None else np.concatenate(self.progress)
        return np.concatenate(self.frames), np.concatenate(self.labels), progress, video


@dataclass
class FrameSets:
    """Train and test videos with per-frame labels, and where they came from."""

    train: LabelledVideos
    test: LabelledVideos
    classes: list[str]
    inputs: dict
    sources: list[Embeddings] = field(default_factory=list, repr=False)


def read_frame_labels(csv_path: str | Path) -> FrameLabels:
    """Read a per-frame label CSV (format in the module docstring).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a missing column, or a bad row: the message names the file, the line and what
            was expected (a frame index, a label, a finite progress number, one row per frame).
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"per-frame labels {csv_path} not found")
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise ValueError(
                f"{csv_path}: no column(s) {', '.join(missing)}; columns are {columns} (expected a "
                "header row 'path,frame,label' with an optional 'progress' column)"
            )
        has_progress = "progress" in columns
        classes: dict[str, int] = {}
        labels: dict[str, dict[int, int]] = {}
        progress: dict[str, dict[int, float]] = {}
        for row in reader:
            where = f"{csv_path}, line {reader.line_num}"
            if None in row.values() or None in row:
                raise ValueError(f"{where}: expected {len(columns)} fields ({','.join(columns)})")
            if not row["path"]:
                raise ValueError(f"{where}: empty path (expected a video path)")
            video = str((csv_path.parent / row["path"]).resolve())
            frame = _frame_index(row["frame"], where)
            name = row["label"].strip()
            if not name:
                raise ValueError(f"{where}: empty label (expected the frame's phase name)")
            if frame in labels.setdefault(video, {}):
                raise ValueError(f"{where}: a second row for frame {frame} of {row['path']}")
            labels[video][frame] = classes.setdefault(name, len(classes))
            if has_progress:
                progress.setdefault(video, {})[frame] = _progress(row["progress"], where)
    if not labels:
        raise ValueError(f"{csv_path}: no rows (expected one row per labelled frame)")
    return FrameLabels(csv_path, list(classes), labels, progress if has_progress else None)


def default_labels_path(data: Embeddings, folder: str | Path) -> Path:
    """Where the per-frame labels of an embedding folder's videos are, unless given.

    `frames.csv` in the root of the source the folder was extracted from (its sidecar's `videos`):
    the toy dataset's folder for `toy:<split>`, a manifest's folder, or the video folder itself.

    Raises:
        FileNotFoundError: the sidecar names no source, or there is no `frames.csv` there.
    """
    videos = data.info.get("videos")
    if videos is None:
        raise FileNotFoundError(
            f"{folder_of(folder)}: its embeddings.json names no videos, so the per-frame labels cannot "
            "be found: give them with --frame-labels CSV (columns path,frame,label[,progress])"
        )
    if str(videos).startswith("toy:"):
        root = toy_root(progress=False)
    else:
        root = Path(videos).expanduser()
        root = root.parent if root.is_file() else root
    path = root / FRAME_LABELS
    if not path.is_file():
        raise FileNotFoundError(
            f"no per-frame labels for the videos of {folder_of(folder)} ({videos}): looked for "
            f"{path}; give them with --frame-labels CSV (columns path,frame,label[,progress])"
        )
    return path


def load_frame_sets(
    spec: DataSpec,
    labels_csv: str | Path | None = None,
    need_progress: bool = False,
    like: list[Embeddings] | None = None,
) -> FrameSets:
    """Read the folders of `spec`, attach per-frame labels, and split the videos into train/test.

    Args:
        spec: the folders and split; one folder is split by videos (stratified by the videos' own
            labels when they have them, the views of a multi-view scene kept on one side).
        labels_csv: the per-frame label CSV (default: `default_labels_path` of the first folder).
        need_progress: the protocol needs the CSV's `progress` column.
        like: the already read folders of the main embeddings when `spec` is a baseline (the same
            videos, reordered to theirs).

    Raises:
        FileNotFoundError: a folder without embeddings, or no label CSV.
        ValueError: folders without frame embeddings, a CSV without progress when it is needed, a
            sampled frame without a label, no labelled video, or too few videos to split.
    """
    data = [load_folder(folder) for folder in spec.folders]
    if like is not None:
        data = [same_videos(d, ref, f) for d, ref, f in zip(data, like, spec.folders, strict=True)]
    path = Path(labels_csv) if labels_csv is not None else default_labels_path(data[0], spec.folders[0])
    labels = read_frame_labels(path)
    if need_progress and labels.progress is None:
        raise ValueError(
            f"{path}: no 'progress' column: the progression protocol regresses each frame's "
            "progress (add a column 'progress', e.g. 0 at the action's start to 1 at its end)"
        )
    inputs: dict = {"frame_labels": str(path), "phases": len(labels.classes)}
    if spec.embeddings is not None:
        videos, keep = _label_videos(data[0], labels, spec.embeddings)
        if spec.split is None:
            raise ValueError("the per-frame protocols need a training set: give --split or --train")
        video_labels = np.asarray(data[0].labels)[keep]
        train, test = linear.stratified_split(
            video_labels, spec.split, spec.seed, scene_groups(data[0])[keep]
        )
        if len(test) == 0 or len(train) == 0:
            raise ValueError(
                f"--split {spec.split} of {len(keep)} labelled videos leaves one side empty: "
                "change it or add videos"
            )
        inputs.update(embeddings=str(folder_of(spec.embeddings)), split=spec.split, seed=spec.seed)
        sides = [_subset(videos, train), _subset(videos, test)]
        unlabelled = len(data[0]) - len(keep)
    else:
        (train_side, train_keep), (test_side, test_keep) = (
            _label_videos(d, labels, f) for d, f in zip(data, spec.folders, strict=True)
        )
        inputs.update(train=str(folder_of(spec.train)), test=str(folder_of(spec.test)))
        sides = [train_side, test_side]
        unlabelled = len(data[0]) + len(data[1]) - len(train_keep) - len(test_keep)
    inputs.update(
        train_videos=len(sides[0]),
        test_videos=len(sides[1]),
        train_frames=sum(len(f) for f in sides[0].frames),
        test_frames=sum(len(f) for f in sides[1].frames),
        unlabelled_dropped=unlabelled,
    )
    return FrameSets(sides[0], sides[1], labels.classes, inputs, data)


def video_frames(data: Embeddings, folder: str | Path) -> list[np.ndarray]:
    """Each video's frame embeddings `(T_i, D)` in time order, padding frames dropped.

    Raises:
        ValueError: the folder has no frame embeddings.
    """
    _require_frames(data, folder, need_indices=False)
    times = np.asarray(data.frame_times, dtype=np.float64)
    frames = np.asarray(data.frame_embeddings, dtype=np.float32)
    return [f[np.isfinite(t)] for f, t in zip(frames, times, strict=True)]


def _label_videos(
    data: Embeddings, labels: FrameLabels, folder: str | Path
) -> tuple[LabelledVideos, np.ndarray]:
    """The videos of `data` that the CSV labels, and their positions in `data`."""
    _require_frames(data, folder, need_indices=True)
    indices = np.asarray(data.frame_indices, dtype=np.int64)
    frames = np.asarray(data.frame_embeddings, dtype=np.float32)
    keep, out_frames, out_labels, out_progress, paths, actions = [], [], [], [], [], []
    names, groups = [str(c) for c in data.classes], scene_groups(data)
    for i, path in enumerate(np.asarray(data.paths).astype(str)):
        video = str(Path(path).resolve())
        rows = labels.labels.get(video)
        if rows is None:
            continue
        valid = indices[i] >= 0
        sampled = indices[i][valid].tolist()
        missing = [t for t in sampled if t not in rows]
        if missing:
            raise ValueError(
                f"{labels.path}: no row for frame {missing[0]} of {path} ({len(missing)} of the "
                f"{len(sampled)} frames extracted from it have none; labelled frames: "
                f"{_ranges(sorted(rows))}): label every frame, or extract fewer (--frames)"
            )
        keep.append(i)
        out_frames.append(frames[i][valid])
        out_labels.append(np.array([rows[t] for t in sampled], dtype=np.int64))
        if labels.progress is not None:
            out_progress.append(np.array([labels.progress[video][t] for t in sampled]))
        paths.append(path)
        label = int(data.labels[i])
        actions.append("" if label < 0 else names[label] if label < len(names) else str(label))
    if not keep:
        raise ValueError(
            f"{labels.path} labels none of the {len(data)} videos of {folder_of(folder)} (e.g. "
            f"{np.asarray(data.paths)[0] if len(data) else '-'}): paths are matched after resolving "
            "them relative to the CSV's folder"
        )
    progress = out_progress if labels.progress is not None else None
    scenes = [str(groups[i]) for i in keep]
    videos = LabelledVideos(out_frames, out_labels, progress, paths, actions, scenes)
    return videos, np.array(keep, dtype=np.int64)


def _subset(videos: LabelledVideos, ids: np.ndarray) -> LabelledVideos:
    pick = ids.tolist()
    return LabelledVideos(
        [videos.frames[i] for i in pick],
        [videos.labels[i] for i in pick],
        None if videos.progress is None else [videos.progress[i] for i in pick],
        [videos.paths[i] for i in pick],
        [videos.actions[i] for i in pick],
        [videos.scenes[i] for i in pick],
    )


def _require_frames(data: Embeddings, folder: str | Path, need_indices: bool) -> None:
    if data.frame_embeddings is None or data.frame_times is None:
        raise ValueError(
            f"{folder_of(folder)}: no frame embeddings: the per-frame protocols need them; extract "
            "with `python tools/extract.py ... --save-frames` (e.g. --frames 40 for every toy frame)"
        )
    if need_indices and data.frame_indices is None:
        raise ValueError(
            f"{folder_of(folder)}: no frame indices (an extraction from before they were recorded): "
            "extract it again to match frames with their labels"
        )


def _frame_index(text: str, where: str) -> int:
    try:
        frame = int(text)
    except ValueError:
        frame = -1
    if frame < 0:
        raise ValueError(f"{where}: frame {text!r} is not a frame index (an integer >= 0)")
    return frame


def _progress(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{where}: progress {text!r} is not a finite number (e.g. 0.25)")
    return value


def _ranges(frames: list[int]) -> str:
    """`[0, 1, 2, 5, 7, 8]` -> "0-2, 5, 7-8" (at most 5 runs shown)."""
    runs: list[list[int]] = []
    for t in frames:
        if runs and t == runs[-1][1] + 1:
            runs[-1][1] = t
        else:
            runs.append([t, t])
    text = [f"{a}-{b}" if b > a else str(a) for a, b in runs[:5]]
    return ", ".join(text) + (", ..." if len(runs) > 5 else "")
