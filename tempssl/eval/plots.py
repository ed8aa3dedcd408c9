"""PNG figures of evaluation results: alignment curves, confusion matrices, embedding trajectories,
and the per-frame protocols (few-shot phase accuracy, progression, Kendall's tau histograms).

matplotlib is optional: it is imported on first use with an ImportError that says how to install
it. Figures are drawn on the Agg canvas without pyplot (no display, no global backend switch) and
written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tempssl.atomic import atomic_path
from tempssl.eval.alignment import Alignment


def plot_alignment(alignments: Sequence[Alignment], path: str | Path, max_curves: int = 8) -> Path:
    """Query time against retrieved time for the first alignments, with the diagonal (perfect).

    Args:
        alignments: per-pair alignments (`tempssl.eval.alignment.align_scenes`).
        path: the PNG to write.
        max_curves: at most this many pairs are drawn (one line each).

    Returns:
        `path`.
    """
    fig, ax = _figure(6, 6)
    shown = list(alignments)[:max_curves]
    times = [t for a in shown for t in (*a.query_times, *a.retrieved_times)]
    low, high = (min(times), max(times)) if times else (0.0, 1.0)
    ax.plot([low, high], [low, high], color="black", linestyle="--", linewidth=1, label="perfect")
    for a in shown:
        ax.plot(a.query_times, a.retrieved_times, marker=".", linewidth=1, label=_pair_name(a))
    ax.set(xlabel="query time in view A (s)", ylabel="retrieved time in view B (s)", aspect="equal")
    ax.set_title(f"nearest-neighbour alignment ({len(shown)} of {len(alignments)} view pairs)")
    ax.legend(fontsize="small", loc="upper left")
    return _save(fig, path)


def plot_confusion(
    confusion: np.ndarray | Sequence[Sequence[int]],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "confusion matrix",
) -> Path:
    """A confusion matrix as an image: rows are true classes, columns predicted, row-normalized.

    Args:
        confusion: `(C, C)` counts, row = true class, column = predicted class.
        class_names: `C` names (indices are used where a name is missing).
        path: the PNG to write.
        title: the figure title.

    Returns:
        `path`.
    """
    counts = np.asarray(confusion, dtype=np.float64)
    num_classes = len(counts)
    names = [str(n) for n in class_names] + [str(i) for i in range(len(class_names), num_classes)]
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = min(4 + 0.35 * num_classes, 40)
    fig, ax = _figure(size, size)
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_xticks(range(num_classes), names[:num_classes], rotation=90)
    ax.set_yticks(range(num_classes), names[:num_classes])
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    if num_classes <= 30:
        for (row, col), count in np.ndenumerate(counts):
            if count:
                color = "white" if rates[row, col] > 0.5 else "black"
                ax.text(col, row, int(count), ha="center", va="center", fontsize=7, color=color)
    return _save(fig, path)


def plot_trajectories(
    frame_embeddings: np.ndarray,
    path: str | Path,
    names: Sequence[str] | None = None,
    frame_times: np.ndarray | None = None,
    max_videos: int = 6,
) -> Path:
    """Trajectories of videos through embedding space: 2-D PCA of their frames, one line per video.

    The PCA is fitted on the drawn videos' frames. Points are coloured by time (dark = early) and an
    arrow marks the last step of each video.

    Args:
        frame_embeddings: `(N, T, D)` frame embeddings in time order (the first `max_videos` drawn).
        path: the PNG to write.
        names: `N` video names for the legend.
        frame_times: optional `(N, T)` seconds (NaN = padding, dropped); default: frame indices.
        max_videos: at most this many videos are drawn.

    Returns:
        `path`.
    """
    matplotlib = _matplotlib()
    frames = np.asarray(frame_embeddings, dtype=np.float64)[:max_videos]
    times = (
        np.broadcast_to(np.arange(frames.shape[1], dtype=np.float64), frames.shape[:2])
        if frame_times is None
        else np.asarray(frame_times, dtype=np.float64)[:max_videos]
    )
    keep = np.isfinite(times)
    if not keep.any():
        raise ValueError("no frames to plot")
    centred = frames[keep] - frames[keep].mean(axis=0)  # (P, D)
    axes = np.linalg.svd(centred, full_matrices=False)[2][:2]  # (<= 2, D) principal directions
    projected = np.zeros((*frames.shape[:2], 2))  # (N, T, 2)
    projected[keep, : len(axes)] = centred @ axes.T
    fig, ax = _figure(7, 6)
    colours = matplotlib.colormaps["tab10"]
    scatter = None
    for i in range(len(frames)):
        xy, t = projected[i][keep[i]], times[i][keep[i]]
        label = str(names[i]) if names is not None else f"video {i}"
        ax.plot(xy[:, 0], xy[:, 1], color=colours(i % 10), linewidth=1, label=label)
        scatter = ax.scatter(xy[:, 0], xy[:, 1], c=t, cmap="viridis", s=12, zorder=3)
        if len(xy) > 1:
            ax.annotate(
                "", xy=xy[-1], xytext=xy[-2], arrowprops={"arrowstyle": "->", "color": colours(i % 10)}
            )
    if scatter is not None:
        fig.colorbar(scatter, ax=ax, label="time (s)" if frame_times is not None else "frame")
    ax.set(xlabel="principal component 1", ylabel="principal component 2")
    ax.set_title("embedding trajectories (PCA of frame embeddings)")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_few_shot(results: dict[str, dict], path: str | Path) -> Path:
    """Phase accuracy against the number of labelled training videos, one line per result set.

    Args:
        results: `{name: phase result}` (`tempssl.eval.frame_commands.phase_command`'s "results":
            "few_shot" entries with mean and std, and "accuracy" with all training videos).
        path: the PNG to write.

    Returns:
        `path`.
    """
    fig, ax = _figure(6, 4.5)
    for name, result in results.items():
        few = sorted(result["few_shot"].values(), key=lambda r: r["shots"])
        shots = [r["shots"] for r in few] + [result["num_train_videos"]]
        accuracy = [r["accuracy_mean"] for r in few] + [result["accuracy"]]
        spread = [r["accuracy_std"] for r in few] + [0.0]
        ax.errorbar(shots, accuracy, yerr=spread, marker="o", capsize=3, label=name)
    chance = next(iter(results.values()))["chance"]
    ax.axhline(chance, color="black", linestyle="--", linewidth=1, label="majority phase")
    ax.set(xscale="log", xlabel="labelled training videos", ylabel="phase accuracy (held-out frames)")
    ax.set_title("phase classification (mean and std over draws)")
    ax.legend(fontsize="small")
    return _save(fig, path)


def plot_progression(
    results: dict[str, tuple[np.ndarray, np.ndarray, float | None]], path: str | Path
) -> Path:
    """Predicted against true progress of held-out frames, one panel per result set.

    Args:
        results: `{name: (true progress (Q,), predicted (Q,), R^2)}`.
        path: the PNG to write.

    Returns:
        `path`.
    """
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * len(results), 5))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(results), sharey=True))
    for ax, (name, (true, predicted, r2)) in zip(axes, results.items(), strict=True):
        true, predicted = np.asarray(true, np.float64), np.asarray(predicted, np.float64)
        low, high = min(true.min(), 0.0), max(true.max(), 1.0)
        ax.plot([low, high], [low, high], color="black", linestyle="--", linewidth=1, label="perfect")
        ax.scatter(true, predicted, s=4, alpha=0.3)
        r2_text = "-" if r2 is None else f"{r2:.3f}"
        ax.set(xlabel="true progress", ylabel="predicted progress", title=f"{name}: R^2 {r2_text}")
        ax.legend(fontsize="small", loc="upper left")
    return _save(fig, path)


def plot_tau_histogram(taus: dict[str, Sequence[float]], path: str | Path, bins: int = 20) -> Path:
    """Histogram of the video pairs' Kendall's taus in [-1, 1], one outline per result set.

    Args:
        taus: `{name: taus of the pairs}` (NaN taus are left out).
        path: the PNG to write.
        bins: bins over [-1, 1].

    Returns:
        `path`.
    """
    fig, ax = _figure(6, 4.5)
    for name, values in taus.items():
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        label = f"{name} (mean {values.mean():.3f})" if len(values) else name
        ax.hist(values, bins=bins, range=(-1, 1), histtype="step", linewidth=2, label=label)
    ax.set(xlabel="Kendall's tau of a video pair", ylabel="video pairs", xlim=(-1, 1))
    ax.set_title("nearest-neighbour frame order between videos of one action")
    ax.legend(fontsize="small", loc="upper left")
    return _save(fig, path)


def _pair_name(a: Alignment) -> str:
    return f"{a.scene}: {a.view_a}->{a.view_b}" if a.scene else f"{a.view_a}->{a.view_b}"


def _matplotlib():
    """The matplotlib module, or an ImportError saying how to install it."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            "plots need matplotlib: `pip install matplotlib` (or `pip install -e '.[plots]'`)"
        ) from error
    return matplotlib


def _figure(width: float, height: float):
    """A figure on the Agg canvas and its one axes."""
    _matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _save(fig, path: str | Path) -> Path:
    """Save a figure atomically (a temporary file next to `path`, then renamed over it)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png", dpi=120, bbox_inches="tight")
    return path
