"""Sampling plans: which frames one training example needs. Pure, seeded index logic (NumPy only).

A sampler looks at a list of `VideoInfo` and returns *plans*; `tempssl.data.dataset.PlanDataset`
decodes each plan's frames (one call per video) and assembles tensors by the sampler's `kind`.

- `plans(epoch)` is a pure function of `(seed, epoch)` and the constructor arguments: it draws from
  `np.random.default_rng([seed, epoch])` and nothing else, so item `i` of an epoch is the same in any
  process or DataLoader worker, and a run can be reproduced or inspected without decoding anything.
- `len(sampler)` (plans per epoch) is fixed: it does not depend on the epoch.
- Plans per epoch follow the amount of footage (one rule for every sampler, `Sampler.visits`):
  each video gets one plan per `seconds_per_plan` seconds (default 10 s, rounded, at least one),
  so a data set of short clips keeps the usual epoch of one sample per clip (UCF101 averages 7 s,
  Kinetics clips are 10 s) while a few long recordings give proportionally more. When the total is
  below `min_plans` (the trainer passes one global batch), every count is multiplied up to reach
  it. Explicit counts (`samples_per_video`, `blocks_per_scene`, `num_plans`, `clips_per_video`)
  replace the rule.
- A video that cannot hold a sampler's structure is skipped, counted in `skipped` and logged once;
  if no video can hold it, the constructor raises `ValueError` naming the requirement.

Example:
    >>> sampler = build_sampler("pairs", source.videos, pos_window=6, neg_margin=12)
    >>> plan = sampler.plans(epoch=0)[0]
    >>> plan.videos, plan.frames   # e.g. (17,), ((120, 124, 301),): anchor, positive, negative
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from tempssl.registry import Registry

if TYPE_CHECKING:  # samplers only read attributes; importing sources would pull in the decoders
    from tempssl.data.sources import VideoInfo


def nearest_frames(timestamps: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the frame nearest to each time: `timestamps (N,)` sorted, `times (...)` -> int64."""
    if len(timestamps) == 1:
        return np.zeros(np.shape(times), dtype=np.int64)
    right = np.clip(np.searchsorted(timestamps, times), 1, len(timestamps) - 1)
    left = right - 1
    closer_left = np.abs(times - timestamps[left]) <= np.abs(timestamps[right] - times)
    return np.where(closer_left, left, right).astype(np.int64)


log = logging.getLogger(__name__)

SECONDS_PER_PLAN = 10.0  # footage per plan for the plans-per-epoch rule (see the module docstring)


@dataclass(frozen=True)
class Plan:
    """The frames one training example needs.

    Attributes:
        videos: indices into the sampler's `videos`, one per view (length 1 for single-view kinds).
        frames: per entry of `videos`, the frame indices in the order of the sampler's structure.
        label: the structure's target where it has one (tuples: 1 in order, 0 shuffled), else the
            video's class (`VideoInfo.label`, -1 when unlabeled).
    """

    videos: tuple[int, ...]
    frames: tuple[tuple[int, ...], ...]
    label: int = -1


class Sampler:
    """Base class: seeded plans over a fixed list of videos.

    Attributes:
        kind: the structure of the plans ("pairs", "multiview", "tuples", "sequences", "frames",
            "clips"); the dataset assembles tensors by it.
        videos: the videos given (plan indices point into this list).
        seed: the sampler's seed (a non-negative int).
        skipped: videos that cannot hold the structure and are never sampled.
    """

    kind: ClassVar[str] = ""

    def __init__(
        self,
        videos: Sequence[VideoInfo],
        *,
        seed: int = 0,
        seconds_per_plan: float = SECONDS_PER_PLAN,
        min_plans: int = 1,
    ) -> None:
        self.videos = list(videos)
        if not self.videos:
            raise ValueError(f"{type(self).__name__}: videos: expected at least one VideoInfo, got none")
        self.seed = _int_at_least(self, "seed", seed, 0)
        if not (_is_number(seconds_per_plan) and seconds_per_plan > 0):
            raise ValueError(
                f"{type(self).__name__}: seconds_per_plan must be a number > 0, got {seconds_per_plan!r}"
            )
        self.seconds_per_plan = float(seconds_per_plan)
        self.min_plans = _int_at_least(self, "min_plans", min_plans, 1)
        self.skipped = 0
        self._num_frames = np.array([v.num_frames for v in self.videos], dtype=np.int64)
        self._fps = np.array([v.fps for v in self.videos], dtype=np.float64)
        self._seconds = np.array([v.duration for v in self.videos], dtype=np.float64)
        self._labels = np.array([v.label for v in self.videos], dtype=np.int64)

    def __len__(self) -> int:
        """Plans per epoch (the same for every epoch)."""
        raise NotImplementedError

    def plans(self, epoch: int) -> list[Plan]:
        """The plans of `epoch`, a pure function of `(seed, epoch)`; `len(plans(e)) == len(self)`."""
        raise NotImplementedError

    def visits(self, seconds: np.ndarray, explicit: int | None = None, per_plan: int = 1) -> np.ndarray:
        """Plans per epoch for each unit of footage (a video, or a multi-view scene).

        The rule: `explicit` each when given; else `round(seconds / seconds_per_plan)`, at least 1,
        counted in groups of `per_plan` plans (multi-view blocks), and multiplied up by one common
        factor when the total is below `min_plans` plans.
        """
        if explicit is not None:
            return np.full(len(seconds), explicit, dtype=np.int64)
        footage = np.nan_to_num(np.asarray(seconds, dtype=np.float64), nan=0.0, posinf=0.0)
        plans = footage / self.seconds_per_plan / per_plan
        counts = np.maximum(1, np.floor(plans + 0.5)).astype(np.int64)  # rounded, at least one
        total = int(counts.sum()) * per_plan
        if total < self.min_plans:
            counts *= -(-self.min_plans // total)
        return counts

    def _visit_videos(self, explicit: int | None) -> None:
        """Plans per epoch of each usable video (`self._ids`), by `visits`."""
        self._counts = self.visits(self._seconds[self._ids], explicit)

    def _visit_order(self, rng: np.random.Generator) -> np.ndarray:
        """The video of each plan of an epoch: each usable video `_counts` times, shuffled."""
        return rng.permutation(np.repeat(self._ids, self._counts))

    def _rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, _int_at_least(self, "epoch", epoch, 0)])

    def _keep(self, usable: np.ndarray, requirement: str) -> np.ndarray:
        """Ids of the usable videos; the others are counted in `skipped` and logged once."""
        self.skipped = int((~usable).sum())
        name = type(self).__name__
        if not usable.any():
            raise ValueError(f"{name}: no video can hold the structure: each needs {requirement}")
        if self.skipped:
            log.warning(
                "%s: skipping %d of %d videos too short for the structure (each needs %s)",
                name,
                self.skipped,
                len(self.videos),
                requirement,
            )
        return np.flatnonzero(usable)


# name -> Sampler subclass; `sampler.name` in a config is one of these names (each the class's kind).
SAMPLERS: Registry[type[Sampler]] = Registry("sampler")


@SAMPLERS.register("pairs")
class PairSampler(Sampler):
    """Anchor, positive and negative frames of one video: single-view TCN (Sermanet et al. 2017).

    Defining property: with anchor `t`, the positive `t'` has `1 <= |t' - t| <= pos_window` (never the
    anchor itself) and the negative `t''` has `|t'' - t| > neg_margin`. Near the ends of a video only
    existing frames are drawn, and anchors are drawn only where both a positive and a negative exist;
    each of the three is uniform over what is allowed.

    Defaults (`pos_window=6`, `neg_margin=12` frames, or 0.2 s and 0.4 s with `unit="seconds"`) are
    the reference implementation's `svtcn: pos_radius: 6, neg_radius: 12` (tensorflow/models,
    research/tcn/configs/tcn_default.yml: "0.2 seconds * 29fps ~ 6 timesteps", negative radius twice
    the positive one), with its boundaries: positive `|dt| <= pos_radius`, negative `|dt| > neg_radius`.

    Args:
        videos: the videos.
        pos_window: largest anchor-positive distance (in `unit`). Default 6 frames / 0.2 s.
        neg_margin: anchor-negative distances must exceed it (in `unit`); must be > pos_window.
            Default 12 frames / 0.4 s.
        unit: "frames", or "seconds" (converted with each video's fps: `floor(window * fps)` frames).
        samples_per_video: plans per usable video per epoch; None: the footage rule (module docstring).
        seed: the sampler's seed.
        seconds_per_plan, min_plans: the footage rule's parameters (module docstring).

    Plan: `frames = ((anchor, positive, negative),)`, label = the video's class.
    """

    kind: ClassVar[str] = "pairs"

    def __init__(
        self,
        videos: Sequence[VideoInfo],
        *,
        pos_window: float | None = None,
        neg_margin: float | None = None,
        unit: str = "frames",
        samples_per_video: int | None = None,
        seed: int = 0,
        seconds_per_plan: float = SECONDS_PER_PLAN,
        min_plans: int = 1,
    ) -> None:
        super().__init__(videos, seed=seed, seconds_per_plan=seconds_per_plan, min_plans=min_plans)
        _one_of(self, "unit", unit, ("frames", "seconds"))
        defaults = (6, 12) if unit == "frames" else (0.2, 0.4)
        pos = defaults[0] if pos_window is None else pos_window
        neg = defaults[1] if neg_margin is None else neg_margin
        if unit == "frames":
            pos = _int_at_least(self, "pos_window", pos, 1, "frames")
            neg = _int_at_least(self, "neg_margin", neg, 1, "frames")
        elif not (_is_number(pos) and pos > 0):
            raise ValueError(f"PairSampler: pos_window must be a number > 0 seconds, got {pos!r}")
        if not (_is_number(neg) and neg > pos):
            raise ValueError(
                f"PairSampler: neg_margin must be > pos_window ({pos} {unit}), got {neg!r}: "
                "a negative must be farther from the anchor than any positive"
            )
        self.pos_window, self.neg_margin, self.unit = pos, neg, unit
        self.samples_per_video = _optional_int(self, "samples_per_video", samples_per_video, 1)

        if unit == "frames":
            self._pos = np.full(len(self.videos), pos, dtype=np.int64)
            self._neg = np.full(len(self.videos), neg, dtype=np.int64)
            requirement = f"at least neg_margin + 2 = {neg + 2} frames"
        else:
            fps = np.where(np.isfinite(self._fps) & (self._fps > 0), self._fps, 0.0)
            # 1e-9 keeps e.g. 0.7 s * 30 fps = 20.999999999999996 at 21 frames
            self._pos = np.floor(pos * fps + 1e-9).astype(np.int64)
            self._neg = np.floor(neg * fps + 1e-9).astype(np.int64)
            requirement = (
                f"pos_window * fps >= 1 frame and at least neg_margin * fps + 2 frames "
                f"({neg} s * fps + 2)"
            )
        # a negative exists for some anchor once the video is longer than neg_margin + 1 frames
        self._ids = self._keep((self._pos >= 1) & (self._num_frames >= self._neg + 2), requirement)
        self._visit_videos(self.samples_per_video)

    def __len__(self) -> int:
        return int(self._counts.sum())

    def plans(self, epoch: int) -> list[Plan]:
        rng = self._rng(epoch)
        vid = self._visit_order(rng)
        n, pos, neg = self._num_frames[vid], self._pos[vid], self._neg[vid]

        # Anchors with a negative: [0, n-2-neg] and [neg+1, n-1]. When they do not overlap, `gap`
        # frames in the middle have no frame farther than neg_margin on either side.
        gap = np.maximum(0, 2 * neg - n + 2)
        u = rng.integers(0, n - gap)
        anchor = u + gap * (u >= n - 1 - neg)

        lo, hi = np.maximum(anchor - pos, 0), np.minimum(anchor + pos, n - 1)
        u = rng.integers(0, hi - lo)  # hi - lo candidates: the window without the anchor
        positive = lo + u + (lo + u >= anchor)

        left = np.maximum(anchor - neg, 0)  # frames 0 .. anchor-neg-1
        right = np.maximum(n - 1 - anchor - neg, 0)  # frames anchor+neg+1 .. n-1
        u = rng.integers(0, left + right)
        negative = np.where(u < left, u, anchor + neg + 1 + (u - left))

        return _single_view_plans(vid, np.stack([anchor, positive, negative], axis=1), self._labels[vid])


@SAMPLERS.register("multiview")
class MultiViewSampler(Sampler):
    """Synchronized frames of several views of one moment: multi-view TCN (Sermanet et al. 2017).

    Defining property: the frames of a plan are the frames of each view nearest to one scene-clock
    time `t` (`VideoInfo.frame_at(t)`), so views with different fps and start offsets are matched by
    timestamp, not by frame index; `t` is uniform over the span where all chosen views have frames.

    Videos are grouped into scenes by `VideoInfo.group`. Plans come in blocks of `moments_per_scene`
    consecutive plans from one scene (the same views, distinct moments at least `min_gap` seconds
    apart where the span allows, else spread evenly). By default a block is one batch
    (`moments_per_scene = batch_size`, which the trainer sets to its per-process batch): every
    batch holds moments of a single scene, whose other moments are the negatives, as the
    reference fills a batch from one sequence (tensorflow/models research/tcn
    `get_tcn_anchor_pos_indices`: 16 anchor-positive pairs drawn without replacement from a
    window of one sequence). Negatives from other scenes would differ in scene appearance, which
    solves the loss without looking at time. Block order is shuffled per epoch; when a scene has
    more than `views` views, each block picks `views` of them at random. Each plan lists its views
    in a random order: the first is a random camera per moment (the anchor of TCN's N-pairs loss),
    as the reference draws an anchor and a positive view per pair.

    Args:
        videos: the videos; those without a group, or in a scene with fewer than `views` views or
            whose views share no instant, are skipped.
        views: views per plan (>= 2). Default 2 (the paper's two-camera setup).
        moments_per_scene: consecutive plans per block; None (default): `batch_size`.
        batch_size: plans per batch, the block size when `moments_per_scene` is None (the trainer
            passes `trainer.batch_size`). Default 16 (the reference's pairs per batch).
        min_gap: seconds between the moments of a block where possible. Default 0.4 s, the
            single-view TCN negative margin (12 frames at 29 fps) of the same reference.
        blocks_per_scene: blocks per usable scene per epoch; None: the footage rule over the span
            the scene's views share (`span / (seconds_per_plan * moments_per_scene)` blocks).
        seed: the sampler's seed.
        seconds_per_plan, min_plans: the footage rule's parameters (module docstring).

    Plan: `videos = (view ids, in random order)`, `frames = ((f_view0,), (f_view1,), ...)`,
    label = the scene's first view's class.
    """

    kind: ClassVar[str] = "multiview"

    def __init__(
        self,
        videos: Sequence[VideoInfo],
        *,
        views: int = 2,
        moments_per_scene: int | None = None,
        batch_size: int = 16,
        min_gap: float = 0.4,
        blocks_per_scene: int | None = None,
        seed: int = 0,
        seconds_per_plan: float = SECONDS_PER_PLAN,
        min_plans: int = 1,
    ) -> None:
        super().__init__(videos, seed=seed, seconds_per_plan=seconds_per_plan, min_plans=min_plans)
        self.views = _int_at_least(self, "views", views, 2)
        self.batch_size = _int_at_least(self, "batch_size", batch_size, 1)
        if moments_per_scene is None:
            moments_per_scene = self.batch_size
        self.moments_per_scene = _int_at_least(self, "moments_per_scene", moments_per_scene, 1)
        self.blocks_per_scene = _optional_int(self, "blocks_per_scene", blocks_per_scene, 1)
        if not (_is_number(min_gap) and min_gap >= 0):
            raise ValueError(f"MultiViewSampler: min_gap must be a number >= 0 seconds, got {min_gap!r}")
        self.min_gap = float(min_gap)

        offset = np.array([v.offset for v in self.videos], dtype=np.float64)
        valid = (self._num_frames >= 1) & np.isfinite(self._fps) & (self._fps > 0)
        fps = np.where(valid, self._fps, 1.0)
        self._fps_safe = fps
        # scene-clock times of each view's first and last frames
        self._first, self._last = offset, offset + (self._num_frames - 1) / fps
        # variable-frame-rate views: frames are found by their real timestamps
        self._vfr = {i: np.asarray(v.timestamps) for i, v in enumerate(self.videos) if v.timestamps}
        for i, stamps in self._vfr.items():
            self._last[i] = offset[i] + stamps[-1]

        scenes: dict[str, list[int]] = {}
        for i, video in enumerate(self.videos):
            if video.group is not None and valid[i]:
                scenes.setdefault(video.group, []).append(i)
        kept = {
            name: ids
            for name, ids in scenes.items()
            if len(ids) >= self.views and self._first[ids].max() <= self._last[ids].min()
        }
        if not kept:
            raise ValueError(
                f"MultiViewSampler: no scene (VideoInfo.group) has >= views = {self.views} views "
                f"that share a time span; {_describe_scenes(scenes)}"
            )
        self.scenes = list(kept)
        self.skipped = len(self.videos) - sum(len(ids) for ids in kept.values())
        if self.skipped:
            short = [f"{name!r} ({len(ids)} views)" for name, ids in scenes.items() if name not in kept]
            log.warning(
                "MultiViewSampler: skipping %d of %d videos (no group, no frames, or in a scene with "
                "fewer than %d views sharing a time span: %s)",
                self.skipped,
                len(self.videos),
                self.views,
                ", ".join(short[:5]) or "none",
            )
        width = max(len(ids) for ids in kept.values())
        self._members = np.full((len(kept), width), -1, dtype=np.int64)  # scene -> view ids, -1 pad
        for row, ids in enumerate(kept.values()):
            self._members[row, : len(ids)] = ids
        shared = [self._last[ids].min() - self._first[ids].max() for ids in kept.values()]
        self._blocks = self.visits(np.array(shared), self.blocks_per_scene, self.moments_per_scene)

    def __len__(self) -> int:
        return int(self._blocks.sum()) * self.moments_per_scene

    def plans(self, epoch: int) -> list[Plan]:
        rng = self._rng(epoch)
        scene = rng.permutation(np.repeat(np.arange(len(self.scenes)), self._blocks))
        members = self._members[scene]
        keys = np.where(members >= 0, rng.random(members.shape), 2.0)  # padding is never picked
        slots = np.sort(np.argsort(keys, axis=1)[:, : self.views], axis=1)
        vid = np.take_along_axis(members, slots, axis=1)  # (blocks, views)

        start, end = self._first[vid].max(axis=1), self._last[vid].min(axis=1)
        k = self.moments_per_scene
        # k sorted uniform points in a span shortened by the gaps, then the gaps put back: uniform
        # over all placements with neighbours >= gap apart
        gap = np.minimum(self.min_gap, (end - start) / max(k - 1, 1))
        slack = end - start - gap * (k - 1)
        times = (
            start[:, None]
            + np.sort(rng.random((len(scene), k)), axis=1) * slack[:, None]
            + gap[:, None] * np.arange(k)
        )
        # VideoInfo.frame_at, vectorized: nearest frame (round half to even, like round())
        offset, fps = self._first[vid][:, None, :], self._fps_safe[vid][:, None, :]
        frames = np.rint((times[:, :, None] - offset) * fps).astype(np.int64)
        frames = np.clip(frames, 0, self._num_frames[vid][:, None, :] - 1)  # (blocks, k, views)
        for block, view in zip(*np.nonzero(np.isin(vid, list(self._vfr))), strict=True):
            video = vid[block, view]
            frames[block, :, view] = nearest_frames(self._vfr[video], times[block] - self._first[video])

        # Each moment lists its views in a random order, so that the first one (the method's
        # anchor) is a random camera per pair, as the reference's get_tcn_anchor_pos_indices draws.
        order = np.argsort(rng.random(frames.shape), axis=2)  # (blocks, k, views)
        moment_views = np.take_along_axis(np.broadcast_to(vid[:, None, :], frames.shape), order, axis=2)
        frames = np.take_along_axis(frames, order, axis=2)
        labels = self._labels[vid[:, 0]].tolist()
        return [
            Plan(tuple(views), tuple((f,) for f in moment), label)
            for block_views, block, label in zip(
                moment_views.tolist(), frames.tolist(), labels, strict=True
            )
            for views, moment in zip(block_views, block, strict=True)
        ]


@SAMPLERS.register("tuples")
class TupleSampler(Sampler):
    """Ordered or shuffled frame triplets: shuffle-and-learn (Misra et al. 2016, Sec. 3.2).

    The paper's tuples: five frames `a < b < c < d < e`; a positive is `(b, c, d)` (label 1), a
    negative `(b, a, d)` or `(b, e, d)` (label 0): the outer positions always hold `b` and `d`,
    with `d - b <= tau_max` (`window`), and a negative's odd frame lies outside `[b, d]` by at
    least `tau_min` (`outer_gap`). With `accept_reversed=True` each tuple is also reversed with
    probability 1/2 (`(d, c, b)` is then a positive, `(d, a, b)` a negative), as the paper adds the
    inverted order of every instance.

    Defining property: only the order tells the labels apart. Drawn this way, label-independent
    quantities are drawn first and the label last, so that
    - the middle frame's absolute position in the video has the same distribution for both
      labels (`m` is drawn first, uniform or by motion, over the frames that leave room for any
      tuple around it), and
    - the three pairwise frame distances of a tuple are the same multiset `{g, E - g, E}` for both
      labels: `E` (the tuple's extent, uniform in `[outer_gap + 2, window]`) and `g` (uniform in
      `[outer_gap, E - 2]`) are drawn before the label. A positive puts `m` between the outer
      frames, at `g` from one of them and `E - g` from the other; a negative puts `m` outside them,
      at `g` from the nearer one and `E` from the farther.
    So neither "where in the video" nor "how far apart" frames are carries the label, only which of
    the three frames lies between the other two. This is our reading of the paper's constraints
    (`tau_max = max |b - d|`, `tau_min = min(|a - b|, |d - e|)`); the paper's own draw (five sorted
    frames in a window) lets positives be tighter than negatives, a "near-duplicate" shortcut, and
    on videos not much longer than the window the middle frame's position gives the label away.

    Defaults follow the paper: `window=60` (tau_max) and `outer_gap=15` (tau_min) frames at 30
    fps, and `positive_fraction=0.25`, its 1:3 positive:negative ratio.

    Motion: the paper samples tuples from high-motion windows. With `motion` (per video a float
    array `(num_frames,)` of per-frame motion, e.g. mean absolute frame difference), the middle
    frame is drawn with probability proportional to the motion summed over the `window` frames
    centred on it plus `motion_floor` times the video's mean (so quiet parts, and videos with no
    motion at all, are still drawn); without it, uniformly. Videos are visited by the footage rule.

    Args:
        videos: the videos; those shorter than `2 * outer_gap + 5` frames are skipped.
        window: tau_max, the largest distance between the tuple's outer frames. Default 60.
        outer_gap: tau_min, the smallest distance of a negative's odd frame from `[b, d]`.
            Default 15. `window >= outer_gap + 2`.
        positive_fraction: probability that a plan is a positive. Default 0.25.
        accept_reversed: also emit reversed tuples (same labels). Default True (as in the paper).
        motion: optional per-video motion arrays, aligned with `videos`.
        motion_floor: weight added to every middle frame, relative to the mean window motion.
        samples_per_video: plans per usable video per epoch; None: the footage rule.
        seed: the sampler's seed.
        seconds_per_plan, min_plans: the footage rule's parameters (module docstring).

    Plan: `frames = ((x, y, z),)`, label 1 (in order) or 0 (shuffled); `y` is the middle frame `m`.
    """

    kind: ClassVar[str] = "tuples"

    def __init__(
        self,
        videos: Sequence[VideoInfo],
        *,
        window: int = 60,
        outer_gap: int = 15,
        positive_fraction: float = 0.25,
        accept_reversed: bool = True,
        motion: Sequence[np.ndarray] | None = None,
        motion_floor: float = 0.05,
        samples_per_video: int | None = None,
        seed: int = 0,
        seconds_per_plan: float = SECONDS_PER_PLAN,
        min_plans: int = 1,
    ) -> None:
        super().__init__(videos, seed=seed, seconds_per_plan=seconds_per_plan, min_plans=min_plans)
        self.outer_gap = _int_at_least(self, "outer_gap", outer_gap, 1, "frames")
        self.window = _int_at_least(self, "window", window, self.outer_gap + 2, "frames")
        if not (_is_number(positive_fraction) and 0 <= positive_fraction <= 1):
            raise ValueError(
                f"TupleSampler: positive_fraction must be in [0, 1], got {positive_fraction!r}"
            )
        if not (_is_number(motion_floor) and motion_floor >= 0):
            raise ValueError(f"TupleSampler: motion_floor must be a number >= 0, got {motion_floor!r}")
        self.positive_fraction = float(positive_fraction)
        self.accept_reversed = bool(accept_reversed)
        self.motion_floor = float(motion_floor)
        self.samples_per_video = _optional_int(self, "samples_per_video", samples_per_video, 1)
        self.min_extent = self.outer_gap + 2  # the smallest tuple: g = outer_gap, E - g = 2
        self._ids = self._keep(
            self._num_frames >= 2 * self.min_extent + 1,
            f"at least 2 * (outer_gap + 2) + 1 = {2 * self.min_extent + 1} frames",
        )
        self._visit_videos(self.samples_per_video)
        self._cdf = None if motion is None else self._motion_cdf(motion)

    def __len__(self) -> int:
        return int(self._counts.sum())

    def plans(self, epoch: int) -> list[Plan]:
        rng = self._rng(epoch)
        vid = self._visit_order(rng)
        n = self._num_frames[vid]
        # label-independent draws first: the middle frame, the extent, the nearer distance, a side
        middle = self._middle_frame(rng, vid)  # in [min_extent, n - 1 - min_extent]
        room = np.minimum(np.minimum(middle, n - 1 - middle), self.window)  # a tuple of E fits
        extent = rng.integers(self.min_extent, room + 1)
        near = rng.integers(self.outer_gap, extent - 1)  # g in [outer_gap, E - 2]
        side = np.where(rng.random(len(vid)) < 0.5, 1, -1)  # where the nearer outer frame is
        positive = rng.random(len(vid)) < self.positive_fraction
        # positive: outer frames at m - side*g and m + side*(E - g) (m between them);
        # negative: both on one side of m, at m + side*g and m + side*E (m outside, g from [b, d])
        first = middle + side * np.where(positive, -near, near)
        last = middle + side * np.where(positive, extent - near, extent)
        b, d = np.minimum(first, last), np.maximum(first, last)
        triple = np.stack([b, middle, d], axis=1)
        if self.accept_reversed:
            flip = rng.random(len(vid)) < 0.5
            triple[flip] = triple[flip, ::-1]
        return _single_view_plans(vid, triple, positive.astype(np.int64))

    def _middle_frame(self, rng: np.random.Generator, vid: np.ndarray) -> np.ndarray:
        lo, span = self.min_extent, self._num_frames[vid] - 2 * self.min_extent
        if self._cdf is None:
            return lo + rng.integers(0, span)
        # one search in the concatenated per-video CDFs, video r's shifted to [r, r + 1]
        cdf, base = self._cdf
        rank = np.searchsorted(self._ids, vid)
        index = np.searchsorted(cdf, rank + rng.random(len(vid)), side="right")
        return lo + np.minimum(index - base[rank], span - 1)

    def _motion_cdf(self, motion: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per usable video, the CDF over its middle frames `[min_extent, n - 1 - min_extent]` of
        the motion summed over the `window` frames centred on each (clipped to the video)."""
        if len(motion) != len(self.videos):
            raise ValueError(
                f"TupleSampler: motion must have one array per video ({len(self.videos)}), "
                f"got {len(motion)}"
            )
        cdfs = []
        half = self.window // 2
        for rank, i in enumerate(self._ids):
            scores = np.asarray(motion[i], dtype=np.float64)
            n = int(self._num_frames[i])
            if scores.shape != (n,) or not np.isfinite(scores).all() or (scores < 0).any():
                raise ValueError(
                    f"TupleSampler: motion[{i}] must be a finite, non-negative float array of shape "
                    f"(num_frames,) = ({n},) for {self.videos[i].path}, got shape {scores.shape}"
                )
            total = np.concatenate([[0.0], np.cumsum(scores)])
            centre = np.arange(self.min_extent, n - self.min_extent)
            lo, hi = np.maximum(centre - half, 0), np.minimum(centre + half + 1, n)
            window_motion = total[hi] - total[lo]
            weight = window_motion + self.motion_floor * window_motion.mean()
            cdf = np.cumsum(weight) / weight.sum() if weight.sum() > 0 else _uniform_cdf(len(weight))
            cdf[-1] = 1.0
            cdfs.append(rank + cdf)
        base = np.concatenate([[0], np.cumsum([len(c) for c in cdfs])[:-1]])
        return np.concatenate(cdfs), base


@SAMPLERS.register("sequences")
class SequenceSampler(Sampler):
    """Sequences of blocks of frames for predictive coding: CPC / DPC (Han et al. 2019).

    Defining property: `num_blocks` blocks of `block_len` frames, all at one frame stride and
    contiguous: block `k` holds frames `start + (k * block_len + j) * stride`, `j < block_len`, so
    the plan is one arithmetic progression of `num_blocks * block_len` frames. With `block_len=1`
    it is `num_blocks` single frames at stride `stride` (CPC-style sequences of frames).

    Defaults are DPC's (TengdaHan/DPC dpc/main.py: `--num_seq 8 --seq_len 5 --ds 3`).

    Args:
        videos: the videos; those shorter than `(num_blocks * block_len - 1) * stride + 1` frames
            are skipped.
        num_blocks: blocks per sequence (N). Default 8.
        block_len: frames per block (L). Default 5.
        stride: frame step inside and across blocks. Default 3.
        samples_per_video: plans per usable video per epoch; None: the footage rule.
        seed: the sampler's seed.
        seconds_per_plan, min_plans: the footage rule's parameters (module docstring).

    Plan: `frames = ((all N * L indices, block-major),)`, label = the video's class.
    """

    kind: ClassVar[str] = "sequences"

    def __init__(
        self,
        videos: Sequence[VideoInfo],
        *,
        num_blocks: int = 8,
        block_len: int = 5,
        stride: int = 3,
        samples_per_video: int | None = None,
        seed: int = 0,
        seconds_per_plan: float = SECONDS_PER_PLAN,
        min_plans: int = 1,
    ) -> None:
        super().__init__(videos, seed=seed, seconds_per_plan=seconds_per_plan, min_plans=min_plans)
        self.num_blocks = _int_at_least(self, "num_blocks", num_blocks, 1)
        self.block_len = _int_at_least(self, "block_len", block_len, 1, "frames")
        self.stride = _int_at_least(self, "stride", stride, 1, "frames")
        self.samples_per_video = _optional_int(self, "samples_per_video", samples_per_video, 1)
        self.span = (self.num_blocks * self.block_len - 1) * self.stride + 1
        self._ids = self._keep(
            self._num_frames >= self.span,
            f"at least (num_blocks * block_len - 1) * stride + 1 = {self.span} frames",
        )
        self._visit_videos(self.samples_per_video)

    def __len__(self) -> int:
        return int(self._counts.sum())

    def plans(self, epoch: int) -> list[Plan]:
        rng = self._rng(epoch)
        vid = self._visit_order(rng)
        start = rng.integers(0, self._num_frames[vid] - self.span + 1)
        steps = np.arange(self.num_blocks * self.block_len) * self.stride
        return _single_view_plans(vid, start[:, None] + steps, self._labels[vid])


@SAMPLERS.register("frames")
class FrameSampler(Sampler):
    """Random frames for per-frame image methods (MoCo, SimCLR, MAE, ... on video frames).

    Defining property: a plan holds `frames_per_visit` frames of one video, distinct when the video
    has that many (otherwise every frame once, then repeats), uniform over the video and in random
    order. By default each video is visited as often as the footage rule says (module docstring:
    one plan per 10 s, at least one; an image is one visit). With `num_plans` the epoch instead
    walks through fresh random permutations of the videos, so with `num_plans` = a multiple of the
    number of videos each is visited equally often (otherwise counts differ by at most one).

    Args:
        videos: the videos; those with no frames are skipped.
        frames_per_visit: frames per plan (k). Default 1.
        num_plans: plans per epoch, visiting videos equally; None: the footage rule.
        seed: the sampler's seed.
        seconds_per_plan, min_plans: the footage rule's parameters (module docstring).

    Plan: `frames = ((k indices),)`, label = the video's class.
    """

    kind: ClassVar[str] = "frames"

    def __init__(
        self,
        videos: Sequence[VideoInfo],
        *,
        frames_per_visit: int = 1,
        num_plans: int | None = None,
        seed: int = 0,
        seconds_per_plan: float = SECONDS_PER_PLAN,
        min_plans: int = 1,
    ) -> None:
        super().__init__(videos, seed=seed, seconds_per_plan=seconds_per_plan, min_plans=min_plans)
        self.frames_per_visit = _int_at_least(self, "frames_per_visit", frames_per_visit, 1)
        self._ids = self._keep(self._num_frames >= 1, "at least 1 frame")
        self.num_plans = _optional_int(self, "num_plans", num_plans, 1)
        if self.num_plans is None:
            self._visit_videos(None)

    def __len__(self) -> int:
        return int(self._counts.sum()) if self.num_plans is None else self.num_plans

    def plans(self, epoch: int) -> list[Plan]:
        rng = self._rng(epoch)
        if self.num_plans is None:
            vid = self._visit_order(rng)
        else:
            rounds = -(-self.num_plans // len(self._ids))
            vid = np.concatenate([rng.permutation(self._ids) for _ in range(rounds)])[: self.num_plans]
        frames = _draw_distinct(rng, self._num_frames[vid], self.frames_per_visit)
        return _single_view_plans(vid, frames, self._labels[vid])


@SAMPLERS.register("clips")
class ClipSampler(Sampler):
    """Clips of `num_frames` frames at a fixed stride, for video backbones.

    Defining property: a clip is `start + j * stride`, `j < num_frames`. In `mode="random"` (training)
    the start is uniform over the starts whose clip fits; in `mode="uniform"` (evaluation) the
    `clips_per_video` starts are evenly spaced from the first frame to the last clip that fits
    (the first clip starts at frame 0, the last ends at the last frame; one clip is centred), the
    same in every epoch. A video shorter than a clip is not skipped: indices past its end are
    clamped to its last frame (the last frame repeats), so every clip has `num_frames` frames.

    Defaults: 16 frames at stride 4 (VideoMAE's Kinetics-400 clips, Tong et al. 2022); 10 clips
    per video in uniform mode (the usual 10 temporal views of Non-local / SlowFast testing).

    Args:
        videos: the videos; those with no frames are skipped.
        num_frames: frames per clip (T). Default 16.
        stride: frame step (s). Default 4.
        mode: "random" or "uniform".
        clips_per_video: plans per video per epoch. Default: the footage rule (random mode;
            module docstring) or 10 (uniform).
        seed: the sampler's seed (unused in uniform mode).
        seconds_per_plan, min_plans: the footage rule's parameters (random mode).

    Plan: `frames = ((T indices),)`, label = the video's class. Uniform plans are in video order.
    """

    kind: ClassVar[str] = "clips"

    def __init__(
        self,
        videos: Sequence[VideoInfo],
        *,
        num_frames: int = 16,
        stride: int = 4,
        mode: str = "random",
        clips_per_video: int | None = None,
        seed: int = 0,
        seconds_per_plan: float = SECONDS_PER_PLAN,
        min_plans: int = 1,
    ) -> None:
        super().__init__(videos, seed=seed, seconds_per_plan=seconds_per_plan, min_plans=min_plans)
        self.num_frames = _int_at_least(self, "num_frames", num_frames, 1, "frames")
        self.stride = _int_at_least(self, "stride", stride, 1, "frames")
        self.mode = _one_of(self, "mode", mode, ("random", "uniform"))
        if mode == "uniform" and clips_per_video is None:
            clips_per_video = 10
        self.clips_per_video = _optional_int(self, "clips_per_video", clips_per_video, 1)
        self.span = (self.num_frames - 1) * self.stride + 1
        self._ids = self._keep(self._num_frames >= 1, "at least 1 frame")
        self._visit_videos(self.clips_per_video)
        self._uniform = self._uniform_plans() if mode == "uniform" else None

    def __len__(self) -> int:
        return int(self._counts.sum())

    def plans(self, epoch: int) -> list[Plan]:
        rng = self._rng(epoch)  # also validates epoch in uniform mode
        if self._uniform is not None:
            return list(self._uniform)
        vid = self._visit_order(rng)
        start = rng.integers(0, np.maximum(self._num_frames[vid] - self.span, 0) + 1)
        return self._clip_plans(vid, start)

    def _uniform_plans(self) -> list[Plan]:
        vid = np.repeat(self._ids, self.clips_per_video)
        last = np.maximum(self._num_frames[vid] - self.span, 0)  # the last start whose clip fits
        c = self.clips_per_video
        position = np.tile(np.arange(c) / (c - 1) if c > 1 else np.array([0.5]), len(self._ids))
        start = np.floor(last * position + 0.5).astype(np.int64)
        return self._clip_plans(vid, start)

    def _clip_plans(self, vid: np.ndarray, start: np.ndarray) -> list[Plan]:
        frames = start[:, None] + np.arange(self.num_frames) * self.stride
        frames = np.minimum(frames, self._num_frames[vid][:, None] - 1)  # short videos: repeat last
        return _single_view_plans(vid, frames, self._labels[vid])


def build_sampler(name: str, videos: Sequence[VideoInfo], **kwargs) -> Sampler:
    """The sampler registered as `name` (see `SAMPLERS.names()`) over `videos`.

    Raises:
        ValueError: for an unknown name (`tempssl.registry.UnknownNameError`, with a "did you
            mean") or argument (the message lists the valid ones).
    """
    cls = SAMPLERS.get(name)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "videos")]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"{cls.__name__} ({name!r}) has no argument {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    return cls(videos, **kwargs)


# -- helpers -------------------------------------------------------------------------------------
def _single_view_plans(vid: np.ndarray, frames: np.ndarray, labels: np.ndarray) -> list[Plan]:
    return [
        Plan((v,), (tuple(f),), label)
        for v, f, label in zip(vid.tolist(), frames.tolist(), labels.tolist(), strict=True)
    ]


def _draw_distinct(rng: np.random.Generator, size: np.ndarray, k: int) -> np.ndarray:
    """`(P, k)` random draws from `range(size[p])`, in random order, without repeats while possible.

    Draw `i` is uniform over the `size - i` values not drawn yet: a rank among them, mapped to a
    value by stepping over the (sorted) values already drawn. Once a row has drawn all its values,
    the rest are drawn with repeats.
    """
    out = np.zeros((len(size), k), dtype=np.int64)
    for i in range(k):
        fresh = size - i >= 1
        value = rng.integers(0, np.where(fresh, size - i, size))
        taken = np.sort(out[:, :i], axis=1)
        for j in range(i):
            value += fresh & (value >= taken[:, j])
        out[:, i] = value
    return out


def _uniform_cdf(n: int) -> np.ndarray:
    return np.arange(1, n + 1) / n


def _describe_scenes(scenes: dict[str, list[int]]) -> str:
    if not scenes:
        return "no video has a group (VideoInfo.group is None for all)"
    name, ids = min(scenes.items(), key=lambda item: len(item[1]))
    return f"e.g. scene {name!r} has {len(ids)} view(s); scenes found: {len(scenes)}"


def _is_number(value) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and (math.isfinite(value))
    )


def _int_at_least(owner: object, name: str, value, minimum: int, unit: str = "") -> int:
    """`value` as an int, if it is a whole number >= minimum; else a ValueError naming `name`."""
    whole = _is_number(value) and float(value).is_integer()
    if not whole or value < minimum:
        what = f"an integer >= {minimum}" + (f" {unit}" if unit else "")
        raise ValueError(f"{type(owner).__name__}: {name} must be {what}, got {value!r}")
    return int(value)


def _optional_int(owner: object, name: str, value, minimum: int) -> int | None:
    """None (the footage rule decides), or `value` checked by `_int_at_least`."""
    return None if value is None else _int_at_least(owner, name, value, minimum)


def _one_of(owner: object, name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(
            f"{type(owner).__name__}: {name} must be one of {', '.join(map(repr, choices))}, "
            f"got {value!r}"
        )
    return value
