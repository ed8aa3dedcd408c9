"""Find videos and their labels/groups, and their metadata (frames, fps, size, duration)."""

from __future__ import annotations

import csv
import itertools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tempssl.data.metadata import IMAGE_EXTENSIONS, probe_all
from tempssl.data.sampling import nearest_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """One video file of a source and what samplers need to know about it.

    Attributes:
        path: absolute path of the file.
        num_frames: frames that really decode.
        fps: average frame rate.
        duration: seconds.
        height, width: frame size in pixels.
        label: class index, or -1 when unlabeled.
        group: scene id for multi-view sources (the views of one scene share it), else None.
        view: view name inside the group (e.g. "view0"), else None.
        offset: seconds: when this view's first frame was shown, on the scene's common clock.
        timestamps: variable-frame-rate videos only: each frame's time in seconds from the first
            frame (constant-rate videos leave it None: frame i is at i / fps).
    """

    path: str
    num_frames: int
    fps: float
    duration: float
    height: int
    width: int
    label: int = -1
    group: str | None = None
    view: str | None = None
    offset: float = 0.0
    timestamps: tuple[float, ...] | None = None

    def frame_time(self, index: int) -> float:
        """Scene-clock time (seconds) of frame `index`."""
        if self.timestamps is not None:
            return self.offset + self.timestamps[index]
        return self.offset + index / self.fps

    def frame_at(self, time: float) -> int:
        """The frame whose timestamp is nearest to scene-clock `time`, clipped to the video."""
        if self.timestamps is not None:
            return int(nearest_frames(np.asarray(self.timestamps), np.asarray([time - self.offset]))[0])
        return min(max(round((time - self.offset) * self.fps), 0), self.num_frames - 1)


VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".avi",
        ".webm",
        ".mkv",
        ".mov",
        ".m4v",
        ".mpg",
        ".mpeg",
        ".ts",  # MPEG transport streams (camcorders: .mts / .m2ts)
        ".mts",
        ".m2ts",
        ".flv",
        ".wmv",
        ".3gp",
        ".ogv",
        ".gif",
    }
)


@dataclass
class VideoSource:
    """The videos of a dataset, with class names and what could not be read.

    Attributes:
        videos: readable videos, sorted by path (so ids are stable across runs and machines).
        classes: class names; `VideoInfo.label` indexes this list (empty when unlabeled).
        root: the folder (or manifest) the source was read from.
        unreadable: `(path, problem)` of files found but not readable (skipped, logged once).
    """

    videos: list[VideoInfo]
    classes: list[str]
    root: Path
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.videos)

    def groups(self) -> dict[str, list[int]]:
        """Scene id -> ids of its views (multi-view sources)."""
        groups: dict[str, list[int]] = {}
        for i, video in enumerate(self.videos):
            if video.group is not None:
                groups.setdefault(video.group, []).append(i)
        return groups


def folder_of_classes(
    root: str | Path,
    on_bad_video: str = "skip",
    workers: int | None = None,
    progress: bool = True,
    extensions: frozenset[str] = VIDEO_EXTENSIONS,
) -> VideoSource:
    """`root/<class>/<video>` (the UCF101/HMDB51 layout; with image `extensions`, torchvision's
    ImageFolder layout); classes sorted by name."""
    root = _existing_dir(root)
    classes = _class_folders(root)
    if not classes:
        raise ValueError(f"{root}: no class folders found; expected the layout root/<class>/<video>")
    entries = []
    for label, name in enumerate(classes):
        entries += [(path, {"label": label}) for path in _media_files(root / name, extensions)]
    _require_files(entries, root, extensions)
    return _build(entries, classes, root, on_bad_video, workers, progress)


def _class_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def unlabeled_folder(
    root: str | Path,
    on_bad_video: str = "skip",
    workers: int | None = None,
    progress: bool = True,
    extensions: frozenset[str] = VIDEO_EXTENSIONS,
) -> VideoSource:
    """Every video under `root`, recursively, without labels."""
    root = _existing_dir(root)
    entries = [(path, {}) for path in _media_files(root, extensions)]
    _require_files(entries, root, extensions)
    return _build(entries, [], root, on_bad_video, workers, progress)


def image_folder(root: str | Path, **kwargs) -> VideoSource:
    """Every image under `root`, recursively, each as a 1-frame "video" (for per-frame methods).

    torchvision's ImageFolder layout, `root/<class>/<image>` with no images directly in `root`, is
    labelled by its sub-folders (classes sorted by name, as ImageFolder does); any other folder of
    images is unlabeled."""
    root = _existing_dir(root)
    loose = any(p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS for p in root.iterdir())
    if _class_folders(root) and not loose:
        return folder_of_classes(root, extensions=IMAGE_EXTENSIONS, **kwargs)
    return unlabeled_folder(root, extensions=IMAGE_EXTENSIONS, **kwargs)


def manifest(
    csv_path: str | Path,
    label_column: str = "label",
    classes: list[str] | None = None,
    on_bad_video: str = "skip",
    workers: int | None = None,
    progress: bool = True,
) -> VideoSource:
    """A CSV with a `path` column (relative to the CSV's folder, or absolute) and a label column.

    Labels may be class names or integers; `classes` fixes the class list (default: sorted names
    found), so train and test manifests share label ids. `label_column=None` reads no labels.

    What a manifest may point at: a relative path must stay inside the manifest's folder (`..`
    that climbs out of it is an error; symbolic links inside it are followed), so a manifest
    handed over with a data set cannot make tempssl read elsewhere; to use files elsewhere, list
    them by absolute path (which must exist). Paths may hold spaces, commas (CSV-quoted) and any
    Unicode.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"manifest {csv_path} not found")
    with csv_path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        for column in ("path", label_column):
            if column is not None and column not in columns:
                raise ValueError(
                    f"{csv_path}: no column {column!r}; columns are {columns} "
                    "(expected a header row such as 'path,label')"
                )
        rows = list(reader)
    if not rows:
        raise ValueError(f"{csv_path}: the manifest lists no videos")
    names = [row[label_column] for row in rows] if label_column else []
    classes = list(classes) if classes is not None else sorted(set(names), key=_natural_key)
    class_ids = {name: i for i, name in enumerate(classes)}
    entries = []
    folder = Path(os.path.abspath(csv_path.parent))
    for line, row in enumerate(rows, start=2):
        where = f"{csv_path}, line {line}"
        listed = Path(row["path"])
        path = Path(os.path.normpath(folder / listed))  # lexical: `..` is resolved, links are not
        if not listed.is_absolute() and not path.is_relative_to(folder):
            raise ValueError(
                f"{where}: the relative path {row['path']!r} leads out of the manifest's folder "
                f"{folder}; list files outside it by absolute path"
            )
        if path.suffix.lower() not in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS:
            raise ValueError(
                f"{where}: {path} has unknown extension {path.suffix!r}; "
                f"expected one of {sorted(VIDEO_EXTENSIONS | IMAGE_EXTENSIONS)}"
            )
        if not path.is_file():
            raise FileNotFoundError(f"{where}: video {path} does not exist")
        extra = {}
        if label_column:
            if row[label_column] not in class_ids:
                raise ValueError(f"{where}: label {row[label_column]!r} is not one of {classes}")
            extra["label"] = class_ids[row[label_column]]
        entries.append((path, extra))
    return _build(entries, classes if label_column else [], csv_path, on_bad_video, workers, progress)


def multiview_groups(
    root: str | Path,
    min_views: int = 2,
    on_bad_video: str = "skip",
    workers: int | None = None,
    progress: bool = True,
) -> VideoSource:
    """`root/<scene>/<view>.<ext>`: the files of one scene are synchronized views of it.

    An optional `root/offsets.csv` (columns `scene,view,offset`) gives each view's start time in
    seconds on the scene's common clock (default 0); views may also differ in fps.
    """
    root = _existing_dir(root)
    scenes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not scenes:
        raise ValueError(f"{root}: no scene folders found; expected root/<scene>/<view>.<ext>")
    offsets = _read_offsets(root / "offsets.csv")
    entries = []
    for scene in scenes:
        views = _media_files(scene, VIDEO_EXTENSIONS)
        if len(views) < min_views:
            raise ValueError(
                f"{scene}: scene has {len(views)} view(s), multi-view needs at least {min_views} "
                f"synchronized videos per scene folder"
            )
        for path in views:
            offset = offsets.get((scene.name, path.stem), 0.0)
            entries.append((path, {"group": scene.name, "view": path.stem, "offset": offset}))
    return _build(entries, [], root, on_bad_video, workers, progress)


def _build(entries, classes, root, on_bad_video, workers, progress) -> VideoSource:
    if on_bad_video not in ("skip", "raise"):
        raise ValueError(f"on_bad_video must be 'skip' or 'raise', got {on_bad_video!r}")
    index_root = root if root.is_dir() else root.parent
    metas = probe_all([path for path, _ in entries], index_root, workers, progress)
    videos, unreadable = [], []
    for path, extra in sorted(entries, key=lambda entry: str(entry[0])):
        meta = metas[str(path)]
        if "error" in meta:
            if on_bad_video == "raise":
                raise ValueError(f"{path}: unreadable video ({meta['error']}); on_bad_video=raise")
            log.warning("skipping unreadable video %s: %s", path, meta["error"])
            unreadable.append((str(path), meta["error"]))
            continue
        if meta.get("timestamps") is not None:
            meta = {**meta, "timestamps": tuple(meta["timestamps"])}
        videos.append(VideoInfo(path=str(path), **meta, **extra))
    if not videos:
        raise unreadable_error(root, len(entries), unreadable)
    if unreadable:
        log.warning("%s: skipped %d unreadable file(s) of %d", root, len(unreadable), len(entries))
    return VideoSource(videos, classes, root, unreadable)


def unreadable_error(where: str | Path, total: int, problems: list[tuple[str, str]]) -> ValueError:
    """The error for data none of whose `total` videos could be read: where, how many, and the
    first few reasons (`(path, problem)` pairs), before any training or evaluation runs on it."""
    shown = "; ".join(f"{path}: {problem}" for path, problem in problems[:3])
    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    return ValueError(
        f"{where}: none of the {total} video(s) could be read (first problems: {shown}{more}). "
        "Check that these are video files; if they play elsewhere, try another decoder "
        "(data.backend=pyav, or --backend pyav)"
    )


def _existing_dir(root: str | Path) -> Path:
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    return root


def _media_files(folder: Path, extensions: frozenset[str]) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if _is_media(p, extensions))


def _is_media(path: Path, extensions: frozenset[str]) -> bool:
    return path.suffix.lower() in extensions and not path.name.startswith(".") and path.is_file()


def _require_files(entries: list, root: Path, extensions: frozenset[str]) -> None:
    if not entries:
        raise ValueError(_require_files_message(root, extensions))


def _require_files_message(root: Path, extensions: frozenset[str]) -> str:
    found = sorted({p.suffix for p in root.rglob("*") if p.is_file() and p.suffix})
    return f"{root}: no files with a known extension {sorted(extensions)}" + (
        f"; found only {found}" if found else " (the folder is empty)"
    )


def _read_offsets(path: Path) -> dict[tuple[str, str], float]:
    if not path.is_file():
        return {}
    offsets = {}
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                offsets[(row["scene"], row["view"])] = float(row["offset"])
            except (KeyError, TypeError, ValueError) as error:
                raise ValueError(
                    f"{path}, line {line}: expected columns scene,view,offset (seconds), got {row}"
                ) from error
    return offsets


def _natural_key(name: str):
    return (0, int(name)) if name.isdigit() else (1, name)


LAYOUTS = ("auto", "classes", "manifest", "unlabeled", "multiview", "images")


def load_source(
    spec: str | Path,
    layout: str = "auto",
    label_column: str = "label",
    on_bad_video: str = "skip",
    progress: bool = True,
) -> VideoSource:
    """A source from a path, or `toy:<split>` for a split of the built-in toy dataset.

    `layout="auto"` (see `guess_layout`) reads a `.csv` as a manifest, a folder whose sub-folders
    hold the videos as classes (`root/<class>/<video>`), a folder of images (and no videos) as
    images, and any other folder as unlabeled videos. Multi-view scenes (`root/<scene>/<view>`)
    look like classes, so they are read only when asked for. A layout that does not fit the path
    is an error that says what the path looks like and which layout reads it. For the toy dataset,
    `label_column` picks the label set (`action` or `object`; default `action`).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    common = dict(on_bad_video=on_bad_video, progress=progress)
    if str(spec).startswith("toy:"):
        from tempssl.data.toy import toy_root

        split = str(spec).removeprefix("toy:")
        root = toy_root(progress=progress)
        if layout == "multiview":
            return multiview_groups(root / split, **common)
        column = "action" if label_column == "label" else label_column
        if not (root / f"{split}.csv").is_file():
            raise ValueError(f"toy dataset has no split {split!r}; use toy:train, toy:val or toy:test")
        return manifest(root / f"{split}.csv", label_column=column, **common)
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data path {path} does not exist")
    survey = _Survey.of(path)
    if layout == "auto":
        layout = survey.guess()
    else:
        survey.check(layout)
    if layout == "manifest":
        return manifest(path, label_column=label_column, **common)
    builders = {
        "classes": folder_of_classes,
        "unlabeled": unlabeled_folder,
        "multiview": multiview_groups,
        "images": image_folder,
    }
    return builders[layout](path, **common)


def guess_layout(path: str | Path) -> str:
    """The layout `load_source(path, "auto")` reads `path` in."""
    return _Survey.of(Path(path).expanduser()).guess()


@dataclass(frozen=True)
class _Survey:
    """What a data path looks like, from a quick look (the first video of each sub-folder)."""

    path: Path
    is_csv: bool = False
    loose_videos: int = 0  # directly in the folder
    loose_images: int = 0
    video_folders: int = 0  # sub-folders with a video somewhere below
    multi_video_folders: int = 0  # ... with at least two (synchronized views of a scene?)
    nested_images: bool = False

    @classmethod
    def of(cls, path: Path) -> _Survey:
        if path.is_file():
            return cls(path, is_csv=path.suffix.lower() == ".csv")
        loose_videos = loose_images = video_folders = multi = 0
        for entry in path.iterdir():
            if entry.name.startswith("."):
                continue
            suffix = entry.suffix.lower()
            if entry.is_dir():
                found = _first_media(entry, VIDEO_EXTENSIONS, 2)
                video_folders += bool(found)
                multi += len(found) >= 2
            elif suffix in VIDEO_EXTENSIONS:
                loose_videos += 1
            elif suffix in IMAGE_EXTENSIONS:
                loose_images += 1
        nested_images = not (loose_videos or video_folders) and bool(
            _first_media(path, IMAGE_EXTENSIONS, 1)
        )
        return cls(path, False, loose_videos, loose_images, video_folders, multi, nested_images)

    def describe(self) -> str:
        if self.path.is_file():
            return (
                "a CSV file" if self.is_csv else f"a single file ({self.path.suffix or 'no extension'})"
            )
        parts = []
        if self.loose_videos:
            parts.append(f"{self.loose_videos} video(s) directly inside")
        if self.video_folders:
            many = self.multi_video_folders
            parts.append(f"{self.video_folders} sub-folder(s) with videos ({many} with 2 or more)")
        if self.loose_images or self.nested_images:
            parts.append("images")
        return "a folder with " + (", ".join(parts) if parts else "no videos or images")

    def guess(self) -> str:
        if self.path.is_file():
            if not self.is_csv:
                raise ValueError(
                    f"data path {self.path} is {self.describe()}; expected a folder of videos or a "
                    "CSV manifest (path,label)"
                )
            return "manifest"
        if self.video_folders and not self.loose_videos:
            return "classes"
        if not (self.loose_videos or self.video_folders) and (self.loose_images or self.nested_images):
            return "images"
        return "unlabeled"

    def check(self, layout: str) -> None:
        """Raise when `layout` cannot read this path, saying what the path looks like."""
        fits = {
            "manifest": self.is_csv,
            "classes": self.video_folders > 0,
            "multiview": self.multi_video_folders > 0,
            "unlabeled": self.path.is_dir() and bool(self.loose_videos or self.video_folders),
            "images": self.path.is_dir() and bool(self.loose_images or self.nested_images),
        }
        if fits[layout]:
            return
        wants = {
            "manifest": "a CSV file with a header row such as 'path,label'",
            "classes": "root/<class>/<video> (sub-folders of videos)",
            "multiview": "root/<scene>/<view>.<ext> (sub-folders with 2 or more synchronized videos)",
            "unlabeled": "a folder with videos (at any depth)",
            "images": "a folder with images",
        }
        readable = [name for name, ok in fits.items() if ok]
        if not readable:
            hint = (
                _require_files_message(self.path, VIDEO_EXTENSIONS | IMAGE_EXTENSIONS)
                if self.path.is_dir()
                else "expected a folder of videos or a CSV manifest (path,label)"
            )
        else:
            best = self.guess() if self.guess() in readable else readable[0]
            hint = f"data.layout={best} reads it" + (" (auto picks it)" if best == self.guess() else "")
            if layout == "multiview":  # asked for by the multi-view sampler (TCN's multiview mode)
                hint += "; single-camera videos train with configs/tcn_single_view.yaml"
        raise ValueError(
            f"data.layout={layout} expects {wants[layout]}, but {self.path} is {self.describe()}; {hint}"
        )


def _first_media(folder: Path, extensions: frozenset[str], limit: int) -> list[Path]:
    """Up to `limit` media files below `folder` (stops as soon as it has them)."""
    return list(itertools.islice((p for p in folder.rglob("*") if _is_media(p, extensions)), limit))
