"""Linear probe and stratified split (tempssl/eval/linear.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tempssl.eval.linear import DEFAULT_WEIGHT_DECAYS, linear_probe, stratified_split


def _blobs(per_class: int, num_classes: int, dim: int, noise: float, seed: int):
    """Gaussian blobs around well separated class centres (the same centres for every seed)."""
    centres = np.random.default_rng(1234).normal(size=(num_classes, dim)) * 3.0
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    points = centres[labels] + noise * rng.normal(size=(len(labels), dim))
    return points.astype(np.float32), labels


@pytest.mark.parametrize("optimizer", ["lbfgs", "sgd"])
def test_separable_embeddings_are_all_right(optimizer):
    train_x, train_y = _blobs(30, 4, 10, 0.3, seed=0)
    test_x, test_y = _blobs(10, 4, 10, 0.3, seed=1)
    result = linear_probe(train_x, train_y, test_x, test_y, optimizer=optimizer, epochs=10)
    assert result["top1"] == 1.0
    assert result["top5"] == 1.0
    assert result["per_class"] == [1.0] * 4
    assert result["optimizer"] == optimizer
    assert (result["num_train"], result["num_val"], result["num_test"]) == (120, 24, 40)


def test_random_labels_give_chance_accuracy():
    rng = np.random.default_rng(0)
    num_test = 2000
    train_x, test_x = rng.normal(size=(400, 10)), rng.normal(size=(num_test, 10))
    train_y, test_y = rng.integers(0, 4, 400), rng.integers(0, 4, num_test)
    result = linear_probe(train_x, train_y, test_x, test_y, weight_decays=(1e-3, 1e-1))
    # The predictions depend on the training set only: each test label matches with p = 1/4.
    assert abs(result["top1"] - 0.25) < 4 * math.sqrt(0.25 * 0.75 / num_test)


def test_weight_decay_is_chosen_on_validation_and_reported():
    train_x, train_y = _blobs(30, 3, 6, 0.5, seed=2)
    test_x, test_y = _blobs(10, 3, 6, 0.5, seed=3)
    result = linear_probe(train_x, train_y, test_x, test_y)
    assert result["weight_decay"] in DEFAULT_WEIGHT_DECAYS
    assert list(result["val_top1"]) == [f"{d:g}" for d in DEFAULT_WEIGHT_DECAYS]
    assert result["val_top1"][f"{result['weight_decay']:g}"] == max(result["val_top1"].values())
    # Clean data: every decay is perfect on validation; the tie goes to the lowest validation loss,
    # i.e. to a weakly regularized (confident) model, not to the strongest decay.
    assert set(result["val_top1"].values()) == {1.0}
    assert result["weight_decay"] <= 1e-3


def test_noisy_high_dimensional_data_choose_a_decay_by_validation_accuracy():
    rng = np.random.default_rng(4)
    labels = np.arange(200) % 2
    features = rng.normal(size=(200, 300)).astype(np.float32)
    features[:, 0] += 1.0 * (2 * labels - 1)
    grid = (1e-4, 1e-2, 1.0)
    result = linear_probe(features[:150], labels[:150], features[150:], labels[150:], weight_decays=grid)
    assert result["weight_decay"] in grid
    assert len(result["val_top1"]) == 3
    assert result["val_top1"][f"{result['weight_decay']:g}"] == max(result["val_top1"].values())


def test_same_seed_same_result():
    train_x, train_y = _blobs(20, 3, 8, 2.0, seed=5)
    test_x, test_y = _blobs(10, 3, 8, 2.0, seed=6)
    for optimizer in ("lbfgs", "sgd"):
        first = linear_probe(train_x, train_y, test_x, test_y, optimizer=optimizer, epochs=5, seed=3)
        second = linear_probe(train_x, train_y, test_x, test_y, optimizer=optimizer, epochs=5, seed=3)
        assert first == second


def test_standardization_makes_feature_scales_irrelevant():
    train_x, train_y = _blobs(20, 3, 5, 4.0, seed=7)
    test_x, test_y = _blobs(20, 3, 5, 4.0, seed=8)
    scale, shift = np.array([1e3, 1e-3, 1.0, 50.0, 0.2], dtype=np.float32), np.float32(7.0)
    plain = linear_probe(train_x, train_y, test_x, test_y, weight_decays=(1e-2,))
    scaled = linear_probe(
        train_x * scale + shift, train_y, test_x * scale + shift, test_y, weight_decays=(1e-2,)
    )
    assert scaled["top1"] == pytest.approx(plain["top1"], abs=1 / 60)
    assert 0.5 < plain["top1"] < 1.0


def test_one_decay_needs_no_validation_split():
    train_x, train_y = _blobs(1, 3, 4, 0.1, seed=9)  # one example per class: nothing to hold out
    result = linear_probe(train_x, train_y, train_x, train_y, weight_decays=(1e-3,))
    assert (result["weight_decay"], result["val_top1"], result["num_val"]) == (1e-3, {}, 0)
    with pytest.raises(ValueError, match="single weight decay"):
        linear_probe(train_x, train_y, train_x, train_y)


def test_bad_arguments():
    x, y = _blobs(5, 2, 3, 0.1, seed=10)
    with pytest.raises(ValueError, match="unknown optimizer"):
        linear_probe(x, y, x, y, optimizer="adam")
    with pytest.raises(ValueError, match="3-d, test 2-d"):
        linear_probe(x, y, x[:, :2], y)


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [10, 20, 1])
    kept, held = stratified_split(labels, 0.2, seed=0)
    assert sorted(np.concatenate([kept, held]).tolist()) == list(range(31))
    assert np.bincount(labels[held], minlength=3).tolist() == [2, 4, 0]  # a single example stays
    again = stratified_split(labels, 0.2, seed=0)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(stratified_split(labels, 0.2, seed=1)[1], held)


def test_stratified_split_keeps_groups_whole():
    labels = np.repeat([0, 1], 20)
    groups = np.array([f"scene{i // 2}" for i in range(40)])  # two views per scene
    kept, held = stratified_split(labels, 0.5, seed=0, groups=groups)
    assert not set(groups[kept]) & set(groups[held])
    assert np.bincount(labels[held]).tolist() == [10, 10]
    # An empty group name is no group: each such video is a unit of its own.
    no_groups = stratified_split(labels, 0.5, seed=0)
    empty = stratified_split(labels, 0.5, seed=0, groups=np.full(40, ""))
    assert all(np.array_equal(a, b) for a, b in zip(no_groups, empty, strict=True))
