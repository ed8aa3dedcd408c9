"""The frame index of a video, built from its demuxed packets without decoding any pixels.

Frame `i` of a video is its `i`-th frame in presentation order: the packet with the `i`-th smallest
presentation timestamp. Counting packets gives the number of frames that really decode, even when
the container header over-reports it (dmlc/decord#373), and the keyframe positions let readers seek
to the right place.

Where the container stores no presentation timestamps and decode order differs from display order
(AVI with B-frames, packed or not: the XviD/DivX files of UCF101 and HMDB51), FFmpeg's demuxer
guesses the timestamps, and the guesses can be wrong (packed B-frames give pts 1, 3, 2, 5, 4, ... in
display order). The decoder's output order is the true display order, so there frame `i` is the
`i`-th frame the decoder outputs (`VideoIndex.output_order`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tempssl.video.errors import VideoNotFoundError, VideoOpenError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoIndex:
    """Where every frame of a video's first video stream sits.

    Attributes:
        pts: `int64 (N,)` presentation timestamps in stream time base, sorted (frame order).
        keyframe_pts: `int64 (K,)` sorted presentation timestamps of keyframes.
        time_base: seconds per timestamp unit.
        fps: average frame rate (frames per second).
        height, width: frame size in pixels, as displayed (after `rotation`).
        stream_index: index of the video stream in the container.
        container_format: FFmpeg's demuxer name(s), e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "avi".
        reorders: whether decode order differs from presentation order (B-frames).
        damaged: whether demuxing hit corrupt or unreadable data (the index stops before it).
        output_order: frame `i` is the `i`-th frame the decoder outputs, because the container's
            timestamps are guesses (AVI with B-frames); `pts` then only counts and seeks.
        packed_bframes: DivX-style packed B-frames (a P- and a B-frame in one AVI chunk).
        key_outputs: learned while decoding `output_order` files: the pts of each keyframe the
            decoder output -> its output position (lets readers seek instead of decoding from 0).
        rotation: the display rotation of the container's metadata (a phone held upright records
            its frames sideways and says so), counter-clockwise degrees, 0 / 90 / 180 / 270;
            readers return frames rotated by it, as players show them.
    """

    pts: np.ndarray
    keyframe_pts: np.ndarray
    time_base: Fraction
    fps: float
    height: int
    width: int
    stream_index: int
    container_format: str = ""
    reorders: bool = False
    damaged: bool = False
    output_order: bool = False
    packed_bframes: bool = False
    key_outputs: dict[int, int] = field(default_factory=dict, compare=False, repr=False)
    rotation: int = 0

    @property
    def num_frames(self) -> int:
        return len(self.pts)

    @property
    def timestamps(self) -> np.ndarray:
        """`float64 (N,)` presentation time of each frame in seconds, from the stream's first frame."""
        return (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)

    @property
    def duration(self) -> float:
        """Seconds from the first frame's start to the last frame's end."""
        return float(self.timestamps[-1]) + 1.0 / self.fps


def build_index(path: str | Path, backend: str = "index") -> VideoIndex:
    """Demux the first video stream of `path` and index its frames.

    Raises:
        VideoNotFoundError: the file does not exist.
        VideoOpenError: the file is empty, not a media container, has no video stream or no frames.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoNotFoundError(path, backend, "file not found")
    if path.stat().st_size == 0:
        raise VideoOpenError(path, backend, "file is empty (0 bytes)")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as error:
        raise VideoOpenError(path, backend, f"not a readable video container ({error})") from error
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise VideoOpenError(path, backend, f"no video stream (streams found: {', '.join(kinds)})")
        stream = container.streams.video[0]
        pts, is_key, damaged, first_packet = _demux_timestamps(container, stream, path)
        if not pts:
            raise VideoOpenError(path, backend, "the video stream contains no frames")
        height, width = stream.codec_context.height, stream.codec_context.width
        if height <= 0 or width <= 0:
            raise VideoOpenError(path, backend, f"invalid frame size {width}x{height}")
        time_base = stream.time_base or Fraction(1, 1)
        rate = stream.average_rate or stream.base_rate
        index_stream = stream.index
        container_format = container.format.name
        packed = _has_packed_bframes(stream.codec_context.extradata, first_packet)
        # only MP4 / MOV and Matroska carry a display matrix (one frame is decoded to read it)
        formats = set(container_format.split(","))
        rotation = _display_rotation(container, stream) if formats & {"mov", "matroska"} else 0
        if rotation in (90, 270):  # sideways: displayed with height and width exchanged
            height, width = width, height

    pts_arr = np.asarray(pts, dtype=np.int64)
    order = np.argsort(pts_arr, kind="stable")
    key_mask = np.asarray(is_key, dtype=bool)[order]
    sorted_pts = pts_arr[order]
    fps = float(rate) if rate else _fps_from_pts(sorted_pts, time_base)
    reorders = bool(np.any(np.diff(pts_arr) < 0))
    # AVI stores no presentation times, an MPEG program stream not one per frame
    guessed_pts = bool({"avi", "mpeg"} & formats)
    return VideoIndex(
        pts=sorted_pts,
        keyframe_pts=sorted_pts[key_mask] if key_mask.any() else sorted_pts[:1],
        time_base=time_base,
        fps=fps,
        height=height,
        width=width,
        stream_index=index_stream,
        container_format=container_format,
        reorders=reorders,
        damaged=damaged,
        output_order=guessed_pts and (reorders or packed),
        packed_bframes=packed,
        rotation=rotation,
    )


# Containers in which decord 0.6 and TorchCodec 0.17 return neighbouring frames even without
# B-frames (measured with frame-coded videos: tests/video/test_frame_exact.py); PyAV reads them.
_INEXACT_CONTAINERS = {
    "mpeg": "MPEG program stream (.mpg / .mpeg)",
    "mpegts": "MPEG transport stream (.ts)",
    "asf": "ASF (.wmv / .asf)",
}


def pyav_only_reason(index: VideoIndex) -> str | None:
    """Why only the PyAV reader decodes this file exactly (None when every backend does).

    AVI stores no presentation timestamps, and an MPEG program stream not one per frame; with
    B-frames FFmpeg guesses them, decord 0.6 and torchcodec 0.17 select frames by those guesses
    and return neighbouring frames or fail near the end, and only the PyAV reader counts frames in
    decoder output order. In MPEG program / transport streams and ASF they return neighbouring
    frames even without B-frames. On a damaged tail torchcodec fails on the last good frames.
    (All checked by the frame-code tests.)
    """
    formats = set(index.container_format.split(","))
    if index.output_order:
        kind = "packed B-frames" if index.packed_bframes else "B-frames"
        container = "AVI" if "avi" in formats else "MPEG program stream"
        return f"{container} with {kind} (the container does not store every frame's timestamp)"
    for name, description in _INEXACT_CONTAINERS.items():
        if name in formats:
            return f"{description}: decord and TorchCodec return neighbouring frames there"
    if index.damaged:
        return "the file is damaged"
    if index.rotation:
        return f"display rotation metadata ({index.rotation} degrees), applied by the PyAV reader"
    return None


def _display_rotation(container, stream) -> int:
    """The display matrix's rotation of the first decoded frame, snapped to a quarter turn:
    counter-clockwise degrees in {0, 90, 180, 270} (0 when there is none or nothing decodes)."""
    try:
        container.seek(0, stream=stream, backward=True, any_frame=False)
        frame = next(decoded_frames(container, stream), None)
    except (av.FFmpegError, StopIteration):
        return 0
    angle = getattr(frame, "rotation", 0) or 0
    return round(angle / 90) % 4 * 90


def decoded_frames(container, stream):
    """Frames of `stream` from the current position, skipping packets flagged corrupt.

    The index ends before the first corrupt frame, so nothing wanted depends on them; feeding them to
    the decoder would raise (e.g. the cut last packet of a truncated file).
    """
    for packet in container.demux(stream):
        if not packet.is_corrupt:
            yield from packet.decode()


def _demux_timestamps(container, stream, path: Path):
    """Per packet, in decode order: presentation timestamp and keyframe flag; damage found; the
    first packet's bytes."""
    pts, is_key, first_packet = [], [], b""
    first_corrupt, damaged = None, False
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's end-of-stream flush packet
                continue
            presentation = packet.pts if packet.pts is not None else packet.dts
            if presentation is None:  # raw streams without timestamps: packet order
                presentation = len(pts)
            if packet.is_corrupt:  # e.g. the last packet of a file cut short
                first_corrupt = (
                    presentation if first_corrupt is None else min(presentation, first_corrupt)
                )
                continue
            if not pts:
                first_packet = bytes(packet)
            pts.append(presentation)
            is_key.append(packet.is_keyframe)
    except av.FFmpegError as error:
        # A damaged tail: keep the frames demuxed so far, like every decoder would, up to the first
        # hole: with B-frames, frames shown before the last one read may be lost with the tail.
        log.warning("%s: demuxing stopped after %d packets (%s)", path, len(pts), error)
        damaged = True
        cut = _first_gap(sorted(pts))
        if cut is not None:
            first_corrupt = cut if first_corrupt is None else min(cut, first_corrupt)
    if first_corrupt is not None:
        # Frames shown after a damaged one may depend on it: the video ends before it.
        log.warning("%s: damaged frame data; keeping the frames shown before it", path)
        keep = [i for i, p in enumerate(pts) if p < first_corrupt]
        pts, is_key = [pts[i] for i in keep], [is_key[i] for i in keep]
        damaged = True
    return pts, is_key, damaged, first_packet


# MPEG-4 Part 2 user data that DivX and XviD write for packed B-frames ("DivX503b1393p"): FFmpeg
# unpacks such streams only when it finds this marker, so it is also how we recognize them.
_PACKED_MARKER = re.compile(rb"DivX\d+(?:b|Build)\d+p")


def _has_packed_bframes(extradata: bytes | None, first_packet: bytes) -> bool:
    return any(_PACKED_MARKER.search(data) for data in (extradata or b"", first_packet[:4096]))


def _first_gap(sorted_pts: list[int]) -> int | None:
    """The timestamp right after the first hole (a gap > 1.5x the median frame step), if any."""
    if len(sorted_pts) < 3:
        return None
    steps = np.diff(sorted_pts)
    holes = np.flatnonzero(steps > 1.5 * np.median(steps))
    return int(sorted_pts[holes[0] + 1]) if holes.size else None


def _fps_from_pts(sorted_pts: np.ndarray, time_base: Fraction) -> float:
    if len(sorted_pts) < 2:
        return 25.0
    span = float(sorted_pts[-1] - sorted_pts[0]) * float(time_base)
    return (len(sorted_pts) - 1) / span if span > 0 else 25.0
