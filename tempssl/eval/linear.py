"""Linear probe on frozen embeddings: the standard protocol of self-supervised learning papers.

Features are standardized with the training mean and standard deviation; a linear layer (weights and
bias) is trained with cross-entropy plus an L2 penalty `weight_decay / 2 * ||W||^2` on the weights
(not the bias), by L-BFGS on the full batch (default) or by mini-batch SGD (large sets). The weight
decay is chosen on a stratified validation split carved from the training set, then the probe is
retrained on the whole training set with the chosen decay and evaluated once on the test set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from tempssl.eval.knn import classification_metrics

DEFAULT_WEIGHT_DECAYS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def linear_probe(
    train_x: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    test_x: torch.Tensor | np.ndarray,
    test_y: torch.Tensor | np.ndarray,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    optimizer: str = "lbfgs",
    val_fraction: float = 0.2,
    seed: int = 0,
    num_classes: int | None = None,
    max_iter: int = 100,
    epochs: int = 30,
    batch_size: int = 256,
    lr: float = 0.1,
    groups: np.ndarray | None = None,
) -> dict:
    """Train a linear classifier on frozen training embeddings and evaluate it on the test set.

    Deterministic given `seed` (the validation split; the weights start at zero and SGD shuffles
    with a generator seeded by `seed`). When the grid has one value, no validation split is made.

    Args:
        train_x: training embeddings `(N, D)`.
        train_y: training class indices `(N,)`.
        test_x: test embeddings `(Q, D)`.
        test_y: test class indices `(Q,)`.
        weight_decays: the grid of L2 penalties to choose from.
        optimizer: "lbfgs" (full batch, strong-Wolfe line search) or "sgd" (mini-batches, momentum
            0.9, cosine learning rate).
        val_fraction: fraction of each class's training embeddings held out to choose the decay.
        seed: seeds the validation split and SGD's shuffling.
        num_classes: C; default: the largest label of either set + 1.
        max_iter: L-BFGS iterations per fit.
        epochs, batch_size, lr: SGD settings.
        groups: optional `(N,)` str scenes of the training videos: a scene's views all go to the
            same side of the validation split (see `stratified_split`).

    Returns:
        `{"top1", "top5", "per_class", "confusion"}` on the test set (see
        `tempssl.eval.knn.classification_metrics`), plus `weight_decay` (the chosen one),
        `val_top1` (`{f"{decay:g}": validation top-1}` per decay, empty without a split),
        `optimizer`, `num_train`, `num_val`, `num_test`, `num_classes`.

    Raises:
        ValueError: an unknown optimizer, an empty set, embeddings of different dimensions, or a
            grid of several decays with too few embeddings per class to hold out a validation split.
    """
    if optimizer not in FITTERS:
        raise ValueError(f"unknown optimizer {optimizer!r}: expected one of {sorted(FITTERS)}")
    train_x, test_x = torch.as_tensor(train_x).float(), torch.as_tensor(test_x).float()
    train_y, test_y = torch.as_tensor(train_y).long(), torch.as_tensor(test_y).long()
    if len(train_x) == 0 or len(test_x) == 0:
        raise ValueError(
            f"the linear probe needs training and test embeddings (got {len(train_x)}, {len(test_x)})"
        )
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"training embeddings are {train_x.shape[1]}-d, test {test_x.shape[1]}-d")
    if not weight_decays:
        raise ValueError("weight_decays is empty")
    if num_classes is None:
        num_classes = int(max(train_y.max(), test_y.max())) + 1
    settings = dict(
        optimizer=optimizer, num_classes=num_classes, seed=seed, max_iter=max_iter, epochs=epochs,
        batch_size=batch_size, lr=lr,
    )  # fmt: skip

    val_top1: dict[str, float] = {}
    num_val = 0
    chosen = float(weight_decays[0])
    if len(weight_decays) > 1:
        fit_idx, val_idx = stratified_split(train_y.numpy(), val_fraction, seed, groups)
        if len(val_idx) == 0:
            raise ValueError(
                "too few training embeddings per class to hold out a validation split for choosing "
                "the weight decay: pass a single weight decay"
            )
        num_val = len(val_idx)
        chosen, val_top1 = _choose_weight_decay(
            train_x[fit_idx],
            train_y[fit_idx],
            train_x[val_idx],
            train_y[val_idx],
            weight_decays,
            settings,
        )
    weight, bias, mean, std = _fit_standardized(train_x, train_y, chosen, None, settings)
    scores = _logits(test_x, weight, bias, mean, std)
    return {
        **classification_metrics(scores, test_y),
        "weight_decay": chosen,
        "val_top1": val_top1,
        "optimizer": optimizer,
        "num_train": len(train_x),
        "num_val": num_val,
        "num_test": len(test_x),
        "num_classes": num_classes,
    }


def stratified_split(
    labels: np.ndarray, fraction: float, seed: int = 0, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into a kept part and a held-out part with the same class proportions.

    Each class's units are shuffled with `seed` and `round(fraction * n)` of them are held out,
    keeping at least one in the kept part (a class with one unit stays whole in the kept part).
    With `groups`, the units are groups: all items sharing a non-empty group go to the same side
    (the views of one multi-view scene must not be on both sides); a group's class is its first
    item's label.

    Args:
        labels: `(N,)` class indices.
        fraction: 0..1, the share of each class held out.
        seed: seeds the shuffling.
        groups: optional `(N,)` str group names ("" = an item of its own).

    Returns:
        Sorted int64 index arrays `(kept, held_out)`, disjoint, covering `0..N-1`.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"split fraction must be in [0, 1), got {fraction}")
    labels = np.asarray(labels)
    unit_of = _units(len(labels), groups)  # (N,) unit index of each item
    num_units = int(unit_of.max()) + 1 if len(labels) else 0
    first = np.full(num_units, len(labels))
    np.minimum.at(first, unit_of, np.arange(len(labels)))
    unit_labels = labels[first]
    rng = np.random.default_rng(seed)
    held = np.zeros(num_units, dtype=bool)
    for label in np.unique(unit_labels):
        units = rng.permutation(np.flatnonzero(unit_labels == label))
        count = min(round(fraction * len(units)), len(units) - 1)
        held[units[:count]] = True
    on_held_side = held[unit_of]
    return np.flatnonzero(~on_held_side), np.flatnonzero(on_held_side)


def _units(n: int, groups: np.ndarray | None) -> np.ndarray:
    """`(N,)` unit index of each item: its group's, or its own when it has no group."""
    if groups is None:
        return np.arange(n)
    groups = np.asarray(groups).astype(str)
    unit_of = np.unique(groups, return_inverse=True)[1].reshape(-1)
    alone = groups == ""
    unit_of[alone] = n + np.arange(int(alone.sum()))
    return np.unique(unit_of, return_inverse=True)[1].reshape(-1)


def _choose_weight_decay(
    fit_x: torch.Tensor,
    fit_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    weight_decays: Sequence[float],
    settings: dict,
) -> tuple[float, dict[str, float]]:
    """The decay with the best validation top-1 (ties: lower validation loss, then larger decay).

    The decays are fitted from the largest to the smallest, each starting from the previous
    solution (a regularization path: the smaller decays converge in fewer iterations).
    """
    val_top1, best_key, start = {}, None, None
    for decay in sorted((float(d) for d in weight_decays), reverse=True):
        weight, bias, mean, std = _fit_standardized(fit_x, fit_y, decay, start, settings)
        start = (weight, bias)
        logits = _logits(val_x, weight, bias, mean, std)
        top1 = (logits.argmax(dim=1) == val_y).float().mean().item()
        loss = F.cross_entropy(logits, val_y).item()
        val_top1[f"{decay:g}"] = top1
        key = (top1, -loss, decay)
        if best_key is None or key > best_key:
            best_key = key
    return best_key[2], dict(sorted(val_top1.items(), key=lambda item: float(item[0])))


def _fit_standardized(
    x: torch.Tensor,
    y: torch.Tensor,
    weight_decay: float,
    start: tuple[torch.Tensor, torch.Tensor] | None,
    settings: dict,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weights `(C, D)`, bias `(C,)` and the standardization `mean`, `std` `(D,)` fitted on `x`."""
    mean = x.mean(dim=0)
    std = x.std(dim=0, correction=0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features stay at zero
    weight = torch.zeros(settings["num_classes"], x.shape[1])
    bias = torch.zeros(settings["num_classes"])
    if start is not None:
        weight, bias = start[0].clone(), start[1].clone()
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    FITTERS[settings["optimizer"]]((x - mean) / std, y, weight, bias, weight_decay, settings)
    return weight.detach(), bias.detach(), mean, std


def _logits(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> torch.Tensor:
    return ((x - mean) / std) @ weight.T + bias


def _fit_lbfgs(
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    weight_decay: float,
    settings: dict,
) -> None:
    optimizer = torch.optim.LBFGS(
        [weight, bias],
        lr=1.0,
        max_iter=settings["max_iter"],
        history_size=20,
        tolerance_grad=1e-5,
        tolerance_change=1e-7,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + 0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)


def _fit_sgd(
    x: torch.Tensor,
    y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    weight_decay: float,
    settings: dict,
) -> None:
    optimizer = torch.optim.SGD(
        [{"params": [weight], "weight_decay": weight_decay}, {"params": [bias], "weight_decay": 0.0}],
        lr=settings["lr"],
        momentum=0.9,
    )
    steps_per_epoch = math.ceil(len(x) / settings["batch_size"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, settings["epochs"] * steps_per_epoch
    )
    generator = torch.Generator().manual_seed(settings["seed"])
    for _ in range(settings["epochs"]):
        order = torch.randperm(len(x), generator=generator)
        for batch in order.split(settings["batch_size"]):
            optimizer.zero_grad()
            F.cross_entropy(x[batch] @ weight.T + bias, y[batch]).backward()
            optimizer.step()
            schedule.step()


FITTERS = {"lbfgs": _fit_lbfgs, "sgd": _fit_sgd}
