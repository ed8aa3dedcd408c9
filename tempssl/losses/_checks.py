"""Input checks shared by the losses (private to `tempssl.losses`)."""

from __future__ import annotations

from torch import Tensor


def _check_pair(a: Tensor, b: Tensor, names: str) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"{names} must both be (N, D) with the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def _check_labels(labels: Tensor, n: int) -> None:
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(f"labels must be (N,) with N={n}, got {tuple(labels.shape)}")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
