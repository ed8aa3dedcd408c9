"""Per-video metadata (frames, fps, size, duration), probed once in parallel and cached on disk.

A 13,000-video dataset must not be probed again at every start: results are kept in a JSON file
beside the data (`<root>/.tempssl-metadata.json`), or in the user cache folder when the data folder
is read-only, and reused for every file whose size and modification time are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tempssl.atomic import write_atomic
from tempssl.video import VideoError, build_index

log = logging.getLogger(__name__)

CACHE_NAME = ".tempssl-metadata.json"
CACHE_VERSION = 2  # 2: timestamps of variable-frame-rate videos
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


def cache_dir() -> Path:
    """The user cache folder: `$TEMPSSL_CACHE` or `~/.cache/tempssl`."""
    return Path(os.environ.get("TEMPSSL_CACHE") or Path.home() / ".cache" / "tempssl")


def probe(path: str) -> dict:
    """Metadata of one file: `{num_frames, fps, duration, height, width}` or `{error: message}`."""
    if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
        return _probe_image(path)
    try:
        index = build_index(path)
    except VideoError as error:
        return {"error": error.problem}
    meta = {
        "num_frames": index.num_frames,
        "fps": index.fps,
        "duration": index.duration,
        "height": index.height,
        "width": index.width,
    }
    steps = np.diff(index.timestamps)
    if steps.size and steps.max() - steps.min() > 0.1 * np.median(steps):  # variable frame rate
        meta["timestamps"] = [round(float(t), 6) for t in index.timestamps]
    return meta


def probe_all(
    paths: list[Path], root: Path, workers: int | None = None, progress: bool = True
) -> dict[str, dict]:
    """Metadata of every path (absolute path -> `probe` result), from the cache where still valid.

    Files not in the cache are probed in parallel (`workers` processes, default: all cores) with a
    progress bar; the cache is then rewritten atomically.
    """
    cache_file = _cache_file(root)
    cached = _read_cache(cache_file)
    results, todo = {}, []
    for path in paths:
        stat = path.stat()
        key = str(path)
        entry = cached.get(key)
        if entry and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns:
            results[key] = entry["meta"]
        else:
            todo.append((key, stat.st_size, stat.st_mtime_ns))
    if todo:
        metas = _probe_parallel([key for key, _, _ in todo], workers, progress)
        for (key, size, mtime_ns), meta in zip(todo, metas, strict=True):
            results[key] = meta
            cached[key] = {"size": size, "mtime_ns": mtime_ns, "meta": meta}
        _write_cache(cache_file, cached)
    return results


def _probe_parallel(paths: list[str], workers: int | None, progress: bool) -> list[dict]:
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(paths), desc="indexing videos", unit="video", disable=not progress)
    with bar:
        if workers == 1 or len(paths) < 16:  # a process pool costs more than it saves here
            metas = []
            for path in paths:
                metas.append(probe(path))
                bar.update()
            return metas
        with ProcessPoolExecutor(workers) as pool:
            metas = []
            for meta in pool.map(probe, paths, chunksize=8):
                metas.append(meta)
                bar.update()
            return metas


def _probe_image(path: str) -> dict:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:  # reads the header only
            width, height = image.size
    except (OSError, UnidentifiedImageError) as error:
        return {"error": f"not a readable image ({error})"}
    return {"num_frames": 1, "fps": 1.0, "duration": 1.0, "height": height, "width": width}


def _cache_file(root: Path) -> Path:
    """Beside the data when writable, else in the user cache folder (named by the root's path)."""
    if os.access(root, os.W_OK):
        return root / CACHE_NAME
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / "metadata" / f"{digest}.json"


def _read_cache(cache_file: Path) -> dict:
    try:
        data = json.loads(cache_file.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        log.warning("%s: unreadable metadata cache, rebuilding it (%s)", cache_file, error)
        return {}
    if data.get("version") != CACHE_VERSION:
        return {}
    return data.get("files", {})


def _write_cache(cache_file: Path, files: dict) -> None:
    """Atomic: a reader sees the old cache or the new one, never half of one."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"version": CACHE_VERSION, "files": files})
    write_atomic(cache_file, payload)
