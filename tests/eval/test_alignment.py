"""Multi-view alignment and Kendall's tau against known answers (tempssl/eval/alignment.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tempssl.eval.alignment import align_scenes, align_views, kendall_tau, nearest_frames, summarize
from tempssl.eval.store import Embeddings


def scene_content(times: np.ndarray) -> np.ndarray:
    """What a camera sees at scene times `times` (seconds, 0..2.5): `(T, 4)`, one point per moment.

    Cosine similarity and Euclidean distance both decrease with the time difference (no wrap-around
    below 2.4 s), so the nearest frame in another view is the one closest in time.
    """
    angles = np.stack([times * 1.0, times * 1.3], axis=1)
    return np.concatenate([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def frame_times(fps: float, count: int, offset: float = 0.0) -> np.ndarray:
    return offset + np.arange(count) / fps


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_same_trajectory_at_another_frame_rate_aligns_perfectly(metric):
    times_a, times_b = frame_times(10, 20), frame_times(20, 40)  # 0..1.9 s and 0..1.95 s
    result = align_views(scene_content(times_a), times_a, scene_content(times_b), times_b, metric)
    assert result.error_frames == 0.0
    assert result.error_seconds == 0.0
    assert result.kendall_tau == 1.0
    np.testing.assert_allclose(result.retrieved_times, times_a)


def test_shifted_view_aligns_perfectly_on_the_overlap():
    times_a, times_b = frame_times(10, 20), frame_times(10, 20, offset=0.5)  # B starts 0.5 s later
    result = align_views(scene_content(times_a), times_a, scene_content(times_b), times_b)
    np.testing.assert_allclose(result.query_times, times_a[5:])  # 0.0-0.4 s happened before B began
    assert (result.error_frames, result.error_seconds, result.kendall_tau) == (0.0, 0.0, 1.0)


def test_lagging_embedding_errors_in_frames_and_seconds():
    # B (20 fps) shows at time t what happened at t - 0.2 s: each query of A (10 fps) retrieves the B
    # frame 0.2 s (4 frames of B) after the true one, except at the end of B (last frame 1.95 s).
    times_a, times_b = frame_times(10, 20), frame_times(20, 40)
    result = align_views(scene_content(times_a), times_a, scene_content(times_b - 0.2), times_b)
    late = times_a <= 1.75 + 1e-9  # 18 queries find their moment in B
    expected_seconds = np.where(late, 0.2, 1.95 - times_a)  # the last two get B's last frame
    assert late.sum() == 18
    assert result.error_seconds == pytest.approx(
        expected_seconds.mean()
    )  # (18 * 0.2 + 0.15 + 0.05) / 20
    assert result.error_frames == pytest.approx(expected_seconds.mean() * 20)  # 3.8 frames of B
    assert result.kendall_tau == pytest.approx(math.sqrt(1 - 1 / 190))  # 1.8 s and 1.9 s tie


def test_reversed_view_has_tau_minus_one():
    times = frame_times(10, 20)
    result = align_views(scene_content(times), times, scene_content(times[::-1].copy()), times)
    assert result.kendall_tau == pytest.approx(-1.0)
    assert result.error_frames == pytest.approx(np.abs(np.arange(20) - np.arange(20)[::-1]).mean())


def test_sparser_view_ties_lower_tau_b_slightly():
    # A at 20 fps, B every 0.15 s: several queries retrieve the same frame of B (no query is exactly
    # between two frames of B, so each has one nearest frame).
    times_a, times_b = frame_times(20, 40), np.arange(0, 2.0, 0.15)
    result = align_views(scene_content(times_a), times_a, scene_content(times_b), times_b)
    assert (result.error_frames, result.error_seconds) == (0.0, 0.0)
    retrieved = np.abs(times_a[:, None] - times_b[None, :]).argmin(axis=1)
    tied = sum(count * (count - 1) // 2 for count in np.unique(retrieved, return_counts=True)[1])
    pairs = 40 * 39 // 2
    assert tied > 0
    assert result.kendall_tau == pytest.approx(math.sqrt(1 - tied / pairs))


def test_padding_frames_are_dropped():
    times = frame_times(10, 12)
    padded = np.concatenate([times, [np.nan, np.nan]])
    frames = np.concatenate([scene_content(times), np.zeros((2, 4), np.float32)])
    result = align_views(frames, padded, frames, padded)
    assert len(result.query_times) == 12
    assert (result.error_frames, result.kendall_tau) == (0.0, 1.0)


def _brute_force_tau_b(x, y) -> float:
    concordant = discordant = ties_x = ties_y = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        if x[i] == x[j]:
            ties_x += 1
        if y[i] == y[j]:
            ties_y += 1
        if x[i] != x[j] and y[i] != y[j]:
            if (x[i] < x[j]) == (y[i] < y[j]):
                concordant += 1
            else:
                discordant += 1
    pairs = len(x) * (len(x) - 1) // 2
    return (concordant - discordant) / math.sqrt((pairs - ties_x) * (pairs - ties_y))


def test_kendall_tau_matches_a_brute_force_pair_count():
    rng = np.random.default_rng(0)
    for n in (2, 5, 30):
        x, y = rng.integers(0, 6, n), rng.integers(0, 6, n)
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert kendall_tau(x, y) == pytest.approx(_brute_force_tau_b(x, y))
    assert kendall_tau(np.arange(10), np.arange(10)) == 1.0
    assert kendall_tau(np.arange(10), -np.arange(10)) == -1.0
    assert kendall_tau([0, 1, 2], [0, 2, 1]) == pytest.approx(1 / 3)  # 2 concordant, 1 discordant
    assert math.isnan(kendall_tau([1, 2, 3], [4, 4, 4]))


def test_kendall_tau_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 8, 50), rng.integers(0, 5, 50)
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


def test_nearest_frames_metrics():
    a = np.array([[1.0, 0.0], [0.0, 3.0]])
    b = np.array([[10.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    assert nearest_frames(a, b, "cosine").tolist() == [0, 1]  # direction only
    assert nearest_frames(a, b, "euclidean").tolist() == [2, 1]  # (1, 0) is nearest to (0.9, 0.1)
    with pytest.raises(ValueError, match="unknown metric"):
        nearest_frames(a, b, "manhattan")


def multiview_embeddings() -> Embeddings:
    """Scene s0: view0 at 20 fps, view1 at 10 fps starting 0.01 s later (no query frame lies halfway
    between two frames of the other view). Scene s1: two 10 fps views, view1 time-reversed. And a
    video without a scene. Shorter videos are padded to 40 frames with NaN times."""
    times10, times20 = frame_times(10, 20), frame_times(20, 40)
    videos = [  # (what the camera saw at each frame, when the frame was taken)
        (times20, times20),
        (times10 + 0.01, times10 + 0.01),
        (times10, times10),
        (times10[::-1], times10),
        (times10, times10),
    ]
    frames = np.zeros((5, 40, 4), np.float32)
    times = np.full((5, 40), np.nan)
    for i, (content, real) in enumerate(videos):
        frames[i, : len(real)], times[i, : len(real)] = scene_content(content), real
    return Embeddings(
        embeddings=frames.mean(axis=1),
        paths=np.array([f"v{i}.mp4" for i in range(5)]),
        labels=np.full(5, -1),
        classes=np.array([], dtype=str),
        groups=np.array(["s0", "s0", "s1", "s1", ""]),
        views=np.array(["view0", "view1", "view0", "view1", ""]),
        frame_embeddings=frames,
        frame_times=times,
    )


def test_align_scenes_aggregates_over_pairs_of_views():
    alignments = align_scenes(multiview_embeddings())
    pairs = [(a.scene, a.view_a, a.view_b) for a in alignments]
    assert pairs == [
        (scene, *views) for scene in ("s0", "s1") for views in (("view0", "view1"), ("view1", "view0"))
    ]
    # s0, 20 fps -> 10 fps: each frame of view1 is retrieved by two queries (20 tied pairs of 780).
    taus = [a.kendall_tau for a in alignments]
    assert taus == [
        pytest.approx(math.sqrt(1 - 20 / 780)),
        1.0,
        pytest.approx(-1.0),
        pytest.approx(-1.0),
    ]
    assert [a.error_frames for a in alignments[:2]] == [0.0, 0.0]
    summary = summarize(alignments)
    assert (summary["num_scenes"], summary["num_pairs"]) == (2, 4)
    assert summary["kendall_tau"] == pytest.approx(np.mean(taus))
    assert summary["error_frames"] == pytest.approx(np.mean([a.error_frames for a in alignments]))
    assert summary["error_frames"] == pytest.approx(10.0 / 2)  # s1: mean |19 - 2i| = 10 frames
    assert [p["frames"] for p in summary["pairs"]] == [40, 20, 20, 20]


def test_align_scenes_errors():
    data = multiview_embeddings()
    with pytest.raises(ValueError, match=r"no frame embeddings.*--save-frames"):
        align_scenes(Embeddings(**{**vars(data), "frame_embeddings": None, "frame_times": None}))
    with pytest.raises(ValueError, match="no scene with two or more views"):
        align_scenes(Embeddings(**{**vars(data), "groups": np.array(["s0", "s1", "s2", "s3", ""])}))


def test_alignment_curve_png(tmp_path):
    pytest.importorskip("matplotlib")
    from tempssl.eval.plots import plot_alignment

    path = plot_alignment(align_scenes(multiview_embeddings()), tmp_path / "curve.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]  # no temporary file left


def test_trajectory_png(tmp_path):
    pytest.importorskip("matplotlib")
    from tempssl.eval.plots import plot_trajectories

    data = multiview_embeddings()
    path = plot_trajectories(data.frame_embeddings, tmp_path / "traj.png", data.paths, data.frame_times)
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:4] == b"\x89PNG"
