"""The per-frame protocols against their math: R^2 and ridge by hand, Kendall's tau by hand and against
scipy, perfect and reversed embeddings, and chance-level accuracy for labels that say nothing."""

from __future__ import annotations

import numpy as np
import pytest

from tempssl.eval.alignment import kendall_tau
from tempssl.eval.perframe import (
    few_shot_phase_classification,
    kendall_tau_pairs,
    phase_classification,
    progression_regression,
    r_squared,
    summarize_taus,
)

# ----------------------------------------------------------------------------------------------------
# Progression: R^2 and ridge regression


def test_r_squared_by_hand():
    # residuals 0, 0, 0, 1 -> 1; deviations from the mean 2.5: 2.25 + 0.25 + 0.25 + 2.25 = 5
    assert r_squared([1, 2, 3, 4], [1, 2, 3, 5]) == pytest.approx(1 - 1 / 5)
    assert r_squared([1, 2, 3, 4], [2.5] * 4) == pytest.approx(0.0)  # predicting the mean
    assert r_squared([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(1 - 20 / 5)  # worse than the mean
    assert np.isnan(r_squared([2, 2, 2], [1, 2, 3]))  # constant truth: undefined


def test_ridge_by_hand():
    # train x = 0, 1, 2: mean 1, root-mean-square deviation sqrt(2/3), so z = (x - 1) * c with
    # c = sqrt(3/2); centred y = -1, 0, 1. w = (z . y) / (z . z + alpha) = 2c / (3 + 3) = c / 3
    # for alpha = 3, and a prediction is mean(y) + w z = 1 + (x - 1) * c^2 / 3 = 1 + (x - 1) / 2
    train_x, test_x = [[0.0], [1.0], [2.0]], [[0.0], [2.0], [4.0]]
    result = progression_regression(train_x, [0, 1, 2], test_x, [0, 2, 4], alphas=[3.0])
    np.testing.assert_allclose(result["predictions"], [0.5, 1.5, 2.5])
    assert result["train_r2"] == pytest.approx(1 - 0.5 / 2)  # residuals 1/2, 0, 1/2 vs deviations 2
    assert result["r2"] == pytest.approx(1 - (0.25 + 0.25 + 2.25) / 8)


def test_an_embedding_that_is_the_progress_gives_r2_one():
    rng = np.random.default_rng(0)
    train_p, test_p = rng.random(200), rng.random(100)
    # progress in one dimension (scaled and shifted), plus dimensions that carry nothing
    embed = lambda p: np.column_stack([3 * p - 1, rng.normal(size=(len(p), 4))])  # noqa: E731
    result = progression_regression(embed(train_p), train_p, embed(test_p), test_p, alphas=[0.0])
    assert result["r2"] == pytest.approx(1.0, abs=1e-9)
    assert result["mean_absolute_error"] == pytest.approx(0.0, abs=1e-9)
    noise = progression_regression(
        rng.normal(size=(200, 5)), train_p, rng.normal(size=(100, 5)), test_p, alphas=[0.0]
    )
    assert noise["r2"] < 0.1  # an embedding without the progress explains (about) none of it


# ----------------------------------------------------------------------------------------------------
# Kendall's tau


def test_alpha_is_chosen_on_held_out_training_videos():
    # 8 training videos of 10 frames, 120 noise dimensions: least squares interpolates the training
    # frames (noise included) and fails on other videos; a penalty chosen on held-out training
    # videos (never on the test frames) does better
    rng = np.random.default_rng(0)
    progress, videos = np.tile(np.linspace(0, 1, 10), 8), np.repeat(np.arange(8), 10)
    x = np.column_stack([progress + 0.2 * rng.normal(size=80), rng.normal(size=(80, 120))])
    test_p = np.tile(np.linspace(0, 1, 10), 10)
    test_x = np.column_stack([test_p + 0.2 * rng.normal(size=100), rng.normal(size=(100, 120))])
    alphas = [0.0, 0.01, 0.1, 1.0, 1e6]
    result = progression_regression(x, progress, test_x, test_p, alphas, videos)
    assert set(result["val_r2"]) == {f"{a:g}" for a in alphas}
    assert result["alpha"] == float(max(result["val_r2"], key=result["val_r2"].get))
    assert result["val_r2"]["0"] < min(result["val_r2"]["1"], result["val_r2"]["1e+06"])
    least_squares = progression_regression(x, progress, test_x, test_p, [0.0])
    assert least_squares["train_r2"] == pytest.approx(1.0)  # it fits the training frames exactly
    assert result["r2"] > least_squares["r2"] + 0.5


def test_kendall_tau_by_hand_and_against_scipy():
    # pairs of (1, 3, 2, 4): only (3, 2) is discordant: (5 - 1) / 6
    assert kendall_tau([0, 1, 2, 3], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert kendall_tau([0, 1, 2, 3], [3, 2, 1, 0]) == pytest.approx(-1.0)
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y = np.arange(12), rng.integers(0, 6, 12)  # ties in y, as nearest neighbours give them
        assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


def test_a_perfect_embedding_gives_tau_one_and_a_reversed_video_minus_one():
    progress = np.linspace(0, 1, 15)[:, None]
    videos = [progress, progress + 0.01, progress[::-1]]  # the third plays backwards
    for metric in ("euclidean", "cosine"):
        # cosine needs a direction that changes with progress: (cos, sin) of an angle
        frames = videos if metric == "euclidean" else [np.hstack([np.cos(v), np.sin(v)]) for v in videos]
        taus = {(p["a"], p["b"]): p["tau"] for p in kendall_tau_pairs(frames, metric=metric)}
        assert len(taus) == 6  # every ordered pair of 3 unlabelled videos
        assert taus[0, 1] == pytest.approx(1.0) and taus[1, 0] == pytest.approx(1.0)
        for pair in ((0, 2), (2, 0), (1, 2), (2, 1)):
            assert taus[pair] == pytest.approx(-1.0), (metric, pair)


def test_pairs_are_within_a_class_and_never_two_views_of_one_scene():
    rng = np.random.default_rng(0)
    videos = [rng.normal(size=(6, 3)) for _ in range(5)]
    classes = np.array([0, 0, 0, 1, -1])  # the unlabelled video is never paired
    groups = np.array(["s0", "s0", "s1", "s2", "s3"])  # videos 0 and 1: two views of scene s0
    pairs = kendall_tau_pairs(videos, classes, groups)
    assert sorted((p["a"], p["b"]) for p in pairs) == [(0, 2), (1, 2), (2, 0), (2, 1)]


def test_the_summary_is_the_mean_over_pairs_with_a_defined_tau():
    pairs = [{"tau": 1.0}, {"tau": 0.5}, {"tau": float("nan")}, {"tau": -0.3}]
    summary = summarize_taus(pairs)
    assert summary["kendall_tau"] == pytest.approx((1.0 + 0.5 - 0.3) / 3)
    assert summary["median"] == pytest.approx(0.5)
    assert (summary["num_pairs"], summary["num_undefined"]) == (4, 1)


# ----------------------------------------------------------------------------------------------------
# Phase classification


def _phase_videos(count: int, seed: int, frames: int = 30, dim: int = 8):
    """Videos whose frames show their phase (0, 1, 2 in thirds) along the first 3 axes, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], frames // 3)
    videos = [np.eye(dim)[labels] + 0.3 * rng.normal(size=(len(labels), dim)) for _ in range(count)]
    return videos, [labels.copy() for _ in range(count)]


def test_phase_accuracy_is_high_when_the_embedding_shows_the_phase_and_chance_when_labels_are_shuffled():
    train, train_y = _phase_videos(20, seed=0)
    test, test_y = _phase_videos(20, seed=1)
    x, y, video = np.concatenate(train), np.concatenate(train_y), np.repeat(np.arange(20), 30)
    qx, qy = np.concatenate(test), np.concatenate(test_y)
    result = phase_classification(x, y, qx, qy, 3, video, weight_decays=[1e-4, 1e-2])
    assert result["accuracy"] > 0.95 and result["num_test_frames"] == len(qx)
    shuffled = np.random.default_rng(2).permutation(y)  # labels that say nothing about the frames
    accuracy = phase_classification(x, shuffled, qx, qy, 3, video, weight_decays=[1e-2])["accuracy"]
    assert abs(accuracy - 1 / 3) < 0.1, accuracy  # chance: 3 balanced phases


def test_few_shot_draws_are_seeded_and_summarized():
    train, train_y = _phase_videos(10, seed=0)
    test, test_y = _phase_videos(5, seed=1)
    qx, qy = np.concatenate(test), np.concatenate(test_y)
    result = few_shot_phase_classification(train, train_y, qx, qy, 3, shots=1, draws=4, seed=7)
    assert result["accuracy_mean"] == pytest.approx(np.mean(result["accuracies"]))
    assert result["accuracy_std"] == pytest.approx(np.std(result["accuracies"]))
    assert len(result["accuracies"]) == 4 and result["accuracy_mean"] > 0.9  # one video suffices here
    again = few_shot_phase_classification(train, train_y, qx, qy, 3, shots=1, draws=4, seed=7)
    assert again["accuracies"] == result["accuracies"]
    with pytest.raises(ValueError, match=r"11-shot needs 1\.\.10 training videos"):
        few_shot_phase_classification(train, train_y, qx, qy, 3, shots=11)
