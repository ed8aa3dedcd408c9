"""Embedding files: what `tools/extract.py` writes and `tools/evaluate.py` reads.

A folder holds `embeddings.npz` and its sidecar `embeddings.json`:

| array (npz) | shape, dtype | meaning |
|---|---|---|
| `embeddings` | `(N, D)` float32 | one vector per video (pooled as the sidecar says) |
| `paths` | `(N,)` str | the video files |
| `labels` | `(N,)` int64 | class index, -1 when unknown |
| `classes` | `(C,)` str | class names (`labels` index them); empty when unlabeled |
| `groups`, `views` | `(N,)` str | scene and view of multi-view sources ("" otherwise) |
| `frame_embeddings` | `(N, T, D)` float32 | optional: every sampled frame's vector, in time order |
| `frame_times` | `(N, T)` float64 | optional: those frames' times in seconds |

The sidecar records the checkpoint, config and extraction settings. Files are written atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ARRAYS = "embeddings.npz"
SIDECAR = "embeddings.json"


@dataclass
class Embeddings:
    """The content of an embedding folder (see the module docstring for shapes)."""

    embeddings: np.ndarray
    paths: np.ndarray
    labels: np.ndarray
    classes: np.ndarray
    groups: np.ndarray
    views: np.ndarray
    frame_embeddings: np.ndarray | None = None
    frame_times: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.embeddings)


def save_embeddings(folder: str | Path, data: Embeddings) -> Path:
    """Write `embeddings.npz` and `embeddings.json` into `folder`, each atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        name: getattr(data, name)
        for name in ("embeddings", "paths", "labels", "classes", "groups", "views")
    }
    for name in ("frame_embeddings", "frame_times"):
        if getattr(data, name) is not None:
            arrays[name] = getattr(data, name)
    _atomic(folder / ARRAYS, lambda handle: np.savez(handle, **arrays), binary=True)
    _atomic(folder / SIDECAR, lambda handle: handle.write(json.dumps(data.info, indent=2, default=str)))
    return folder


def load_embeddings(folder: str | Path) -> Embeddings:
    """Read an embedding folder (or its `embeddings.npz`); clear errors when it is not one."""
    folder = Path(folder)
    if folder.name == ARRAYS:
        folder = folder.parent
    if not (folder / ARRAYS).is_file():
        raise FileNotFoundError(
            f"{folder}: no {ARRAYS} here; create one with `python tools/extract.py --out {folder}`"
        )
    with np.load(folder / ARRAYS, allow_pickle=False) as arrays:
        loaded = {name: arrays[name] for name in arrays.files}
    info = json.loads((folder / SIDECAR).read_text()) if (folder / SIDECAR).is_file() else {}
    return Embeddings(**loaded, info=info)


def _atomic(path: Path, write, binary: bool = False) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            write(handle)
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; these are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
