"""Self-verifying synthetic videos: every frame carries its own index as a block code.

Tests and benchmarks write such videos with PyAV and read back, from decoded pixels, which frame a
decoder really returned. The code is a grid of large black/white blocks (2 rows x 6 columns, 12 bits,
so up to 4096 frames) in the top-left corner; blocks of >= 8 pixels survive lossy compression. The
rest of the frame is a moving pattern with noise, so that encoders produce P- and B-frames.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

CODE_ROWS, CODE_COLS = 2, 6
CODE_BITS = CODE_ROWS * CODE_COLS
MAX_CODED_FRAMES = 2**CODE_BITS


def code_block_size(height: int, width: int) -> int:
    """Side in pixels of one code block for a frame of this size."""
    block = min(width // CODE_COLS, height // (2 * CODE_ROWS), 24)
    if block < 8:
        raise ValueError(f"frame {width}x{height} is too small for the frame code (min 48x32)")
    return block


def render_coded_frame(index: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """One RGB frame `uint8 (H, W, 3)` whose top-left blocks encode `index` in binary."""
    if not 0 <= index < MAX_CODED_FRAMES:
        raise ValueError(f"frame index {index} outside [0, {MAX_CODED_FRAMES})")
    rng = np.random.default_rng(seed * 100_003 + index)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = index * 0.35
    frame = np.stack(
        [
            128 + 90 * np.sin(xs / 9.0 + phase),
            128 + 90 * np.sin(ys / 7.0 - phase * 0.7),
            128 + 90 * np.sin((xs + ys) / 13.0 + phase * 0.5),
        ],
        axis=-1,
    )
    frame += rng.normal(0, 6, size=frame.shape)
    block = code_block_size(height, width)
    for bit in range(CODE_BITS):
        row, col = divmod(bit, CODE_COLS)
        value = 235 if (index >> bit) & 1 else 20
        frame[row * block : (row + 1) * block, col * block : (col + 1) * block] = value
    return np.clip(frame, 0, 255).astype(np.uint8)


def read_frame_codes(frames: torch.Tensor | np.ndarray) -> list[int]:
    """Decode the frame indices drawn by `render_coded_frame` from frames `uint8 (T, H, W, C)`."""
    frames = torch.as_tensor(frames)
    if frames.ndim != 4:
        raise ValueError(f"expected frames (T, H, W, C), got shape {tuple(frames.shape)}")
    _, height, width, _ = frames.shape
    block = code_block_size(height, width)
    luma = frames.float().mean(dim=-1)  # (T, H, W)
    margin = block // 4
    codes = torch.zeros(frames.shape[0], dtype=torch.long)
    for bit in range(CODE_BITS):
        row, col = divmod(bit, CODE_COLS)
        y0, x0 = row * block + margin, col * block + margin
        patch = luma[:, y0 : y0 + block - 2 * margin, x0 : x0 + block - 2 * margin]
        codes |= (patch.mean(dim=(1, 2)) > 128).long() << bit
    return codes.tolist()


def write_coded_video(
    path: str | Path,
    num_frames: int,
    height: int = 64,
    width: int = 96,
    codec: str = "libx264",
    fps: int = 25,
    pix_fmt: str = "yuv420p",
    b_frames: int | None = 2,
    frame_durations: Sequence[int] | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    seed: int = 0,
) -> Path:
    """Encode `num_frames` coded frames to `path` (container chosen by its extension).

    Args:
        b_frames: maximum consecutive B-frames (None leaves the codec default).
        frame_durations: variable frame rate: per-frame durations in milliseconds, cycled.
        options: extra encoder options (e.g. `{"crf": "30", "g": "12"}`).
        container_options: muxer options (e.g. `{"movflags": "faststart"}`).
    """
    path = Path(path)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if b_frames is not None:
            stream.codec_context.max_b_frames = b_frames
        if options:
            stream.options = dict(options)
        if frame_durations:
            stream.codec_context.time_base = Fraction(1, 1000)
        pts = 0
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(
                render_coded_frame(index, height, width, seed), format="rgb24"
            )
            if frame_durations:
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                pts += frame_durations[index % len(frame_durations)]
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """A container with an AAC audio track (a 440 Hz tone) and no video stream."""
    rate = 16000
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        t = np.arange(int(rate * seconds)) / rate
        samples = (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return Path(path)


def overstate_avi_frame_count(path: str | Path, claimed_frames: int) -> None:
    """Patch an AVI's headers (`avih.dwTotalFrames`, `strh.dwLength`) to claim more frames.

    Reproduces files whose container over-reports its frame count (dmlc/decord#373).
    """
    data = bytearray(Path(path).read_bytes())
    avih = data.find(b"avih")
    strh = data.find(b"strh")
    if avih < 0 or strh < 0:
        raise ValueError(f"{path}: not an AVI file with avih/strh headers")
    struct.pack_into("<I", data, avih + 8 + 16, claimed_frames)
    struct.pack_into("<I", data, strh + 8 + 32, claimed_frames)
    Path(path).write_bytes(bytes(data))


def pack_bframes(source: str | Path, path: str | Path) -> Path:
    """Rewrite an MPEG-4 Part 2 AVI with B-frames (`write_coded_video(..., codec="mpeg4",
    b_frames=1)`) in DivX's packed B-frame style, as DivX 5 and XviD wrote many AVI files.

    Each B-frame moves into the AVI chunk of the reference frame decoded before it, and its own
    chunk becomes a not-coded VOP ("N-VOP"); a `DivX503b1393p` user-data marker tells decoders so.
    The container then stores one chunk per frame in display slots, FFmpeg guesses its timestamps,
    and the guesses come out non-monotonic in display order (1, 3, 2, 5, 4, ...): the case of
    real XviD/DivX files where frame `i` must be the decoder's `i`-th output.
    """
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        if stream.codec_context.name != "mpeg4":
            codec = stream.codec_context.name
            raise ValueError(f"{source}: expected an MPEG-4 Part 2 stream, got {codec}")
        chunks = [(bytes(p), p.is_keyframe) for p in container.demux(stream) if p.size]
    increment_bits = _vop_time_increment_bits(chunks[0][0])
    packed, i = [], 0
    while i < len(chunks):
        data, key = chunks[i]
        if _vop_type(data) in "IP" and i + 1 < len(chunks) and _vop_type(chunks[i + 1][0]) == "B":
            packed += [(data + chunks[i + 1][0], key), (_not_coded_vop(data, increment_bits), False)]
            i += 2
        else:
            packed.append((data, key))
            i += 1
    first, key = packed[0]
    vop = first.find(_VOP_START)
    packed[0] = (first[:vop] + _USER_DATA_START + b"DivX503b1393p" + first[vop:], key)
    with av.open(str(source)) as container, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(container.streams.video[0])
        for n, (data, key) in enumerate(packed):
            packet = av.Packet(data)
            packet.stream, packet.time_base = stream, stream.time_base
            packet.pts = packet.dts = n
            packet.is_keyframe = key
            out.mux(packet)
    return Path(path)


_VOP_START, _USER_DATA_START = b"\x00\x00\x01\xb6", b"\x00\x00\x01\xb2"


class _BitReader:
    def __init__(self, data: bytes):
        self.data, self.position = data, 0

    def read(self, bits: int) -> int:
        value = 0
        for _ in range(bits):
            byte = self.data[self.position >> 3]
            value = (value << 1) | ((byte >> (7 - (self.position & 7))) & 1)
            self.position += 1
        return value


def _vop_type(chunk: bytes) -> str:
    """ "I", "P", "B" or "S" from a chunk's first VOP header (vop_coding_type, ISO 14496-2 6.2.5)."""
    return "IPBS"[chunk[chunk.find(_VOP_START) + 4] >> 6]


def _vop_time_increment_bits(chunk: bytes) -> int:
    """Width of vop_time_increment, read from the video object layer header (ISO 14496-2 6.2.3)."""
    starts = (i for i in range(len(chunk) - 3) if chunk[i : i + 3] == b"\0\0\1")
    start = next(i for i in starts if 0x20 <= chunk[i + 3] <= 0x2F)  # video_object_layer_start_code
    bits = _BitReader(chunk[start + 4 :])
    bits.read(1 + 8)  # random_accessible_vol, video_object_type_indication
    if bits.read(1):  # is_object_layer_identifier: verid, priority
        bits.read(4 + 3)
    if bits.read(4) == 15:  # aspect_ratio_info: extended PAR
        bits.read(16)
    if bits.read(1):  # vol_control_parameters: chroma_format, low_delay, vbv_parameters
        bits.read(3)
        if bits.read(1):
            bits.read(79)
    bits.read(2 + 1)  # video_object_layer_shape (rectangular), marker
    resolution = bits.read(16)
    return max(1, (resolution - 1).bit_length())


def _not_coded_vop(chunk: bytes, increment_bits: int) -> bytes:
    """A P-VOP header with vop_coded = 0, timed as the first VOP of `chunk`."""
    bits = _BitReader(chunk[chunk.find(_VOP_START) + 4 :])
    bits.read(2)
    out = [0, 1]  # vop_coding_type P
    while True:  # modulo_time_base: ones, then a zero
        out.append(bits.read(1))
        if out[-1] == 0:
            break
    out += [bits.read(1) for _ in range(increment_bits + 2)]  # marker, vop_time_increment, marker
    out += [0, 0]  # vop_coded = 0, then stuffing: a zero and ones up to the byte boundary
    out += [1] * (-len(out) % 8)
    payload = bytes(int("".join(map(str, out[k : k + 8])), 2) for k in range(0, len(out), 8))
    return _VOP_START + payload
