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
| `frame_indices` | `(N, T)` int64 | optional: those frames' indices in their video (-1: padding) |

The sidecar records the checkpoint, config and extraction settings. Files are written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tempssl.atomic import atomic_path, write_atomic

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
    frame_indices: np.ndarray | None = None
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
    for name in ("frame_embeddings", "frame_times", "frame_indices"):
        if getattr(data, name) is not None:
            arrays[name] = getattr(data, name)
    with atomic_path(folder / ARRAYS) as tmp:
        np.savez(tmp, **arrays)
    write_atomic(folder / SIDECAR, json.dumps(data.info, indent=2, default=str))
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
