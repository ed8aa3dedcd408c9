"""Shared fixtures: small self-verifying videos written once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from video_cases import VIDEO_SPECS

from tempssl.video.synthetic import overstate_avi_frame_count, pack_bframes, write_coded_video


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    for name, spec in VIDEO_SPECS.items():
        write_coded_video(root / name, **spec)
    for name in ("overreported.avi", "overreported_mpeg4.avi", "overreported_h264.avi"):
        overstate_avi_frame_count(root / name, 400)
    unpacked = (root / "packed_bframes.avi").rename(root / "unpacked_source.avi.tmp")
    pack_bframes(unpacked, root / "packed_bframes.avi")
    unpacked.unlink()
    return root


@pytest.fixture(scope="session")
def videos(video_dir) -> dict[str, Path]:
    """name -> path of every test video."""
    return {name: video_dir / name for name in VIDEO_SPECS}


@pytest.fixture(scope="session")
def bad_corpus(tmp_path_factory):
    """`tempssl.video.bad_corpus.make_bad_corpus` in a folder of its own: `{kind: BadVideo}`."""
    from tempssl.video.bad_corpus import make_bad_corpus

    return make_bad_corpus(tmp_path_factory.mktemp("bad_corpus"))


@pytest.fixture(scope="session")
def mixed_folder(bad_corpus, tmp_path_factory):
    """A user's folder: every file of the bad corpus next to 4 good videos of 48 frames."""
    import shutil

    from tempssl.video.synthetic import write_coded_video

    root = tmp_path_factory.mktemp("mixed")
    for video in bad_corpus.values():
        shutil.copy(video.path, root / video.path.name)
    for i in range(4):
        write_coded_video(root / f"good{i}.mp4", 48, seed=200 + i)
    return root
