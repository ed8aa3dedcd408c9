"""Class retrieval: recall@k and mAP against rankings worked out by hand (tempssl/eval/retrieval.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tempssl.eval.retrieval import retrieval_evaluate

# Gallery of 2-D points; rankings by cosine similarity are written next to each query below.
GALLERY = np.array([[0.0, 1.0], [1.0, 0.1], [1.0, 0.5], [-1.0, 0.0]])
GALLERY_LABELS = np.array([0, 1, 0, 1])


def test_recall_and_map_by_hand():
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.3]])
    labels = np.array([0, 1, 0])
    # query 0: ranking 1 (B), 2 (A), 0 (A), 3 (B): relevant at ranks 2, 3 -> AP (1/2 + 2/3) / 2
    # query 1: ranking 0 (A), 2 (A), 1 (B), 3 (B): relevant at ranks 3, 4 -> AP (1/3 + 2/4) / 2
    # query 2: ranking 2 (A), 1 (B), 0 (A), 3 (B): relevant at ranks 1, 3 -> AP (1/1 + 2/3) / 2
    result = retrieval_evaluate(queries, labels, GALLERY, GALLERY_LABELS, ks=(1, 2, 5))
    assert result["recall"] == pytest.approx({"1": 1 / 3, "2": 2 / 3, "5": 1.0})
    expected_ap = [(1 / 2 + 2 / 3) / 2, (1 / 3 + 2 / 4) / 2, (1 + 2 / 3) / 2]
    assert result["map"] == pytest.approx(sum(expected_ap) / 3)
    assert (result["num_queries"], result["num_gallery"], result["queries_without_match"]) == (3, 4, 0)


def test_leave_one_out_excludes_the_query_itself():
    points = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    labels = np.array([0, 1, 1, 0])
    # Rankings of the other points (their class): each point's nearest has the other class.
    # 0: 2 (1), 3 (0), 1 (1)   1: 3 (0), 2 (1), 0 (0)   2: 0 (0), 3 (0), 1 (1)   3: 1 (1), 2 (1), 0 (0)
    result = retrieval_evaluate(points, labels, ks=(1, 2))
    assert result["recall"] == pytest.approx({"1": 0.0, "2": 2 / 4})
    expected_ap = [1 / 2, 1 / 2, 1 / 3, 1 / 3]
    assert result["map"] == pytest.approx(sum(expected_ap) / 4)
    # Without the exclusion every query would find itself first.
    explicit = retrieval_evaluate(points, labels, points, labels, ks=(1,))
    assert explicit["recall"]["1"] == 1.0


def test_separable_embeddings_are_perfect():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 8)
    points = np.eye(5)[labels] + 0.05 * rng.normal(size=(40, 5))
    result = retrieval_evaluate(points, labels)
    assert result["recall"] == {"1": 1.0, "5": 1.0, "10": 1.0}
    assert result["map"] == pytest.approx(1.0)


def test_random_labels_give_chance_recall_at_1():
    rng = np.random.default_rng(1)
    num_queries = 2000
    result = retrieval_evaluate(
        rng.normal(size=(num_queries, 8)), rng.integers(0, 4, num_queries),
        rng.normal(size=(500, 8)), rng.integers(0, 4, 500), ks=(1,),
    )  # fmt: skip
    assert abs(result["recall"]["1"] - 0.25) < 4 * math.sqrt(0.25 * 0.75 / num_queries)


def test_other_views_of_the_same_scene_are_excluded():
    points = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, -0.8]])
    labels = np.array([0, 0, 0, 1])  # point 3 is the only one of its class: never answered
    groups = np.array(["scene0", "scene0", "", ""])  # points 0 and 1: two views of one scene
    without = retrieval_evaluate(points, labels, ks=(1,))
    with_scenes = retrieval_evaluate(points, labels, ks=(1,), query_groups=groups)
    # Without scenes, 0 and 1 find each other first; 2 finds 0 (cos 0 beats -0.8).
    assert without["recall"]["1"] == 1.0
    # With scenes, 0 and 1 cannot see each other: their nearest is 3 (cos 0.6, class 1).
    assert with_scenes["recall"]["1"] == pytest.approx(1 / 3)
    assert with_scenes["queries_without_match"] == 1


def test_queries_without_a_match_are_counted_not_scored():
    result = retrieval_evaluate(
        np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 7]), GALLERY, GALLERY_LABELS, ks=(1,)
    )
    assert result["queries_without_match"] == 1
    assert result["recall"]["1"] == 0.0  # query 0's nearest is gallery item 1 (class 1)
    assert result["map"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_dimension_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3-d, gallery 2-d"):
        retrieval_evaluate(np.ones((2, 3)), np.zeros(2), GALLERY, GALLERY_LABELS)
