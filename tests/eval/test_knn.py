"""kNN classification against answers worked out by hand (tempssl/eval/knn.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tempssl.eval.knn import knn_accuracy, knn_evaluate, knn_predict


def _clusters(per_class: int, num_classes: int, dim: int, noise: float, seed: int):
    """Points around orthogonal class directions: perfectly separable for small noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_classes), per_class)
    points = np.eye(dim)[labels] + noise * rng.normal(size=(len(labels), dim))
    return points.astype(np.float32), labels


def test_separable_embeddings_are_all_right():
    train_x, train_y = _clusters(10, 4, 8, 0.05, seed=0)
    test_x, test_y = _clusters(5, 4, 8, 0.05, seed=1)
    result = knn_evaluate(train_x, train_y, test_x, test_y, ks=(1, 5))
    for k in ("1", "5"):
        assert result["k"][k]["top1"] == 1.0
        assert result["k"][k]["top5"] == 1.0
        assert result["k"][k]["per_class"] == [1.0] * 4
        assert np.array_equal(result["k"][k]["confusion"], np.diag([5] * 4))
    assert (result["num_classes"], result["num_train"], result["num_test"]) == (4, 40, 20)


def test_random_labels_give_chance_accuracy():
    # Labels independent of the features: each query is right with probability 1/C, independently.
    rng = np.random.default_rng(0)
    num_classes, num_test = 4, 2000
    train_x, test_x = rng.normal(size=(1000, 16)), rng.normal(size=(num_test, 16))
    train_y = rng.integers(0, num_classes, 1000)
    test_y = rng.integers(0, num_classes, num_test)
    result = knn_evaluate(train_x, train_y, test_x, test_y, ks=(20,))
    sd = math.sqrt(0.25 * 0.75 / num_test)
    assert abs(result["k"]["20"]["top1"] - 0.25) < 4 * sd


def test_four_point_votes_by_hand():
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    bank_labels = torch.tensor([0, 1, 1, 0])
    query = torch.tensor([[1.0, 0.2]])
    norm = math.sqrt(1.0 + 0.2**2)
    cos = [1.0 / norm, 0.2 / norm, 1.2 / (norm * math.sqrt(2.0)), -1.0 / norm]
    # k = 3 nearest: points 0 (class 0), 2 and 1 (class 1); point 3 is left out.
    for temperature in (0.5, 1.0):
        scores = knn_predict(bank, bank_labels, query, num_classes=2, k=3, temperature=temperature)
        expected = [
            math.exp(cos[0] / temperature),
            math.exp(cos[2] / temperature) + math.exp(cos[1] / temperature),
        ]
        assert scores[0].tolist() == pytest.approx(expected, rel=1e-5)
    # The temperature decides: class 0 wins at T=0.5 (7.11 vs 6.76), class 1 at T=1 (2.67 vs 3.51).
    result_sharp = knn_evaluate(bank, bank_labels, query, torch.tensor([0]), ks=(3,), temperature=0.5)
    result_soft = knn_evaluate(bank, bank_labels, query, torch.tensor([0]), ks=(3,), temperature=1.0)
    assert result_sharp["k"]["3"]["top1"] == 1.0
    assert result_soft["k"]["3"]["top1"] == 0.0
    assert result_soft["k"]["3"]["confusion"] == [[0, 1], [0, 0]]


def test_top5_is_at_least_top1():
    rng = np.random.default_rng(1)
    train_x, test_x = rng.normal(size=(300, 8)), rng.normal(size=(200, 8))
    train_y, test_y = rng.integers(0, 10, 300), rng.integers(0, 10, 200)
    train_x[:, 0] += train_y  # a weak signal, so that top-1 is neither 0 nor 1
    test_x[:, 0] += test_y
    result = knn_evaluate(train_x, train_y, test_x, test_y, ks=(1, 10, 50))
    for r in result["k"].values():
        assert 0.0 < r["top1"] < 1.0
        assert r["top5"] >= r["top1"]


def test_per_class_accuracy_when_one_class_is_always_wrong():
    train_x, train_y = _clusters(6, 4, 4, 0.01, seed=2)
    test_x, test_y = _clusters(3, 3, 4, 0.01, seed=3)  # no queries of class 3
    test_x[test_y == 2] = np.eye(4)[0]  # class 2's queries look like class 0
    result = knn_evaluate(train_x, train_y, test_x, test_y, ks=(5,), num_classes=4)["k"]["5"]
    assert result["per_class"] == [1.0, 1.0, 0.0, None]
    assert result["top1"] == pytest.approx(6 / 9)
    assert result["confusion"][2] == [3, 0, 0, 0]


def test_k_larger_than_the_bank_is_clipped():
    train_x, train_y = _clusters(2, 3, 4, 0.05, seed=4)
    test_x, test_y = _clusters(2, 3, 4, 0.05, seed=5)
    result = knn_evaluate(train_x, train_y, test_x, test_y, ks=(6, 200))
    assert result["k"]["200"]["k_used"] == 6
    assert {**result["k"]["200"], "k_used": 0} == {**result["k"]["6"], "k_used": 0}


def test_fewer_than_five_classes_top5_counts_all_classes():
    train_x, train_y = _clusters(3, 2, 4, 0.05, seed=6)
    test_x = np.eye(4, dtype=np.float32)[[2, 3]]  # far from both classes
    result = knn_evaluate(train_x, train_y, test_x, np.array([0, 1]), ks=(3,))
    assert result["k"]["3"]["top5"] == 1.0


def test_dimension_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"4-d.*3-d"):
        knn_evaluate(np.ones((2, 4)), np.zeros(2), np.ones((2, 3)), np.zeros(2))


def test_online_eval_functions_still_work():
    train_x, train_y = _clusters(5, 3, 4, 0.05, seed=7)
    test_x, test_y = _clusters(2, 3, 4, 0.05, seed=8)
    scores = knn_predict(
        torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(test_x), 3
    )
    assert scores.shape == (6, 3)
    accuracy = knn_accuracy(
        torch.from_numpy(train_x),
        torch.from_numpy(train_y),
        torch.from_numpy(test_x),
        torch.from_numpy(test_y),
    )
    assert accuracy == 1.0
