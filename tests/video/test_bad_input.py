"""Bad files and bad requests give clear errors naming the path and backend; never a hang."""

from __future__ import annotations

import logging

import av
import pytest

from tempssl.video import (
    BackendUnavailableError,
    FrameIndexError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    VideoOpenError,
    available_backends,
    open_video,
)
from tempssl.video import open as video_open
from tempssl.video.synthetic import read_frame_codes, write_audio_only, write_coded_video

BACKENDS = available_backends()


def _assert_names(error: VideoError, path, backend: str) -> None:
    assert str(path) in str(error)
    assert f"backend={backend}" in str(error)


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_file(tmp_path, backend):
    path = tmp_path / "nope.mp4"
    with pytest.raises(VideoNotFoundError, match="file not found") as info:
        open_video(path, backend=backend)
    assert isinstance(info.value, FileNotFoundError)
    _assert_names(info.value, path, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_byte_file(tmp_path, backend):
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(VideoOpenError, match="empty") as info:
        open_video(path, backend=backend)
    _assert_names(info.value, path, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_text_file_renamed_mp4(tmp_path, backend):
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    with pytest.raises(VideoOpenError, match="not a readable video container") as info:
        open_video(path, backend=backend)
    _assert_names(info.value, path, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_truncated_mp4_without_index(tmp_path, backend):
    # PyAV writes the moov atom (the frame index) last: cutting the file loses it.
    full = write_coded_video(tmp_path / "full.mp4", 60)
    path = tmp_path / "truncated.mp4"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(VideoOpenError) as info:
        open_video(path, backend=backend)
    _assert_names(info.value, path, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("suffix", "spec"),
    [
        (".webm", dict(codec="libvpx-vp9", b_frames=None)),
        (".mp4", dict(container_options={"movflags": "faststart"})),  # index first, data cut
    ],
)
def test_truncated_file_keeps_the_frames_that_exist(tmp_path, backend, suffix, spec):
    # Cut short after the index: the frames before the cut still decode and the count says so.
    full = write_coded_video(tmp_path / f"full{suffix}", 60, **spec)
    path = tmp_path / f"truncated{suffix}"
    path.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    reader = open_video(path, backend=backend)
    assert 0 < reader.num_frames < 60
    # The MP4's cut packet is flagged damaged, and such a file is handed to PyAV (with a warning);
    # the WebM ends cleanly at the cut, and every backend reads it itself.
    assert reader.index.damaged == (suffix == ".mp4")
    assert reader.decoded_by == ("pyav" if suffix == ".mp4" else backend)
    n = reader.num_frames
    assert read_frame_codes(reader.get_frames([0, n // 2, n - 1])) == [0, n // 2, n - 1]
    with pytest.raises(FrameIndexError):
        reader.get_frames([59])


@pytest.mark.parametrize("backend", BACKENDS)
def test_audio_only_file(tmp_path, backend):
    path = write_audio_only(tmp_path / "speech.mp4")
    with pytest.raises(VideoOpenError, match=r"no video stream \(streams found: audio\)") as info:
        open_video(path, backend=backend)
    _assert_names(info.value, path, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_indices_out_of_range_name_the_valid_range(videos, backend):
    reader = open_video(videos["vp9.webm"], backend=backend)
    for bad in ([60], [0, -61], [1000]):
        with pytest.raises(FrameIndexError, match=r"valid indices are 0\.\.59") as info:
            reader.get_frames(bad)
        assert isinstance(info.value, IndexError)
        _assert_names(info.value, videos["vp9.webm"], backend)
    with pytest.raises(FrameIndexError, match="1-D list of ints"):
        reader.get_frames([1.5, 2.0])


def test_unknown_backend_lists_the_choices(videos):
    with pytest.raises(ValueError, match="choose one of: auto, torchcodec, decord, pyav"):
        open_video(videos["vp9.webm"], backend="opencv")


@pytest.mark.parametrize(
    ("backend", "hint"),
    [("decord", "pip install decord"), ("torchcodec", "apt-get install ffmpeg")],
)
def test_backend_not_installed_says_how_to_install(videos, monkeypatch, backend, hint):
    def broken():
        raise ImportError(f"No module named '{backend}'")

    monkeypatch.setitem(video_open._IMPORTERS, backend, broken)
    video_open.backend_problem.cache_clear()
    try:
        with pytest.raises(BackendUnavailableError, match=hint) as info:
            open_video(videos["vp9.webm"], backend=backend)
        assert isinstance(info.value, ImportError)
        _assert_names(info.value, videos["vp9.webm"], backend)
    finally:
        video_open.backend_problem.cache_clear()


@pytest.fixture
def torchcodec_without_ffmpeg(monkeypatch):
    """torchcodec imports, but its decoder cannot load FFmpeg (what `pip install` alone gives)."""
    decoders = pytest.importorskip("torchcodec.decoders", reason="the [torchcodec] extra")

    def no_ffmpeg(*args, **kwargs):
        raise RuntimeError("Could not load libtorchcodec. Likely causes:\n 1. FFmpeg is not installed")

    monkeypatch.setattr(decoders, "VideoDecoder", no_ffmpeg)
    video_open.backend_problem.cache_clear()
    yield
    video_open.backend_problem.cache_clear()


def test_auto_falls_back_with_one_warning_when_torchcodec_cannot_load(
    videos, torchcodec_without_ffmpeg, caplog
):
    with caplog.at_level(logging.WARNING, logger="tempssl.video"):
        readers = [open_video(videos["vp9.webm"]) for _ in range(3)]
        assert available_backends() == ["decord", "pyav"]
    assert [r.backend for r in readers] == ["decord"] * 3
    assert read_frame_codes(readers[0].get_frames([5])) == [5]
    (warning,) = caplog.records  # one per process, not one per video
    assert "torchcodec is installed but cannot load" in warning.message
    assert "apt-get install ffmpeg" in warning.message and "data.backend" in warning.message
    with pytest.raises(BackendUnavailableError, match="apt-get install ffmpeg"):
        open_video(videos["vp9.webm"], backend="torchcodec")


def test_decode_failure_is_wrapped(videos, monkeypatch):
    reader = open_video(videos["h264_bframes.mp4"], backend="pyav")

    def corrupt(self, frames, targets, keys, position):
        raise av.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(type(reader), "_decode_into", corrupt)
    with pytest.raises(VideoDecodeError, match="decoding failed") as info:
        reader.get_frames([1])
    _assert_names(info.value, videos["h264_bframes.mp4"], "pyav")
