"""Samplers: each one's defining property on thousands of draws, determinism, and argument errors."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tempssl.data.sampling import (
    SAMPLERS,
    ClipSampler,
    FrameSampler,
    MultiViewSampler,
    PairSampler,
    Plan,
    Sampler,
    SequenceSampler,
    TupleSampler,
    build_sampler,
)
from tempssl.data.sources import VideoInfo


def video(n: int, fps: float = 30.0, label: int = -1, group=None, view=None, offset: float = 0.0):
    return VideoInfo(
        path=f"/videos/{group}/{view}/{n}_{fps}.mp4",
        num_frames=n,
        fps=fps,
        duration=n / fps,
        height=48,
        width=64,
        label=label,
        group=group,
        view=view,
        offset=offset,
    )


def by_video(plans: list[Plan]) -> dict[int, list[tuple[int, ...]]]:
    """Single-view plans: video id -> list of frame tuples."""
    out: dict[int, list[tuple[int, ...]]] = {}
    for plan in plans:
        assert len(plan.videos) == len(plan.frames) == 1
        assert all(type(f) is int for f in plan.frames[0])  # plain ints, not numpy scalars
        out.setdefault(plan.videos[0], []).append(plan.frames[0])
    return out


def binomial_ok(hits: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(hits - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


# -- pairs ---------------------------------------------------------------------------------------
def test_pairs_in_frames_positive_and_negative_windows(caplog):
    videos = [video(5, label=3), video(20, label=4), video(30), video(300, label=7)]
    with caplog.at_level(logging.WARNING):
        sampler = PairSampler(videos, pos_window=6, neg_margin=12, samples_per_video=3000)
    assert sampler.skipped == 1 and "PairSampler: skipping 1 of 4" in caplog.text  # 5 < 12 + 2
    plans = sampler.plans(0)
    assert len(plans) == len(sampler) == 3 * 3000
    assert {p.label for p in plans if p.videos == (3,)} == {7}
    groups = by_video(plans)
    assert set(groups) == {1, 2, 3}
    for vid, triples in groups.items():
        n = videos[vid].num_frames
        t = np.array(triples)
        anchor, pos, neg = t.T
        assert ((t >= 0) & (t < n)).all()
        assert ((np.abs(pos - anchor) >= 1) & (np.abs(pos - anchor) <= 6)).all()
        assert (np.abs(neg - anchor) > 12).all()
    # not degenerate: everything allowed is drawn
    anchor, pos, neg = np.array(groups[3]).T
    assert set(pos - anchor) == set(range(-6, 0)) | set(range(1, 7))
    assert anchor.min() == 0 and anchor.max() == 299
    assert neg.min() == 0 and neg.max() == 299
    assert set(neg[anchor == 150] - 150) <= set(range(-150, -12)) | set(range(13, 150))
    # a 20-frame video: only anchors with a frame more than 12 away: 0..6 and 13..19
    anchor20, _, neg20 = np.array(groups[1]).T
    assert set(anchor20) == set(range(7)) | set(range(13, 20))
    assert set(np.abs(neg20 - anchor20)) == set(range(13, 20))


def test_pairs_in_seconds_use_each_videos_fps():
    videos = [video(40, fps=10), video(90, fps=30), video(400, fps=60), video(6, fps=10)]
    sampler = PairSampler(videos, pos_window=0.2, neg_margin=0.5, unit="seconds", samples_per_video=2000)
    assert sampler.skipped == 1  # 6 frames at 10 fps: none is > 0.5 s from another
    for vid, triples in by_video(sampler.plans(3)).items():
        fps, n = videos[vid].fps, videos[vid].num_frames
        anchor, pos, neg = np.array(triples).T
        assert ((pos >= 0) & (pos < n) & (neg >= 0) & (neg < n)).all()
        assert (np.abs(pos - anchor) >= 1).all()
        assert (np.abs(pos - anchor) / fps <= 0.2 + 1e-9).all()
        assert (np.abs(neg - anchor) / fps > 0.5).all()
        assert np.abs(pos - anchor).max() == math.floor(0.2 * fps + 1e-9)  # the whole window is used
        assert np.abs(neg - anchor).min() == math.floor(0.5 * fps + 1e-9) + 1


def test_pairs_defaults_follow_the_tcn_reference():
    frames = PairSampler([video(100)])
    assert (frames.pos_window, frames.neg_margin, frames.unit) == (6, 12, "frames")
    seconds = PairSampler([video(100)], unit="seconds")
    assert (seconds.pos_window, seconds.neg_margin) == (0.2, 0.4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(pos_window=6, neg_margin=6), "neg_margin must be > pos_window"),
        (dict(pos_window=6, neg_margin=3), "neg_margin must be > pos_window"),
        (dict(pos_window=0), "pos_window must be an integer >= 1"),
        (dict(pos_window=2.5), "pos_window must be an integer"),
        (dict(unit="seconds", pos_window=-0.1), "pos_window must be a number > 0 seconds"),
        (dict(unit="minutes"), "unit must be one of 'frames', 'seconds'"),
        (dict(samples_per_video=0), "samples_per_video must be an integer >= 1"),
        (dict(seed=-1), "seed must be an integer >= 0"),
        (dict(pos_window=6, neg_margin=200), "no video can hold the structure: each needs at least"),
    ],
)
def test_pairs_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PairSampler([video(30), video(100)], **kwargs)


# -- multiview -----------------------------------------------------------------------------------
def multiview_videos() -> list[VideoInfo]:
    return [
        video(300, fps=30, group="kitchen", view="view0", offset=0.0, label=2),
        video(240, fps=25, group="kitchen", view="view1", offset=0.37, label=2),
        video(160, fps=15, group="kitchen", view="view2", offset=-0.5, label=2),
        video(50, fps=30, group="lonely", view="view0"),  # a scene with one view: skipped
        video(400, fps=60, group="garage", view="left", offset=1.234, label=5),
        video(120, fps=29.97, group="garage", view="right", offset=0.0, label=5),
        video(100),  # no group: skipped
    ]


def test_multiview_frames_show_one_scene_clock_time():
    videos = multiview_videos()
    sampler = MultiViewSampler(videos, views=2, moments_per_scene=4, min_gap=0.3, blocks_per_scene=500)
    assert sampler.skipped == 2 and sampler.scenes == ["kitchen", "garage"]
    plans = sampler.plans(0)
    assert len(plans) == len(sampler) == 2 * 500 * 4
    pairs, first_views = Counter(), Counter()
    for plan in plans:
        assert len(plan.videos) == 2 and all(len(f) == 1 for f in plan.frames)
        infos = [videos[v] for v in plan.videos]
        assert len({v.group for v in infos}) == 1 and plan.label == infos[0].label
        frames = [f[0] for f in plan.frames]
        assert all(0 <= f < v.num_frames for f, v in zip(frames, infos, strict=True))
        # independent check: some time t is within half a frame of every view's frame time
        times = [v.offset + f / v.fps for f, v in zip(frames, infos, strict=True)]
        lower = max(t - 0.5 / v.fps for t, v in zip(times, infos, strict=True))
        upper = min(t + 0.5 / v.fps for t, v in zip(times, infos, strict=True))
        assert lower <= upper + 1e-9
        pairs[tuple(sorted(plan.videos))] += 1
        first_views[plan.videos[0]] += 1
    # a scene with more views than asked: each pair of its views is chosen
    assert set(pairs) == {(0, 1), (0, 2), (1, 2), (4, 5)}
    # the first listed view (TCN's anchor) is a random camera of the pair, per moment
    assert binomial_ok(first_views[4], first_views[4] + first_views[5], 0.5)
    assert all(first_views[v] > 0 for v in (0, 1, 2))


def _frame_of(plan, video_id: int) -> int:
    """The frame a multi-view plan takes from video `video_id` (plans list views in random order)."""
    return plan.frames[plan.videos.index(video_id)][0]


def test_multiview_moments_cover_the_common_span():
    videos = multiview_videos()[4:6]  # garage: left covers [1.234, 7.884], right [0, 3.970]
    plans = MultiViewSampler(videos, moments_per_scene=1, blocks_per_scene=4000).plans(2)
    left = np.array([videos[0].offset + _frame_of(p, 0) / videos[0].fps for p in plans])
    assert left.min() <= 1.234 + 0.05 and left.max() >= 3.97 - 0.05
    assert left.min() >= 1.234 - 1e-9 and left.max() <= 3.97 + 0.5 / 60
    # ~uniform: a quarter of the span holds ~a quarter of the moments
    quarter = ((left >= 1.234) & (left < 1.234 + (3.97 - 1.234) / 4)).sum()
    assert binomial_ok(int(quarter), len(plans), 0.25)


def test_multiview_blocks_of_one_scene_with_distinct_moments():
    videos = multiview_videos()
    k = 5
    sampler = MultiViewSampler(videos, views=2, moments_per_scene=k, min_gap=0.5, blocks_per_scene=40)
    plans = sampler.plans(1)
    blocks = [plans[i : i + k] for i in range(0, len(plans), k)]
    scene_order = []
    for block in blocks:
        assert len({frozenset(p.videos) for p in block}) == 1  # the same views of one scene
        view = min(block[0].videos)
        first = videos[view]
        times = sorted(first.offset + _frame_of(p, view) / first.fps for p in block)
        assert min(np.diff(times)) >= 0.5 - 1 / first.fps  # >= min_gap, up to frame rounding
        scene_order.append(first.group)
    assert Counter(scene_order) == {"kitchen": 40, "garage": 40}
    # blocks are shuffled: the order of scenes changes between epochs
    other = [videos[p.videos[0]].group for p in sampler.plans(2)[::k]]
    assert other != scene_order and scene_order != sorted(scene_order)


def test_multiview_default_block_is_one_batch_of_one_scene():
    # the reference fills a batch from one sequence: by default a block is `batch_size` moments
    videos = multiview_videos()
    sampler = MultiViewSampler(videos, batch_size=6, blocks_per_scene=3)
    assert sampler.moments_per_scene == 6
    plans = sampler.plans(0)
    for start in range(0, len(plans), 6):
        batch = plans[start : start + 6]
        assert len({videos[p.videos[0]].group for p in batch}) == 1
    assert MultiViewSampler(videos, batch_size=6, moments_per_scene=2).moments_per_scene == 2


def test_multiview_spreads_moments_when_the_span_is_short():
    videos = [video(31, fps=30, group="s", view="a"), video(31, fps=30, group="s", view="b")]
    plans = MultiViewSampler(videos, moments_per_scene=4, min_gap=5.0).plans(0)
    assert [p.frames[0][0] for p in plans] == [0, 10, 20, 30]  # 1 s span, 4 moments: evenly


def test_multiview_errors_name_a_scene_with_too_few_views():
    videos = [video(100, group="solo", view="view0"), video(100, group="pair", view="a")]
    with pytest.raises(ValueError, match=r"no scene .* has >= views = 2 views.*'solo' has 1 view"):
        MultiViewSampler(videos)
    with pytest.raises(ValueError, match="no video has a group"):
        MultiViewSampler([video(100), video(100)])
    three = [video(100, group="s", view=str(i)) for i in range(2)]
    with pytest.raises(ValueError, match=r"views = 3.*'s' has 2 view"):
        MultiViewSampler(three, views=3)
    apart = [video(30, group="s", view="a"), video(30, group="s", view="b", offset=5.0)]
    with pytest.raises(ValueError, match="share a time span"):
        MultiViewSampler(apart)
    with pytest.raises(ValueError, match="views must be an integer >= 2"):
        MultiViewSampler(three, views=1)
    with pytest.raises(ValueError, match="min_gap must be a number >= 0 seconds"):
        MultiViewSampler(three, min_gap=-1)
    with pytest.raises(ValueError, match="moments_per_scene must be an integer >= 1"):
        MultiViewSampler(three, moments_per_scene=0)


# -- tuples --------------------------------------------------------------------------------------
def test_tuples_paper_constraints_and_positive_fraction(caplog):
    videos = [video(30), video(60, label=1), video(300, label=2)]
    with caplog.at_level(logging.WARNING):
        sampler = TupleSampler(videos, accept_reversed=False, samples_per_video=4000)
    assert sampler.skipped == 1  # 30 < 2 * (15 + 2) + 1 frames
    plans = sampler.plans(0)
    positives = 0
    for plan in plans:
        x, y, z = plan.frames[0]
        n = videos[plan.videos[0]].num_frames
        assert min(x, y, z) >= 0 and max(x, y, z) < n and x < z
        assert z - x <= 60  # d - b <= tau_max
        if plan.label == 1:
            positives += 1
            assert x < y < z  # c between b and d
        else:
            assert plan.label == 0 and (y <= x - 15 or y >= z + 15)  # a or e, >= tau_min outside
    assert binomial_ok(positives, len(plans), 0.25)
    negatives = [p.frames[0] for p in plans if p.label == 0]
    before = sum(y < x for x, y, _ in negatives)
    assert binomial_ok(before, len(negatives), 0.5)  # (b, a, d) and (b, e, d) equally often


def test_tuples_accept_reversed_and_fraction():
    sampler = TupleSampler([video(200)], positive_fraction=0.6, samples_per_video=6000, seed=4)
    assert sampler.accept_reversed  # the paper also uses every tuple in reverse
    plans = sampler.plans(5)
    labels = np.array([p.label for p in plans])
    assert binomial_ok(int(labels.sum()), len(plans), 0.6)
    reversed_ = 0
    for plan, label in zip(plans, labels, strict=True):
        x, y, z = plan.frames[0]
        between = min(x, z) < y < max(x, z)
        assert between == (label == 1)
        reversed_ += x > z
    assert binomial_ok(reversed_, len(plans), 0.5)


def _bayes_balanced_accuracy(feature: np.ndarray, label: np.ndarray) -> float:
    """Balanced accuracy on the second half of a classifier that, per feature value, answers the
    label that is more likely on the first half (per-class frequencies): the Bayes classifier of
    `label` from `feature` alone, estimated honestly."""
    half = len(label) // 2
    values = int(feature.max()) + 1
    first, first_label = feature[:half], label[:half]
    pos = np.bincount(first[first_label == 1], minlength=values) / max((first_label == 1).sum(), 1)
    neg = np.bincount(first[first_label == 0], minlength=values) / max((first_label == 0).sum(), 1)
    guess = (pos > neg).astype(np.int64)[feature[half:]]
    truth = label[half:]
    return 0.5 * ((guess[truth == 1] == 1).mean() + (guess[truth == 0] == 0).mean())


@pytest.mark.parametrize("frames", [40, 120])
def test_tuples_middle_frame_position_carries_no_label(frames):
    # Misra et al.'s task is order; where in the video the middle frame lies must not tell the
    # label. The toy set's case (window = video length) is the hardest: with five sorted draws in
    # one window, the index alone predicted the label with balanced accuracy 0.99.
    sampler = TupleSampler(
        [video(frames)] * 20, window=40, outer_gap=10, positive_fraction=0.5, samples_per_video=1000
    )
    plans = sampler.plans(0)
    middle = np.array([p.frames[0][1] for p in plans])
    label = np.array([p.label for p in plans])
    assert 0.48 <= _bayes_balanced_accuracy(middle, label) <= 0.52
    # ... nor how far apart the tuple's frames are
    t = np.array([p.frames[0] for p in plans])
    assert 0.48 <= _bayes_balanced_accuracy(t.max(axis=1) - t.min(axis=1), label) <= 0.52


def test_tuples_pairwise_distances_do_not_depend_on_the_label():
    sampler = TupleSampler([video(200)] * 10, window=60, outer_gap=15, positive_fraction=0.5,
                           samples_per_video=3000)  # fmt: skip
    plans = sampler.plans(1)
    label = np.array([p.label for p in plans])
    t = np.array([p.frames[0] for p in plans])
    distances = np.sort(np.abs(t[:, [0, 1, 2]] - t[:, [1, 2, 0]]), axis=1)  # (P, 3) sorted
    for k in range(3):  # each order statistic: a Bayes classifier from it is at chance
        assert 0.48 <= _bayes_balanced_accuracy(distances[:, k], label) <= 0.52
    # the multiset as a whole (the largest distance is the sum of the other two on a line)
    assert (distances[:, 2] == distances[:, 0] + distances[:, 1]).all()
    joint = distances[:, 0] * 61 + distances[:, 1]
    assert 0.48 <= _bayes_balanced_accuracy(joint, label) <= 0.52
    assert (distances[:, 0] >= 2).all() and (distances[:, 1] >= 15).all()  # 2 <= E - g, g >= 15
    assert (distances[:, 2] <= 60).all()


def test_tuples_follow_motion():
    motion = np.zeros(300)
    motion[150:160] = 1.0
    sampler = TupleSampler(
        [video(300)], window=33, outer_gap=15, motion=[motion], samples_per_video=5000
    )
    middle = np.array([p.frames[0][1] for p in sampler.plans(0)])
    assert ((middle >= 17) & (middle <= 300 - 18)).all()
    near = ((middle >= 150 - 16) & (middle <= 159 + 16)).mean()  # windows centred there see motion
    assert near > 0.9
    assert near < 1.0  # the floor still draws quiet windows


def test_tuples_without_motion_are_uniform():
    sampler = TupleSampler([video(300)], window=33, outer_gap=15, samples_per_video=20000)
    middle = np.array([p.frames[0][1] for p in sampler.plans(1)])
    assert middle.min() == 17 and middle.max() == 300 - 18  # room for a tuple on both sides
    counts = np.bincount((middle - 17) * 10 // 266, minlength=10)  # 266 middle frames, 10 buckets
    expected = len(middle) * np.bincount(np.arange(266) * 10 // 266) / 266
    chi2 = (((counts - expected) ** 2) / expected).sum()
    assert chi2 < 27.9  # chi-square, 9 degrees of freedom, p = 0.001


def test_tuples_static_videos_still_drawn():
    videos = [video(100), video(100)]
    motion = [np.zeros(100), np.r_[np.zeros(50), np.ones(50)]]
    plans = TupleSampler(videos, motion=motion, samples_per_video=500).plans(0)
    static = [p for p in plans if p.videos == (0,)]
    assert len(static) == 500
    assert len({p.frames[0][1] for p in static}) > 10  # uniform over a video with no motion


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(window=16, outer_gap=15), r"window must be an integer >= 17"),
        (dict(outer_gap=0), "outer_gap must be an integer >= 1"),
        (dict(positive_fraction=1.5), r"positive_fraction must be in \[0, 1\]"),
        (dict(motion=[np.ones(100)]), r"motion must have one array per video \(2\), got 1"),
        (dict(motion=[np.ones(100), np.ones(99)]), r"motion\[1\] must be .* \(100,\)"),
        (dict(motion=[np.ones(100), -np.ones(100)]), r"motion\[1\] must be a finite, non-negative"),
        (dict(motion_floor=-1), "motion_floor must be a number >= 0"),
        (dict(outer_gap=48), r"no video can hold the structure: each needs at least 2 \* \(outer_gap"),
    ],
)
def test_tuples_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TupleSampler([video(100), video(100)], **kwargs)


# -- sequences -----------------------------------------------------------------------------------
def test_sequences_index_arithmetic():
    videos = [video(100), video(118, label=1), video(500, label=2)]
    sampler = SequenceSampler(videos, samples_per_video=2000)  # DPC: 8 blocks of 5 frames, stride 3
    assert (sampler.num_blocks, sampler.block_len, sampler.stride, sampler.span) == (8, 5, 3, 118)
    assert sampler.skipped == 1
    groups = by_video(sampler.plans(0))
    assert set(groups) == {1, 2}
    for vid, sequences in groups.items():
        seq = np.array(sequences)
        start = seq[:, 0]
        blocks = seq.reshape(-1, 8, 5)
        k, j = np.meshgrid(np.arange(8), np.arange(5), indexing="ij")
        assert (blocks == start[:, None, None] + (k * 5 + j) * 3).all()
        assert ((start >= 0) & (seq[:, -1] < videos[vid].num_frames)).all()
    assert set(np.array(groups[1])[:, 0]) == {0}  # exactly fits
    starts = np.array(groups[2])[:, 0]
    assert starts.min() == 0 and starts.max() == 500 - 118


def test_sequences_of_single_frames():
    plans = SequenceSampler(
        [video(64)], num_blocks=16, block_len=1, stride=4, samples_per_video=50
    ).plans(0)
    for plan in plans:
        frames = plan.frames[0]
        assert len(frames) == 16 and np.all(np.diff(frames) == 4) and frames[-1] < 64


def test_sequences_bad_arguments():
    with pytest.raises(ValueError, match="block_len must be an integer >= 1 frames"):
        SequenceSampler([video(200)], block_len=0)
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        SequenceSampler([video(200)], stride=1.5)
    with pytest.raises(ValueError, match=r"needs at least \(num_blocks \* block_len - 1\)"):
        SequenceSampler([video(50)])


# -- frames --------------------------------------------------------------------------------------
def test_frames_distinct_within_a_plan_and_videos_visited_uniformly():
    videos = [video(1), video(3), video(300), video(0)]
    sampler = FrameSampler(videos, frames_per_visit=3, num_plans=3001)
    assert sampler.skipped == 1 and len(sampler) == 3001
    plans = sampler.plans(0)
    visits = Counter(p.videos[0] for p in plans)
    assert set(visits) == {0, 1, 2} and max(visits.values()) - min(visits.values()) <= 1
    for plan in plans:
        frames = plan.frames[0]
        n = videos[plan.videos[0]].num_frames
        assert len(frames) == 3 and all(0 <= f < n for f in frames)
        assert len(set(frames)) == min(3, n)
    big = np.array(by_video(plans)[2])
    assert set(big.ravel()) == set(range(300))  # every frame is drawn
    assert binomial_ok(int((big[:, 0] < 150).sum()), len(big), 0.5)  # and ~uniformly
    assert set(np.array(by_video(plans)[1])[:, 0]) == {0, 1, 2}  # random order within a plan


def test_frames_default_epoch_visits_each_video_once():
    videos = [video(10 + i) for i in range(7)]
    sampler = FrameSampler(videos)
    plans = sampler.plans(4)
    assert len(sampler) == 7 and sorted(p.videos[0] for p in plans) == list(range(7))
    assert all(len(p.frames[0]) == 1 for p in plans)
    with pytest.raises(ValueError, match="frames_per_visit must be an integer >= 1"):
        FrameSampler(videos, frames_per_visit=0)
    with pytest.raises(ValueError, match="num_plans must be an integer >= 1"):
        FrameSampler(videos, num_plans=0)


# -- clips ---------------------------------------------------------------------------------------
def test_clips_uniform_cover_the_video_and_ignore_the_epoch():
    videos = [video(300, label=1), video(20, label=2)]
    sampler = ClipSampler(videos, num_frames=16, stride=4, mode="uniform", clips_per_video=10)
    plans = sampler.plans(0)
    assert len(plans) == len(sampler) == 20
    assert (
        plans
        == sampler.plans(1)
        == sampler.plans(7)
        == ClipSampler(videos, mode="uniform", seed=3).plans(0)
    )
    long = [p.frames[0] for p in plans if p.videos == (0,)]
    assert long[0][0] == 0 and long[-1][-1] == 299  # first clip at the start, last at the end
    starts = [c[0] for c in long]
    assert starts == sorted(starts) and len(set(starts)) == 10
    assert max(np.diff(starts)) - min(np.diff(starts)) <= 1  # evenly spaced
    assert all(np.all(np.diff(c) == 4) for c in long)
    short = [p.frames[0] for p in plans if p.videos == (1,)]
    assert all(c == tuple(min(4 * j, 19) for j in range(16)) for c in short)  # last frame repeats
    centred = ClipSampler([video(101)], num_frames=5, stride=5, mode="uniform", clips_per_video=1)
    assert centred.plans(0)[0].frames == ((40, 45, 50, 55, 60),)


def test_clips_random_in_range_and_short_videos_padded():
    videos = [video(300), video(10)]
    sampler = ClipSampler(videos, num_frames=8, stride=2, clips_per_video=2000)
    assert sampler.skipped == 0
    groups = by_video(sampler.plans(0))
    clips = np.array(groups[0])
    assert (np.diff(clips, axis=1) == 2).all() and clips.min() == 0 and clips.max() == 299
    assert clips[:, 0].max() == 300 - 15  # every start whose clip fits
    assert set(groups[1]) == {(0, 2, 4, 6, 8, 9, 9, 9)}
    with pytest.raises(ValueError, match="mode must be one of 'random', 'uniform'"):
        ClipSampler(videos, mode="dense")
    with pytest.raises(ValueError, match="num_frames must be an integer >= 1"):
        ClipSampler(videos, num_frames=0)


# -- determinism ---------------------------------------------------------------------------------
def all_videos() -> list[VideoInfo]:
    return [
        video(300, fps=30, group="a", view="0", label=0),
        video(250, fps=25, group="a", view="1", offset=0.2, label=0),
        video(200, fps=60, group="b", view="0", label=1),
        video(180, fps=30, group="b", view="1", offset=-0.4, label=1),
        video(140, fps=24, label=2),
    ]


CONFIGS = {
    "pairs": dict(samples_per_video=3),
    "multiview": dict(moments_per_scene=3, blocks_per_scene=2),
    "tuples": dict(samples_per_video=3),
    "sequences": dict(samples_per_video=3),
    "frames": dict(frames_per_visit=2, num_plans=12),
    "clips": dict(clips_per_video=3),
}


def summary(name: str, seed: int, epoch: int) -> list:
    plans = build_sampler(name, all_videos(), seed=seed, **CONFIGS[name]).plans(epoch)
    return [[list(p.videos), [list(f) for f in p.frames], p.label] for p in plans]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_plans_depend_only_on_seed_and_epoch(name):
    first = summary(name, 0, 0)
    np.random.seed(123)  # global generators must not matter
    random.seed(123)
    state = np.random.get_state()[1].copy()
    assert summary(name, 0, 0) == first  # a new sampler, same plans
    assert (np.random.get_state()[1] == state).all()  # and the global state is untouched
    sampler = build_sampler(name, all_videos(), **CONFIGS[name])
    assert [sampler.plans(0) for _ in range(2)] == [sampler.plans(0)] * 2
    assert summary(name, 0, 1) != first  # epochs differ
    assert summary(name, 1, 0) != first  # seeds differ
    assert len(build_sampler(name, all_videos(), **CONFIGS[name])) == len(first)


def test_plans_are_the_same_in_a_fresh_process():
    tests = str(Path(__file__).parent)
    script = (
        f"import json, sys; sys.path.insert(0, {tests!r}); import test_sampling as t; "
        "print(json.dumps({n: t.summary(n, 7, 3) for n in t.CONFIGS}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # string hashing differs from this process
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == {n: summary(n, 7, 3) for n in CONFIGS}


def test_epoch_must_be_a_non_negative_integer():
    sampler = FrameSampler([video(10)])
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        sampler.plans(-1)


# -- registry ------------------------------------------------------------------------------------
def test_registry_and_build_sampler():
    assert SAMPLERS.names() == ["clips", "frames", "multiview", "pairs", "sequences", "tuples"]
    for name in SAMPLERS.names():
        cls = SAMPLERS.get(name)
        assert issubclass(cls, Sampler) and cls.kind == name
        assert isinstance(build_sampler(name, all_videos()), cls)
    with pytest.raises(
        ValueError, match=r"^unknown sampler 'tcn'; valid choices: clips, frames, multiview, pairs, "
    ):
        build_sampler("tcn", all_videos())
    with pytest.raises(ValueError, match=r"^unknown sampler 'tuple'; did you mean 'tuples'\?"):
        build_sampler("tuple", all_videos())
    with pytest.raises(ValueError, match="has no argument pos_radius; valid: pos_window, neg_margin"):
        build_sampler("pairs", all_videos(), pos_radius=3)
    with pytest.raises(ValueError, match="videos: expected at least one VideoInfo"):
        build_sampler("clips", [])


def test_plans_for_thousands_of_videos():
    # plans are drawn vectorized over all videos (speed is measured by benchmarks, not tests)
    rng = np.random.default_rng(0)
    videos = [video(int(n), label=i % 10) for i, n in enumerate(rng.integers(130, 3000, 13000))]
    for name in ["pairs", "tuples", "sequences", "frames", "clips"]:
        sampler = build_sampler(name, videos)
        plans = sampler.plans(0)
        assert len(plans) == len(sampler) > 13000  # 4-100 s videos: 1-10 plans each
        assert {p.videos[0] for p in plans} == set(range(13000)), name


def test_multiview_syncs_variable_frame_rate_views_by_timestamp():
    from tempssl.data.sources import VideoInfo

    stamps = tuple(np.cumsum([0.0] + [0.02] * 20 + [0.06] * 19))  # 50 fps, then 16.7 fps
    vfr = VideoInfo(
        "a.mp4", 40, 39 / stamps[-1], stamps[-1], 64, 64, group="s", view="v0", timestamps=stamps
    )
    cfr = VideoInfo("b.mp4", 60, 30.0, 2.0, 64, 64, group="s", view="v1", offset=0.1)
    sampler = MultiViewSampler([vfr, cfr], moments_per_scene=8, min_gap=0.0, blocks_per_scene=50)
    by_average_rate_off = 0
    for plan in sampler.plans(0):
        f_vfr, f_cfr = _frame_of(plan, 0), _frame_of(plan, 1)
        t = cfr.offset + f_cfr / cfr.fps  # the moment, within half a frame (1/60 s), from the CFR view
        # the VFR frame shown nearest that moment: within half its longest gap (30 ms) of it
        assert abs(stamps[f_vfr] - t) <= 0.03 + 1 / 60 + 1e-9
        by_average_rate = min(round(t * vfr.fps), 39)
        by_average_rate_off += abs(stamps[by_average_rate] - t) > 0.03 + 1 / 60
    assert by_average_rate_off > 0  # the average rate alone would have picked wrong frames


# -- plans per epoch follow the footage (one rule for every sampler) ----------------------------
SINGLE_VIEW_KINDS = ["pairs", "tuples", "sequences", "frames", "clips"]


@pytest.mark.parametrize("name", SINGLE_VIEW_KINDS)
def test_plans_per_video_follow_its_length(name):
    # 5 s, 14 s, 15 s, 60 s and 300 s at 30 fps: round(seconds / 10), at least 1
    videos = [video(n) for n in (150, 420, 450, 1800, 9000)]
    sampler = build_sampler(name, videos)
    counts = np.bincount([plan.videos[0] for plan in sampler.plans(0)], minlength=5)
    assert counts.tolist() == [1, 1, 2, 6, 30]
    assert len(sampler) == 40
    denser = build_sampler(name, videos, seconds_per_plan=2.5)
    assert len(denser) == 2 + 6 + 6 + 24 + 120


@pytest.mark.parametrize("name", SINGLE_VIEW_KINDS)
def test_too_little_footage_is_multiplied_up_to_min_plans(name):
    # three short real-world clips and a batch of 32: every count grows by one common factor
    videos = [video(n) for n in (132, 120, 450)]  # 4.4 s, 4 s, 15 s -> 1, 1, 2 plans
    sampler = build_sampler(name, videos, min_plans=32)
    counts = np.bincount([plan.videos[0] for plan in sampler.plans(3)], minlength=3)
    assert counts.tolist() == [8, 8, 16] and len(sampler) == 32


@pytest.mark.parametrize(
    ("name", "explicit"),
    [("pairs", "samples_per_video"), ("tuples", "samples_per_video"),
     ("sequences", "samples_per_video"), ("clips", "clips_per_video")],
)  # fmt: skip
def test_explicit_counts_replace_the_rule(name, explicit):
    videos = [video(n) for n in (150, 9000)]
    sampler = build_sampler(name, videos, **{explicit: 3}, min_plans=100)
    counts = np.bincount([plan.videos[0] for plan in sampler.plans(0)], minlength=2)
    assert counts.tolist() == [3, 3]
    assert len(build_sampler("frames", videos, num_plans=7).plans(0)) == 7


def test_multiview_blocks_follow_the_shared_span_of_each_scene():
    # a 10-minute two-camera recording and a 3.3 s one (the second view starts 1 s late)
    views = [
        video(18000, group="long", view="a"), video(18000, group="long", view="b"),
        video(100, group="short", view="a"), video(100, group="short", view="b", offset=1.0),
    ]  # fmt: skip
    sampler = build_sampler("multiview", views, moments_per_scene=4)
    plans = sampler.plans(0)
    scenes = [views[plan.videos[0]].group for plan in plans]
    # 600 s / (10 s x 4 moments) = 15 blocks; the short scene shares 2.3 s: 1 block
    assert scenes.count("long") == 60 and scenes.count("short") == 4 and len(sampler) == 64


def test_few_multiview_recordings_fill_a_batch():
    # the case: two scenes of four synchronized cameras, 100 frames each, batch 32
    views = [video(100, group=f"scene{s}", view=f"cam{c}") for s in range(2) for c in range(4)]
    sampler = build_sampler("multiview", views, views=2, moments_per_scene=4, min_plans=32)
    assert len(sampler) == len(sampler.plans(0)) == 32
    scenes = [views[plan.videos[0]].group for plan in sampler.plans(0)]
    assert scenes.count("scene0") == scenes.count("scene1") == 16
    # configs/tcn.yaml's default: a block is one batch of 16 moments, 2 blocks fill 32 plans
    sampler = build_sampler("multiview", views, views=2, batch_size=16, min_plans=32)
    assert len(sampler) == 32 and sampler.moments_per_scene == 16
