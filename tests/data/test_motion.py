"""Motion scores: high where the picture changes, cached per video."""

from __future__ import annotations

import av
import numpy as np

from tempssl.data import motion
from tempssl.data.sources import unlabeled_folder


def _write_still_then_moving(path, frames=40):
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=20)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            image = background.copy()
            if i >= frames // 2:  # a bright square moving 3 px per frame in the second half
                x = 3 * (i - frames // 2)
                image[20:40, x : x + 20] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def test_motion_is_where_the_picture_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPSSL_CACHE", str(tmp_path / "cache"))
    _write_still_then_moving(tmp_path / "v.mp4")
    video = unlabeled_folder(tmp_path, progress=False).videos[0]
    profile = motion.motion_profiles([video], progress=False)[0]
    assert profile.shape == (40,) and profile.dtype == np.float32
    assert profile[:16].max() < 1.0  # still: only compression noise
    assert profile[22:].min() > 2 * profile[:16].max() + 1.0

    def must_not_run(*args, **kwargs):
        raise AssertionError("motion was recomputed despite the cache")

    monkeypatch.setattr(motion, "motion_profile", must_not_run)
    again = motion.motion_profiles([video], progress=False)[0]
    np.testing.assert_array_equal(again, profile)


def test_a_shot_cut_does_not_outweigh_real_motion(tmp_path, monkeypatch):
    # a dark still shot (4 s), a cut to a bright one (4 s), then a small square creeping across it
    monkeypatch.setenv("TEMPSSL_CACHE", str(tmp_path / "cache"))
    ramp = np.linspace(0, 60, 64, dtype=np.float32)[None, :, None].repeat(64, 0).repeat(3, 2)
    shots = [(20 + ramp).astype(np.uint8), (180 + ramp).astype(np.uint8)]
    with av.open(str(tmp_path / "cut.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=20)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(240):
            image = shots[0 if i < 80 else 1].copy()
            if i >= 160:  # 12x12 dark square, half a pixel per frame
                x = (i - 160) // 2
                image[26:38, x : x + 12] = 0
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    video = unlabeled_folder(tmp_path, progress=False).videos[0]
    profile = motion.motion_profiles([video], progress=False)[0]
    across_cut = profile[60:100].sum()  # 40-frame windows, as shuffle-and-learn sums them
    moving = profile[180:220].sum()
    # uncapped, the cut's single difference (~160 of 255) would outweigh the creeping square
    assert moving > 2 * across_cut > 0
