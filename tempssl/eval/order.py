"""Order verification on held-out videos: how often an order method's head tells an ordered frame
tuple from a shuffled one (shuffle-and-learn, Misra et al. 2016).

Tuples are drawn by `tempssl.data.sampling.TupleSampler` with the run's window and gap, but each is
ordered with probability 1/2 (`positive_fraction=0.5`; training uses the paper's 1:3), uniform
windows (no motion weighting) and a fixed seed, so that chance is 0.5 and two checkpoints are
scored on the very same tuples. Frames get the evaluation transform (resize + centre crop) with
the run's normalization.

A head trained at the paper's 1:3 prior learned log-odds shifted by log(1/3): its argmax then says
"shuffled" too often on balanced tuples (a weak head says it every time: balanced accuracy exactly
0.5). So the protocol also reports ROC-AUC of the head's score `logit[1] - logit[0]` (independent of
any threshold) and the balanced accuracy with the threshold corrected for the training prior
(ordered when `score > log(p / (1 - p))`, `p` the training `positive_fraction`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from tempssl.data.dataset import PlanDataset
from tempssl.data.sampling import TupleSampler
from tempssl.data.sources import VideoSource
from tempssl.data.transforms import build_transform
from tempssl.methods import Method
from tempssl.schema import TrainConfig

# the tuple shape a run trained on, when its sampler was `tuples`
TUPLE_ARGS = ("window", "outer_gap", "accept_reversed")


def order_tuples(
    source: VideoSource,
    cfg: TrainConfig,
    tuples_per_video: int = 10,
    seed: int = 0,
    window: int | None = None,
    outer_gap: int | None = None,
) -> PlanDataset:
    """Balanced evaluation tuples of `source`: items `frames (3, C, H, W)`, `label` (1 = ordered).

    Args:
        source: the held-out videos.
        cfg: the run's config (tuple window and gap when it trained on tuples, frame size, decoder).
        tuples_per_video: tuples drawn from each video long enough to hold one.
        seed: which tuples.
        window, outer_gap: override the run's (or `TupleSampler`'s default) tuple shape.
    """
    trained = cfg.sampler.args if cfg.sampler.name == "tuples" else {}
    args = {k: v for k, v in trained.items() if k in TUPLE_ARGS}
    if window is not None:
        args["window"] = window
    if outer_gap is not None:
        args["outer_gap"] = outer_gap
    sampler = TupleSampler(
        source.videos,
        **args,
        positive_fraction=0.5,
        samples_per_video=tuples_per_video,
        seed=seed,
    )
    return PlanDataset(
        source,
        sampler,
        transform=build_transform(
            "clip_eval", size=cfg.transforms.size, **cfg.transforms.normalization()
        ),
        backend=cfg.data.backend,
        decode_size=cfg.decode_short_side(),
        seed=seed,
    )


@torch.no_grad()
def order_accuracy(
    method: Method,
    tuples: PlanDataset,
    batch_size: int = 64,
    num_workers: int = 2,
    device: torch.device | str = "cpu",
    progress: bool = True,
    train_positive_fraction: float = 0.5,
) -> dict:
    """Score `method.order_logits` on `tuples` (see `order_tuples`).

    `train_positive_fraction`: the share of ordered tuples the head was trained on (the run's
    `positive_fraction`), for the prior-corrected threshold.

    Returns:
        `{"accuracy", "balanced_accuracy" (mean of the two per-class accuracies), "ordered_accuracy",
        "shuffled_accuracy", "tuples", "ordered", "shuffled", "roc_auc",
        "balanced_accuracy_prior_corrected", "videos", "skipped_videos", "skipped_plans"}` (argmax
        decisions unless named); `skipped_plans` counts tuples replaced because a video could not
        be decoded (each replacement is the next plan, so the counts stay exact).

    Raises:
        ValueError: the method has no order-verification head.
    """
    if not callable(getattr(method, "order_logits", None)):
        raise ValueError(
            f"the order protocol needs a method with an order-verification head (order_logits), "
            f"such as shuffle_learn; this checkpoint's method is {type(method).__name__}"
        )
    loader = DataLoader(tuples, batch_size=batch_size, num_workers=num_workers)
    was_training = method.training
    method = method.to(device).eval()
    scores, predictions, labels, skipped = [], [], [], 0
    for batch in tqdm(loader, desc="order tuples", unit="batch", disable=not progress):
        logits = method.order_logits(batch["frames"].to(device)).float()
        predictions.append(logits.argmax(dim=1).cpu())
        scores.append((logits[:, 1] - logits[:, 0]).cpu())  # log-odds of "ordered"
        labels.append(batch["label"])
        skipped += int(batch["skipped"].sum())
    method.train(was_training)
    predicted, label = torch.cat(predictions).numpy(), torch.cat(labels).numpy()
    score = torch.cat(scores).numpy().astype(np.float64)
    prior = train_positive_fraction
    threshold = np.log(prior / (1 - prior)) if 0 < prior < 1 else 0.0
    corrected = accuracy_by_class((score > threshold).astype(np.int64), label)
    return {
        **accuracy_by_class(predicted, label),
        "roc_auc": roc_auc(score, label),
        "balanced_accuracy_prior_corrected": corrected["balanced_accuracy"],
        "videos": len(tuples.source) - tuples.sampler.skipped,
        "skipped_videos": tuples.sampler.skipped,
        "skipped_plans": skipped,
    }


def roc_auc(score: np.ndarray, label: np.ndarray) -> float | None:
    """Area under the ROC curve of `score (N,)` for `label (N,)` (1 positive): the probability that
    a random positive scores above a random negative, ties counting half (Mann-Whitney U).
    None when one class is missing."""
    positive, negative = score[label == 1], score[label == 0]
    if not len(positive) or not len(negative):
        return None
    above = (positive[:, None] > negative[None, :]).sum() + 0.5 * (
        positive[:, None] == negative[None, :]
    ).sum()
    return float(above / (len(positive) * len(negative)))


def accuracy_by_class(predicted: np.ndarray, label: np.ndarray) -> dict:
    """Accuracy of binary order predictions `(N,)` against labels `(N,)` (1 = ordered), overall,
    per class and balanced (the mean of the per-class accuracies: 0.5 for a constant answer)."""
    correct = predicted == label
    per_class = {
        name: float(correct[label == c].mean()) if (label == c).any() else None
        for name, c in (("ordered", 1), ("shuffled", 0))
    }
    present = [v for v in per_class.values() if v is not None]
    return {
        "accuracy": float(correct.mean()) if len(correct) else None,
        "balanced_accuracy": sum(present) / len(present) if present else None,
        "ordered_accuracy": per_class["ordered"],
        "shuffled_accuracy": per_class["shuffled"],
        "tuples": len(label),
        "ordered": int((label == 1).sum()),
        "shuffled": int((label == 0).sum()),
    }
