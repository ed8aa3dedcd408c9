"""Every backend returns frame i = the i-th frame in presentation order, on every test video."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest
import torch
from video_cases import HANDED_TO_PYAV, VIDEO_SPECS

from tempssl.video import available_backends, build_index, open_video
from tempssl.video.synthetic import read_frame_codes

BACKENDS = available_backends()
NAMES = sorted(VIDEO_SPECS)


def test_all_three_backends_load_here():
    # CI installs FFmpeg's libraries and the [dev] extra, so every backend must be tested there.
    assert BACKENDS == ["torchcodec", "decord", "pyav"]


@pytest.mark.parametrize("name", NAMES)
def test_num_frames_counts_frames_that_decode(videos, name):
    index = build_index(videos[name])
    assert index.num_frames == VIDEO_SPECS[name]["num_frames"]
    assert np.all(np.diff(index.pts) > 0)


@pytest.mark.parametrize("name", ["overreported.avi", "overreported_mpeg4.avi", "overreported_h264.avi"])
def test_overreported_header_is_ignored(videos, name):
    with av.open(str(videos[name])) as container:
        assert container.streams.video[0].frames == 400  # what the header claims
    for backend in BACKENDS:
        reader = open_video(videos[name], backend=backend)
        assert reader.num_frames == 40
        assert read_frame_codes(reader.get_frames([39, 38, 0])) == [39, 38, 0]
        # decord's and torchcodec's own readers on decord#373's case (see HANDED_TO_PYAV)
        assert reader.decoded_by == ("pyav" if backend in HANDED_TO_PYAV.get(name, ()) else backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_which_backend_decodes_each_file_is_visible_and_warned(videos, name, backend, caplog):
    with caplog.at_level(logging.WARNING, logger="tempssl.video"):
        reader = open_video(videos[name], backend=backend)
        expected = "pyav" if backend in HANDED_TO_PYAV.get(name, ()) else backend
        last = reader.num_frames - 1
        assert read_frame_codes(reader.get_frames([0, last])) == [0, last]
        # after a decode: decord's 4-channel widths show only when it first decodes
        assert reader.decoded_by == expected
    fallback_warnings = [r for r in caplog.records if "decoding this file with PyAV" in r.message]
    assert len(fallback_warnings) == (expected != backend)


def test_packed_bframes_file_reproduces_non_monotonic_timestamps(videos):
    # What real DivX/XviD AVIs do: in decoder output (= display) order FFmpeg's guessed timestamps
    # go 1, 3, 2, 5, 4, ..., so ordering frames by timestamp returns neighbours.
    with av.open(str(videos["packed_bframes.avi"])) as container:
        decoded = list(container.decode(video=0))
    pts = [frame.pts for frame in decoded]
    assert np.any(np.diff(pts) < 0)
    codes = read_frame_codes(np.stack([f.to_ndarray(format="rgb24") for f in decoded]))
    assert codes == list(range(60))  # the decoder's output order is the display order
    index = build_index(videos["packed_bframes.avi"])
    assert index.output_order and index.packed_bframes


def test_output_order_files_seek_to_learned_keyframes(videos):
    reader = open_video(videos["packed_bframes.avi"], backend="pyav")
    assert read_frame_codes(reader.get_frames([59])) == [59]  # first read: from the start
    first_pass = reader.frames_decoded
    assert first_pass >= 60
    assert read_frame_codes(reader.get_frames([50, 51])) == [50, 51]
    assert reader.frames_decoded - first_pass <= 12 + 4  # from the keyframe before 50, not from 0
    assert read_frame_codes(reader.get_frames([2, 30])) == [2, 30]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", NAMES)
def test_random_index_lists_are_frame_exact(videos, name, backend):
    reader = open_video(videos[name], backend=backend)
    n = reader.num_frames
    rng = np.random.default_rng(hash((name, backend)) % 2**32)
    for _ in range(12):
        indices = rng.integers(0, n, size=rng.integers(1, 10)).tolist()
        frames = reader.get_frames(indices)
        assert frames.dtype == torch.uint8
        assert frames.shape == (len(indices), reader.height, reader.width, 3)
        assert read_frame_codes(frames) == indices
    # a sequential clip, the last frame, and the first frame after it
    assert read_frame_codes(reader.get_frames([*list(range(max(0, n - 8), n)), 0])) == [
        *range(max(0, n - 8), n),
        0,
    ]


@pytest.mark.parametrize("name", NAMES)
def test_backends_agree_on_pixels(videos, name):
    n = build_index(videos[name]).num_frames
    indices = np.random.default_rng(1).integers(0, n, size=12).tolist()
    reference = open_video(videos[name], backend="pyav").get_frames(indices).float()
    for backend in BACKENDS:
        frames = open_video(videos[name], backend=backend).get_frames(indices)
        assert read_frame_codes(frames) == indices
        mean_abs_diff = (frames.float() - reference).abs().mean(dim=(0, 1, 2))
        assert torch.all(mean_abs_diff <= 2.0), (backend, mean_abs_diff)


@pytest.mark.parametrize("name", ["gray.mp4", "gray_ffv1.mkv"])
def test_grayscale_source_gives_equal_rgb_channels(videos, name):
    with av.open(str(videos[name])) as container:
        pix_fmt = container.streams.video[0].codec_context.pix_fmt
    assert pix_fmt == ("gray" if name == "gray_ffv1.mkv" else "yuv420p")  # a true gray stream
    for backend in BACKENDS:
        reader = open_video(videos[name], backend=backend)
        assert reader.decoded_by == backend
        frames = reader.get_frames([3, 4])
        assert frames.shape[-1] == 3 and read_frame_codes(frames) == [3, 4]
        frames = frames.int()
        assert (frames[..., 0] - frames[..., 1]).abs().max() <= 1
        assert (frames[..., 1] - frames[..., 2]).abs().max() <= 1


def test_variable_frame_rate_timestamps(videos):
    reader = open_video(videos["vfr.mp4"], backend="pyav")
    gaps_ms = np.round(np.diff(reader.timestamps) * 1000).astype(int)
    assert gaps_ms[:8].tolist() == [20, 40, 60, 33, 20, 40, 60, 33]
    assert reader.duration == pytest.approx(reader.timestamps[-1] + 1 / reader.fps)


@pytest.mark.parametrize("backend", BACKENDS)
def test_order_repeats_and_negative_indices(videos, backend):
    reader = open_video(videos["h264_bframes.mp4"], backend=backend)
    frames = reader.get_frames([50, 3, 50, -1, 3, 0])
    assert read_frame_codes(frames) == [50, 3, 50, 89, 3, 0]
    assert torch.equal(frames[0], frames[2])
    assert reader.get_frames([]).shape == (0, reader.height, reader.width, 3)
    assert read_frame_codes(reader.get_frames(torch.tensor([5, 6]))) == [5, 6]


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_distinct_frame_is_decoded_once_per_call(videos, backend, monkeypatch):
    reader = open_video(videos["h264_bframes.mp4"], backend=backend)
    calls = []
    original = type(reader)._decode

    def spy(self, indices):
        calls.append(indices.tolist())
        return original(self, indices)

    monkeypatch.setattr(type(reader), "_decode", spy)
    reader.get_frames([7, 2, 7, 7, 40, 2])
    assert calls == [[2, 7, 40]]


def test_pyav_seeks_to_the_keyframe_instead_of_decoding_from_the_start(videos):
    reader = open_video(videos["h264_bframes.mp4"], backend="pyav")
    gop = 12
    assert read_frame_codes(reader.get_frames([85])) == [85]
    assert reader.seeks == 1
    assert reader.frames_decoded <= gop + 4  # one GOP plus the B-frame reorder delay
    before = reader.frames_decoded
    # Two frames in one GOP: decoded in a single forward pass, no second seek.
    reader.get_frames([61, 62])
    assert reader.seeks == 2
    assert reader.frames_decoded - before <= gop + 4


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [32, (40, 48)])
def test_decode_time_resize(videos, backend, size):
    reader = open_video(videos["h264_bframes.mp4"], backend=backend, size=size)
    expected = (32, 48) if size == 32 else size
    assert reader.output_size == expected
    assert (reader.height, reader.width) == (64, 96)
    frames = reader.get_frames([10, 20])
    assert frames.shape == (2, *expected, 3)
    # Same content as resizing the full-resolution frames ourselves (scalers differ slightly).
    full = open_video(videos["h264_bframes.mp4"], backend="pyav").get_frames([10, 20])
    ours = torch.nn.functional.interpolate(
        full.permute(0, 3, 1, 2).float(), size=expected, mode="bilinear", antialias=True
    ).permute(0, 2, 3, 1)
    assert (frames.float() - ours).abs().mean() <= 8
