"""Broken and unusual video files, made from good synthetic ones (nothing is committed): what a
user's folder of footage contains, for testing every backend and sampler against it.

`make_bad_corpus(folder)` writes one file per kind and returns `{kind: BadVideo}`; each says what
tempssl does with it (`expect`):

- "error": opening raises `VideoOpenError` naming the file and the reason (a data set skips the
  file at indexing, counts it and lists it in the training summary).
- "partial": it opens with fewer frames than were written (the ones before the damage), and those
  decode exactly.
- "decode_error": it opens; the frames before the damage decode exactly; asking for frames across
  it raises `VideoDecodeError` (a data set skips the video from then on, counted and logged), never
  a silently wrong frame.
- "exact": every frame written decodes exactly (the frames carry their index as a code, see
  `tempssl.video.synthetic`).

    python -m tempssl.video.bad_corpus /tmp/bad_videos    # write the corpus, print the kinds
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

import av

from tempssl.video.synthetic import (
    overstate_avi_frame_count,
    pack_bframes,
    render_coded_frame,
    write_audio_only,
    write_coded_video,
)

FRAMES = 60  # frames of the good files the damaged ones are cut from


@dataclass(frozen=True)
class BadVideo:
    """One file of the corpus: where it is, what tempssl does with it, and why."""

    path: Path
    expect: str  # "error", "partial", "decode_error" or "exact"
    frames: int  # frames written (for "exact": all of them decode; else an upper bound)
    note: str
    rotation: int = 0  # display rotation of "rotated" (frames come back turned by it)


def make_bad_corpus(folder: str | Path) -> dict[str, BadVideo]:
    """Write the corpus into `folder` (created); returns `{kind: BadVideo}` (20 kinds)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    kinds: dict[str, BadVideo] = {}

    def add(kind: str, path: Path, expect: str, frames: int, note: str, **extra) -> None:
        kinds[kind] = BadVideo(path, expect, frames, note, **extra)

    sources = root / ".sources"  # the good files the damaged ones are made from
    sources.mkdir(exist_ok=True)
    index_last = write_coded_video(sources / "index_last.mp4", FRAMES).read_bytes()
    index_first = write_coded_video(
        sources / "index_first.mp4", FRAMES, container_options={"movflags": "faststart"}
    ).read_bytes()

    path = root / "zero_byte.mp4"
    path.write_bytes(b"")
    add("zero_byte", path, "error", 0, "an empty file")
    path = root / "text_renamed.mp4"
    path.write_text("these are my notes, not a video\n" * 40)
    add("text_renamed", path, "error", 0, "a text file named .mp4")
    for percent in (10, 50, 90):
        path = root / f"truncated_{percent}.mp4"
        path.write_bytes(index_last[: len(index_last) * percent // 100])
        add(f"truncated_{percent}", path, "error", FRAMES,
            f"cut at {percent} %: the frame index (moov, written last) is lost")  # fmt: skip
    path = root / "truncated_indexed_10.mp4"
    path.write_bytes(index_first[: len(index_first) // 10])
    add("truncated_indexed_10", path, "error", FRAMES, "index first, cut at 10 %: no frame survives")
    for percent in (50, 90):
        path = root / f"truncated_indexed_{percent}.mp4"
        path.write_bytes(index_first[: len(index_first) * percent // 100])
        add(f"truncated_indexed_{percent}", path, "partial", FRAMES,
            f"index first, cut at {percent} %: the frames before the cut remain")  # fmt: skip
    header = bytearray(index_last)
    header[:64] = bytes(rng.randrange(256) for _ in range(64))
    path = root / "corrupt_header.mp4"
    path.write_bytes(bytes(header))
    add("corrupt_header", path, "error", FRAMES, "random bytes over the container's first 64 bytes")
    middle = bytearray(index_first)
    start = len(middle) // 2
    middle[start : start + 400] = bytes(rng.randrange(256) for _ in range(400))
    path = root / "garbage_packet.mp4"
    path.write_bytes(bytes(middle))
    add("garbage_packet", path, "decode_error", FRAMES, "random bytes over a packet mid-file")
    path = root / "audio_only.mp4"
    write_audio_only(path)
    add("audio_only", path, "error", 0, "an audio track and no video stream")
    add("one_frame", write_coded_video(root / "one_frame.mp4", 1), "exact", 1, "a single frame")
    add("short", write_coded_video(root / "short.mp4", 4), "exact", 4,
        "4 frames: shorter than a clip, tuple or sequence asks (samplers skip it)")  # fmt: skip
    add("variable_rate", write_coded_video(root / "variable_rate.mp4", 30, frame_durations=[40, 20, 80]),
        "exact", 30, "variable frame rate (40, 20, 80 ms)")  # fmt: skip
    avi = write_coded_video(root / "overreported.avi", 30, codec="mpeg4", b_frames=0)
    overstate_avi_frame_count(avi, 300)
    add("overreported", avi, "exact", 30, "an AVI whose header claims 300 of its 30 frames")
    odd = write_coded_video(
        root / "odd_size.webm", 20, height=65, width=97, codec="libvpx-vp9", b_frames=None
    )
    add("odd_size", odd, "exact", 20, "97x65 pixels (odd, not a multiple of 2)")
    gray = write_coded_video(root / "grayscale.mkv", 20, codec="ffv1", pix_fmt="gray", b_frames=None)
    add("grayscale", gray, "exact", 20, "a true gray stream (FFV1): returned as 3 equal channels")
    path = root / "rotated.mp4"
    _write_rotated(path, 20, degrees=90)
    add("rotated", path, "exact", 20,
        "display-matrix rotation of 90 degrees (a phone's): frames come back turned, as shown",
        rotation=90)  # fmt: skip
    add("huge", write_coded_video(root / "huge.mp4", 1, height=8000, width=8000, b_frames=0),
        "exact", 1, "one 8000x8000 frame")  # fmt: skip
    bframes = write_coded_video(sources / "bframes.avi", 30, codec="mpeg4", b_frames=2)
    add("out_of_order_avi", pack_bframes(bframes, root / "out_of_order.avi"), "exact", 30,
        "an AVI with packed B-frames: its guessed timestamps come out of order")  # fmt: skip
    return kinds


def _write_rotated(path: Path, frames: int, degrees: int) -> None:
    """Coded frames stored as rendered, with a display matrix saying: turn `degrees`
    counter-clockwise to show them."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.set_display_rotation(degrees)
        for index in range(frames):
            image = render_coded_frame(index, 64, 96)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m tempssl.video.bad_corpus OUT_FOLDER", file=sys.stderr)
        return 2
    for kind, video in make_bad_corpus(argv[0]).items():
        print(f"{kind:22s} {video.expect:13s} {video.path.name:26s} {video.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
