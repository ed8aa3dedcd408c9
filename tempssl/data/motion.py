"""A cheap per-frame motion score, computed once per video and cached: where shuffle-and-learn
(Misra et al. 2016) draws its tuples, since static windows make order unlearnable."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from tempssl.atomic import atomic_path
from tempssl.data.metadata import cache_dir
from tempssl.data.sources import VideoInfo
from tempssl.video import VideoError, open_video

MOTION_SIZE = 32  # short side of the frames compared: enough to see motion, cheap to decode
SAMPLES_PER_SECOND = 8.0  # frame differences measured per second of video
# Differences are capped at this percentile of the video's own: a shot cut or a flash is one huge
# difference, and uncapped it would outweigh seconds of real motion (the paper scored windows by
# optical flow, which cuts do not inflate this way).
CAP_PERCENTILE = 90.0


def motion_profile(video: VideoInfo, backend: str = "auto") -> np.ndarray:
    """`float32 (num_frames,)`: mean absolute difference (0..255) of low-resolution frames around
    each frame. Frames are compared ~8 times per second; each frame takes the score of the
    interval it falls in; scores are capped at the video's `CAP_PERCENTILE`-th percentile, so
    that shot cuts and flashes do not dominate. An unreadable video scores zero everywhere."""
    n = video.num_frames
    step = max(1, round(video.fps / SAMPLES_PER_SECOND))
    sampled = np.unique(np.append(np.arange(0, n, step), n - 1))
    try:
        with open_video(video.path, backend=backend, size=MOTION_SIZE) as reader:
            frames = reader.get_frames(sampled).float()
    except VideoError:
        return np.zeros(n, dtype=np.float32)
    if len(sampled) < 2:
        return np.zeros(n, dtype=np.float32)
    diffs = (frames[1:] - frames[:-1]).abs().mean(dim=(1, 2, 3)).numpy()  # (S-1,)
    diffs = np.minimum(diffs, np.percentile(diffs, CAP_PERCENTILE))
    # Frame f lies in the interval [sampled[i], sampled[i+1]); the last frame closes the last one.
    interval = np.clip(np.searchsorted(sampled, np.arange(n), side="right") - 1, 0, len(diffs) - 1)
    return diffs[interval].astype(np.float32)


def motion_profiles(
    videos: Sequence[VideoInfo], backend: str = "auto", progress: bool = True
) -> list[np.ndarray]:
    """`motion_profile` of every video, from the cache (`<cache>/motion/`) where computed before.

    The cache key holds the path, size and modification time, so an edited video is rescored.
    """
    folder = cache_dir() / "motion"
    folder.mkdir(parents=True, exist_ok=True)
    profiles = []
    for video in tqdm(videos, desc="motion scores", unit="video", disable=not progress):
        stat = os.stat(video.path)
        key = (
            f"{video.path}|{stat.st_size}|{stat.st_mtime_ns}|{MOTION_SIZE}|{SAMPLES_PER_SECOND}"
            f"|{CAP_PERCENTILE}"
        )
        path = folder / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"
        if path.is_file():
            profile = np.load(path)
        else:
            profile = motion_profile(video, backend)
            with atomic_path(path) as tmp:
                np.save(tmp, profile)
        profiles.append(profile)
    return profiles
