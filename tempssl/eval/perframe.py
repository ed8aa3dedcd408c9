"""The per-frame protocols of TCC (Dwibedi et al. 2019, "Temporal Cycle-Consistency Learning", Sec. 5).

- **Phase classification**: a linear classifier on frozen per-frame embeddings (the project's
  linear probe, `tempssl.eval.linear.linear_probe`: standardized features, L2-penalized softmax
  regression by L-BFGS) trained on the frames of the training videos, accuracy on the frames of the
  held-out videos. Few-shot: trained on the frames of k labelled videos only, over several seeded
  random draws of the k videos (mean and standard deviation).
- **Phase progression**: ridge regression (closed form, the penalty chosen on held-out training
  videos) from a frame's embedding to its progress through the action; R^2 on the held-out frames.
- **Kendall's tau**: for an ordered pair of videos (A, B) of the same action, every frame of A
  retrieves its nearest frame of B; tau between the frames' order and the retrieved order (1: the
  embedding keeps the two videos in step, -1: reversed). Averaged over all pairs, as TCC reports it.

TCC evaluates each action on its own (a data set per action, e.g. Pouring, or each of Penn Action's
13) and averages over actions; `tempssl.eval.frame_commands` does the same with the videos' class
labels. TCC uses an SVM (and logistic regression) for classification and unregularized least
squares for progression, and regresses one progress target per key event; here the targets are one
progress value per frame and the fits are the ones named above (deterministic, no scikit-learn).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tempssl.eval.alignment import kendall_tau, nearest_frames
from tempssl.eval.linear import DEFAULT_WEIGHT_DECAYS, linear_probe, stratified_split

FEW_SHOT_WEIGHT_DECAY = 1e-3
DEFAULT_ALPHAS = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)


def phase_classification(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
    train_videos: np.ndarray | None = None,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> dict:
    """Per-frame phase accuracy of a linear probe trained on the training frames.

    Args:
        train_x: `(F, D)` frame embeddings of the training videos.
        train_y: `(F,)` their phase indices.
        test_x: `(Q, D)` frame embeddings of the held-out videos.
        test_y: `(Q,)` their phase indices.
        num_classes: the number of phases.
        train_videos: `(F,)` the video (or scene) of each training frame: the validation split
            that chooses the weight decay holds out whole videos (frames of one video are near
            copies, and so are the views of one scene).
        weight_decays: the L2 penalties to choose from (one value: no validation split).
        val_fraction: the share of training videos held out to choose the decay.
        seed: seeds the validation split.

    Returns:
        `{"accuracy", "per_class", "confusion", "weight_decay", "num_train_frames",
        "num_test_frames"}`: accuracy over all held-out frames; per-class accuracy (None for a phase
        absent from the test frames); the `(C, C)` confusion counts (row = true phase).
    """
    groups = None if train_videos is None else np.asarray(train_videos).astype(str)
    result = linear_probe(
        train_x, train_y, test_x, test_y, weight_decays, "lbfgs", val_fraction, seed, num_classes,
        groups=groups,
    )  # fmt: skip
    return {
        "accuracy": result["top1"],
        "per_class": result["per_class"],
        "confusion": result["confusion"],
        "weight_decay": result["weight_decay"],
        "num_train_frames": len(train_x),
        "num_test_frames": len(test_x),
    }


def few_shot_phase_classification(
    train_frames: Sequence[np.ndarray],
    train_labels: Sequence[np.ndarray],
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
    shots: int,
    draws: int = 10,
    weight_decay: float = FEW_SHOT_WEIGHT_DECAY,
    seed: int = 0,
) -> dict:
    """Phase accuracy of linear probes trained on the frames of `shots` training videos each.

    The k videos of each draw are chosen uniformly without replacement by a generator seeded with
    `(seed, shots, draw)`; the decay is fixed (k videos are too few to choose it on).

    Args:
        train_frames: per training video, `(T_i, D)` frame embeddings.
        train_labels: per training video, `(T_i,)` phase indices.
        test_x, test_y: the held-out frames `(Q, D)` and phases `(Q,)`.
        num_classes: the number of phases.
        shots: k, the labelled videos per draw (at most the number of training videos).
        draws: how many draws.
        weight_decay: the probe's L2 penalty.
        seed: seeds the draws.

    Returns:
        `{"shots", "draws", "accuracy_mean", "accuracy_std", "accuracies"}` (std: population
        standard deviation over the draws).
    """
    if not 1 <= shots <= len(train_frames):
        raise ValueError(f"{shots}-shot needs 1..{len(train_frames)} training videos, got {shots}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    accuracies = []
    for draw in range(draws):
        rng = np.random.default_rng([seed, shots, draw])
        chosen = rng.choice(len(train_frames), size=shots, replace=False)
        x = np.concatenate([train_frames[i] for i in chosen])
        y = np.concatenate([train_labels[i] for i in chosen])
        result = linear_probe(x, y, test_x, test_y, [weight_decay], num_classes=num_classes)
        accuracies.append(result["top1"])
    return {
        "shots": shots,
        "draws": draws,
        "accuracy_mean": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "accuracies": accuracies,
    }


def progression_regression(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    train_videos: np.ndarray | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> dict:
    """Ridge regression from frame embeddings to progress, scored by R^2 on the held-out frames.

    Features are centred and divided by one number, the root-mean-square length of the centred
    training vectors (so that alpha does not depend on the embedding's scale, while features that
    barely vary in training are not magnified as a per-feature standardization would magnify them
    on held-out frames); the weights minimize
    `||y - mean(y) - X w||^2 + alpha ||w||^2` (the intercept is not penalized), solved as one
    least-squares problem (`alpha = 0`: ordinary least squares, the minimum-norm solution when it
    is not unique). With several `alphas`, the one with the best R^2 on held-out training videos
    is chosen (ties: the larger), then the fit is repeated on all training frames.

    Args:
        train_x: `(F, D)` training frame embeddings.
        train_y: `(F,)` their progress.
        test_x: `(Q, D)` held-out frame embeddings.
        test_y: `(Q,)` their progress.
        alphas: the L2 penalties (>= 0) to choose from.
        train_videos: `(F,)` the video (or scene) of each training frame: the validation split
            holds out whole videos (default: every frame its own video).
        val_fraction: the share of training videos held out to choose alpha.
        seed: seeds the validation split.

    Returns:
        `{"r2", "train_r2", "mean_absolute_error", "predictions" (Q,), "alpha" (the chosen one),
        "val_r2" ({f"{alpha:g}": R^2}, empty with one alpha), "num_train_frames",
        "num_test_frames"}`.
    """
    if not alphas or min(alphas) < 0:
        raise ValueError(f"alphas must be a non-empty list of values >= 0, got {list(alphas)}")
    train_x, test_x = np.asarray(train_x, np.float64), np.asarray(test_x, np.float64)
    train_y, test_y = np.asarray(train_y, np.float64), np.asarray(test_y, np.float64)
    if len(train_x) == 0 or len(test_x) == 0:
        raise ValueError(
            f"progression needs training and test frames (got {len(train_x)}, {len(test_x)})"
        )
    val_r2: dict[str, float] = {}
    alpha = float(alphas[0])
    if len(alphas) > 1:
        videos = np.arange(len(train_x)) if train_videos is None else np.asarray(train_videos)
        fit, held = stratified_split(np.zeros(len(videos)), val_fraction, seed, videos.astype(str))
        if len(held) == 0:
            raise ValueError("too few training videos to choose alpha: pass a single alpha")
        for candidate in sorted(float(a) for a in alphas):
            model = _fit_ridge(train_x[fit], train_y[fit], candidate)
            val_r2[f"{candidate:g}"] = r_squared(train_y[held], model(train_x[held]))
        best = max(val_r2.values(), key=lambda v: -np.inf if np.isnan(v) else v)
        alpha = max(float(a) for a, v in val_r2.items() if v == best or np.isnan(best))
    model = _fit_ridge(train_x, train_y, alpha)
    predictions = model(test_x)
    return {
        "r2": r_squared(test_y, predictions),
        "train_r2": r_squared(train_y, model(train_x)),
        "mean_absolute_error": float(np.abs(predictions - test_y).mean()),
        "predictions": predictions,
        "alpha": alpha,
        "val_r2": val_r2,
        "num_train_frames": len(train_x),
        "num_test_frames": len(test_x),
    }


def _fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float):
    """The fitted ridge model (see `progression_regression`) as a function `(N, D) -> (N,)`."""
    mean = x.mean(axis=0)
    scale = float(np.sqrt(((x - mean) ** 2).mean(axis=0).sum())) or 1.0
    features = (x - mean) / scale
    dim = features.shape[1]
    system = np.concatenate([features, np.sqrt(alpha) * np.eye(dim)])
    target = np.concatenate([y - y.mean(), np.zeros(dim)])
    weight = np.linalg.lstsq(system, target, rcond=None)[0]
    offset = y.mean()
    return lambda z: (np.asarray(z, np.float64) - mean) / scale @ weight + offset


def r_squared(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The coefficient of determination `1 - sum (y - y_hat)^2 / sum (y - mean(y))^2`.

    1 for a perfect prediction, 0 for predicting the mean, negative for worse; NaN when `y_true`
    is constant.
    """
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    total = float(((y_true - y_true.mean()) ** 2).sum())
    residual = float(((y_true - y_pred) ** 2).sum())
    return 1.0 - residual / total if total > 0 else float("nan")


def kendall_tau_pairs(
    videos: Sequence[np.ndarray],
    classes: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    metric: str = "euclidean",
) -> list[dict]:
    """Kendall's tau of nearest-neighbour frame order for every ordered pair of videos of a class.

    For the pair (A, B), frame t of A retrieves `nn(t)`, its nearest frame of B
    (`tempssl.eval.alignment.nearest_frames`); the pair's tau is Kendall's tau-b
    (`tempssl.eval.alignment.kendall_tau`) between `t` and `nn(t)`. Both (A, B) and (B, A) are
    pairs (retrieval is not symmetric), as in TCC.

    Args:
        videos: per video, `(T_i, D)` frame embeddings in time order.
        classes: `(N,)` class of each video (its action); pairs are taken within a class. None, or
            all -1 (no labels): every pair of videos.
        groups: `(N,)` scene of each video: two views of one scene ("" = no scene) are not paired.
        metric: "euclidean" (TCC's; the default) or "cosine".

    Returns:
        One dict per pair: `{"a", "b" (video numbers), "tau" (NaN when undefined)}`.
    """
    videos = [np.ascontiguousarray(v, dtype=np.float32) for v in videos]
    n = len(videos)
    classes = np.zeros(n, np.int64) if classes is None else np.asarray(classes)
    if len(classes) and (classes < 0).all():
        classes = np.zeros(n, np.int64)
    groups = np.full(n, "") if groups is None else np.asarray(groups).astype(str)
    pairs = []
    for a in range(n):
        for b in range(n):
            if a == b or classes[a] < 0 or classes[a] != classes[b]:
                continue
            if groups[a] and groups[a] == groups[b]:
                continue
            retrieved = nearest_frames(videos[a], videos[b], metric)
            pairs.append({"a": a, "b": b, "tau": kendall_tau(np.arange(len(retrieved)), retrieved)})
    return pairs


def summarize_taus(pairs: Sequence[dict]) -> dict:
    """`{"kendall_tau" (mean over the pairs whose tau is defined), "median", "num_pairs",
    "num_undefined"}`; the means are None when no tau is defined."""
    taus = np.array([p["tau"] for p in pairs], dtype=np.float64)
    defined = taus[np.isfinite(taus)]
    return {
        "kendall_tau": float(defined.mean()) if len(defined) else None,
        "median": float(np.median(defined)) if len(defined) else None,
        "num_pairs": len(taus),
        "num_undefined": int(len(taus) - len(defined)),
    }
