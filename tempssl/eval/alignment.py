"""Multi-view alignment by nearest neighbours (Sermanet et al. 2017, "Time-Contrastive Networks",
Sec. 5.2): each frame of view A retrieves its nearest frame of view B of the same scene; a good
embedding retrieves the frame taken at the same moment.

Frame times must be on the scene's common clock (a view's start offset included, as
`tempssl.data.sources.VideoInfo.frame_time` gives them), so that the same moment has the same time
in both views. The true match of a query frame is the frame of B whose time is nearest to the
query's time. Errors in frames count frames of B's `frame_embeddings` (its sampled frames, which
are every frame of the video only when the extraction sampled every frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tempssl.eval.store import Embeddings

METRICS = ("cosine", "euclidean")


@dataclass
class Alignment:
    """The nearest-neighbour alignment of view A's frames to view B's frames (one scene).

    Attributes:
        scene, view_a, view_b: names.
        query_times: `(T,)` seconds of the query frames of A that B's time span covers.
        retrieved_times: `(T,)` seconds of the frames of B they retrieved.
        error_frames: mean |retrieved index - true index| in frames of B.
        error_seconds: mean |retrieved time - true match's time| in seconds.
        kendall_tau: tau-b between query order and retrieved order (NaN when undefined).
    """

    scene: str
    view_a: str
    view_b: str
    query_times: np.ndarray
    retrieved_times: np.ndarray
    error_frames: float
    error_seconds: float
    kendall_tau: float


def nearest_frames(
    frames_a: torch.Tensor | np.ndarray, frames_b: torch.Tensor | np.ndarray, metric: str = "cosine"
) -> np.ndarray:
    """For each frame of A, the index of its nearest frame of B.

    Args:
        frames_a: `(T1, D)` embeddings of view A's frames.
        frames_b: `(T2, D)` embeddings of view B's frames.
        metric: "cosine" (largest cosine similarity: ignores the embeddings' norms, as the kNN and
            retrieval protocols do) or "euclidean" (smallest L2 distance: the distance TCN trains).
            Ties go to the earliest frame of B.

    Returns:
        `(T1,)` int64 indices into B.
    """
    a, b = torch.as_tensor(frames_a).float(), torch.as_tensor(frames_b).float()
    if metric == "cosine":
        score = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T
    elif metric == "euclidean":
        score = -torch.cdist(a, b)
    else:
        raise ValueError(f"unknown metric {metric!r}: expected one of {METRICS}")
    return score.argmax(dim=1).numpy().astype(np.int64)


def kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b rank correlation of two sequences, by counting all pairs (O(n^2) time).

    `tau_b = (concordant - discordant) / sqrt((n0 - ties_x) * (n0 - ties_y))` over the
    `n0 = n(n-1)/2` pairs: `scipy.stats.kendalltau`'s default, and tau-a when nothing ties. When a
    view B is sampled more sparsely than A, several queries retrieve the same frame of B (ties in
    `y` only); a perfect monotone alignment then gives `sqrt(1 - ties_y / n0)`, slightly below 1.

    Args:
        x: `(n,)` values (e.g. query frame indices).
        y: `(n,)` values (e.g. retrieved frame indices).

    Returns:
        tau in [-1, 1]; NaN when fewer than 2 items or either sequence is constant.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"kendall_tau needs sequences of equal length, got {len(x)} and {len(y)}")
    score, untied_x, untied_y = 0.0, 0, 0
    for i in range(len(x) - 1):  # pairs (i, j > i), one row at a time: O(n) memory
        sign_x, sign_y = np.sign(x[i + 1 :] - x[i]), np.sign(y[i + 1 :] - y[i])
        score += float((sign_x * sign_y).sum())
        untied_x += np.count_nonzero(sign_x)
        untied_y += np.count_nonzero(sign_y)
    denominator = np.sqrt(float(untied_x) * float(untied_y))
    return score / denominator if denominator > 0 else float("nan")


def align_views(
    frames_a: torch.Tensor | np.ndarray,
    times_a: np.ndarray,
    frames_b: torch.Tensor | np.ndarray,
    times_b: np.ndarray,
    metric: str = "cosine",
    scene: str = "",
    view_a: str = "a",
    view_b: str = "b",
) -> Alignment:
    """Align the frames of view A to the frames of view B of one scene by nearest neighbours.

    Frames with a NaN time (padding) are dropped. Query frames of A outside B's time span (more
    than half of B's median frame interval before its first or after its last frame) have no true
    match and are left out.

    Args:
        frames_a: `(T1, D)` frame embeddings of A, in time order.
        times_a: `(T1,)` their times in seconds (scene clock).
        frames_b: `(T2, D)` frame embeddings of B, in time order.
        times_b: `(T2,)` their times in seconds (scene clock).
        metric: see `nearest_frames`.
        scene, view_a, view_b: names kept in the result.

    Returns:
        The `Alignment`; its errors are NaN when no query frame overlaps B.
    """
    frames_a, times_a = _valid(frames_a, times_a)
    frames_b, times_b = _valid(frames_b, times_b)
    if len(frames_b):
        retrieved = nearest_frames(frames_a, frames_b, metric)
    else:
        retrieved = np.zeros(len(frames_a), dtype=np.int64)  # nothing to retrieve: no frame is covered
    half_step = 0.5 * float(np.median(np.diff(times_b))) if len(times_b) > 1 else 0.0
    covered = (times_a >= times_b.min(initial=np.inf) - half_step) & (
        times_a <= times_b.max(initial=-np.inf) + half_step
    )
    query_times, retrieved = times_a[covered], retrieved[covered]
    true = (
        np.abs(query_times[:, None] - times_b[None, :]).argmin(axis=1) if len(query_times) else retrieved
    )
    nan = float("nan")
    return Alignment(
        scene=scene,
        view_a=view_a,
        view_b=view_b,
        query_times=query_times,
        retrieved_times=times_b[retrieved],
        error_frames=float(np.abs(retrieved - true).mean()) if len(true) else nan,
        error_seconds=float(np.abs(times_b[retrieved] - times_b[true]).mean()) if len(true) else nan,
        kendall_tau=kendall_tau(np.arange(len(retrieved)), retrieved),
    )


def align_scenes(data: Embeddings, metric: str = "cosine") -> list[Alignment]:
    """Align every ordered pair of views of every scene of an embedding file.

    Scenes are the videos sharing a non-empty `groups` entry; a scene with views A and B gives the
    alignments A->B and B->A (nearest-neighbour retrieval is not symmetric).

    Args:
        data: embeddings with `frame_embeddings` `(N, T, D)`, `frame_times` `(N, T)`, `groups` and
            `views` `(N,)`.
        metric: see `nearest_frames`.

    Returns:
        The alignments, sorted by scene then views.

    Raises:
        ValueError: no frame embeddings or times, or no scene with two views.
    """
    if data.frame_embeddings is None or data.frame_times is None:
        raise ValueError(
            "no frame embeddings: alignment needs per-frame embeddings and times (`frame_embeddings`, "
            "`frame_times`): extract them with `python tools/extract.py ... --save-frames`"
        )
    scenes: dict[str, list[int]] = {}
    for i, group in enumerate(np.asarray(data.groups).astype(str)):
        if group:
            scenes.setdefault(group, []).append(i)
    scenes = {scene: members for scene, members in scenes.items() if len(members) >= 2}
    if not scenes:
        raise ValueError(
            "no scene with two or more views: alignment needs a multi-view source "
            "(videos sharing `groups`, e.g. tempssl.data.sources.multiview_groups)"
        )
    views = np.asarray(data.views).astype(str)
    frames, times = data.frame_embeddings, data.frame_times
    alignments = []
    for scene in sorted(scenes):
        members = sorted(scenes[scene], key=lambda i: views[i])
        for a, b in ((a, b) for a in members for b in members if a != b):
            alignment = align_views(
                frames[a], times[a], frames[b], times[b], metric, scene, views[a], views[b]
            )
            alignments.append(alignment)
    return alignments


def summarize(alignments: list[Alignment]) -> dict:
    """Means over alignments (pairs of views) of their errors and taus, ignoring NaNs.

    Returns:
        `{"error_frames", "error_seconds", "kendall_tau", "num_scenes", "num_pairs",
        "pairs": [per-pair dicts]}`; a mean is None when every pair's value is NaN.
    """
    result = {}
    for name in ("error_frames", "error_seconds", "kendall_tau"):
        values = np.array([getattr(a, name) for a in alignments], dtype=np.float64)
        result[name] = float(np.nanmean(values)) if np.isfinite(values).any() else None
    result["num_scenes"] = len({a.scene for a in alignments})
    result["num_pairs"] = len(alignments)
    result["pairs"] = [
        {
            "scene": a.scene,
            "view_a": a.view_a,
            "view_b": a.view_b,
            "frames": len(a.query_times),
            "error_frames": a.error_frames,
            "error_seconds": a.error_seconds,
            "kendall_tau": a.kendall_tau,
        }
        for a in alignments
    ]
    return result


def _valid(frames: torch.Tensor | np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the frames whose time is NaN (padding of videos shorter than the longest)."""
    frames = np.asarray(frames, dtype=np.float32)
    times = np.asarray(times, dtype=np.float64)
    keep = np.isfinite(times)
    return frames[keep], times[keep]
