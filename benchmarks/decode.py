"""Decoding throughput: tempssl's readers against calling each backend directly, in the same run.

For one video (default: a generated, self-verifying 320x240 H.264 clip of 300 frames) this times
random 16-frame clips with every backend, twice: through `tempssl.video.open_video` and through the
backend's own API. Each clip is timed for both right after each other, so machine noise hits both
alike. Also timed: a naive baseline (PyAV decoding from frame 0 for every clip) and pytorchvideo's
`EncodedVideo.get_clip` when it imports. Frame exactness is read back from the frame codes (only
for generated videos).

    python benchmarks/decode.py                       # generated video
    python benchmarks/decode.py --video my.mp4 --clips 500
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch

from tempssl.video import available_backends, build_index, open_video
from tempssl.video.synthetic import read_frame_codes, write_coded_video

THREADS = 1  # decoder threads of every row (--threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", type=Path, help="video to read (default: generate one)")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--clip-len", type=int, default=16)
    parser.add_argument("--stride", type=int, default=1, help="frame step inside a clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="decoder threads (every row)")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads

    with tempfile.TemporaryDirectory() as tmp:
        coded = args.video is None
        video = args.video or write_coded_video(
            Path(tmp) / "bench.mp4", 300, 240, 320, b_frames=3, options={"g": "50"}
        )  # a keyframe every 2 s, as in most streamed video
        index = build_index(video)
        span = (args.clip_len - 1) * args.stride + 1
        rng = np.random.default_rng(args.seed)
        starts = rng.integers(0, index.num_frames - span + 1, size=args.clips)
        clips = [list(range(s, s + span, args.stride)) for s in starts]
        print(
            f"video: {video} ({index.width}x{index.height}, {index.num_frames} frames, "
            f"{index.fps:.2f} fps); {args.clips} random clips of {args.clip_len} frames, "
            f"stride {args.stride}, {args.threads} decoder thread(s)"
        )
        rows = benchmark(video, clips, coded)
    print_table(rows, args.clip_len * args.clips)


def benchmark(video: Path, clips: list[list[int]], coded: bool) -> list[dict]:
    rows = []
    for backend in available_backends():
        reader = open_video(video, backend=backend, num_threads=THREADS)
        raw = RAW_CALLS[backend](video)
        ours_s, raw_s = time_pair(lambda c, r=reader: r.get_frames(c), raw, clips)
        rows.append(row(f"{backend} (raw API)", raw_s, raw, clips, coded))
        rows.append(row(f"{backend} (tempssl)", ours_s, reader.get_frames, clips, coded, raw_s))
    naive = pyav_from_start(video)
    rows.append(row("pyav from frame 0 (naive)", time_one(naive, clips), naive, clips, coded))
    pytorchvideo = pytorchvideo_clip(video)
    if pytorchvideo is not None:
        fn = pytorchvideo
        rows.append(row("pytorchvideo get_clip", time_one(fn, clips), fn, clips, coded))
    return rows


def time_pair(ours: Callable, raw: Callable, clips) -> tuple[float, float]:
    """Seconds spent by each of two decode functions, alternating on every clip."""
    ours(clips[0]), raw(clips[0])  # warm-up: open decoders, load libraries
    ours_s = raw_s = 0.0
    for i, clip in enumerate(clips):
        order = (ours, raw) if i % 2 == 0 else (raw, ours)
        for fn in order:
            start = time.perf_counter()
            fn(clip)
            elapsed = time.perf_counter() - start
            if fn is ours:
                ours_s += elapsed
            else:
                raw_s += elapsed
    return ours_s, raw_s


def time_one(fn: Callable, clips) -> float:
    fn(clips[0])
    start = time.perf_counter()
    for clip in clips:
        fn(clip)
    return time.perf_counter() - start


def row(name, seconds, fn, clips, coded, raw_seconds=None) -> dict:
    exact = sum(read_frame_codes(fn(c)) == c for c in clips) if coded else None
    return {
        "name": name,
        "seconds": seconds,
        "exact": exact,
        "clips": len(clips),
        "raw_seconds": raw_seconds,
    }


def print_table(rows: list[dict], frames: int) -> None:
    fastest_raw = min(r["seconds"] for r in rows if "raw API" in r["name"])
    print("\n| decoder | frames/s | vs fastest raw | vs own raw | frame-exact clips |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        own = f"{r['seconds'] / r['raw_seconds']:.3f}x time" if r["raw_seconds"] else ""
        exact = "n/a" if r["exact"] is None else f"{r['exact']}/{r['clips']}"
        print(
            f"| {r['name']} | {frames / r['seconds']:.0f} | "
            f"{fastest_raw / r['seconds']:.2f} | {own} | {exact} |"
        )
    print("\n'vs fastest raw': throughput relative to the fastest direct backend call (1.00 = same).")
    print("'vs own raw': time of tempssl's reader over the same backend called directly (goal < 1.05).")


# -- the backends called directly, as a user without tempssl would ---------------------------
def raw_torchcodec(video: Path) -> Callable:
    from torchcodec.decoders import VideoDecoder

    decoder = VideoDecoder(str(video), dimension_order="NHWC", num_ffmpeg_threads=THREADS)
    return lambda clip: decoder.get_frames_at(clip).data


def raw_decord(video: Path) -> Callable:
    import decord

    reader = decord.VideoReader(str(video), ctx=decord.cpu(0), num_threads=THREADS)
    return lambda clip: torch.from_numpy(reader.get_batch(clip).asnumpy())


def raw_pyav(video: Path) -> Callable:
    """Seek to the keyframe before the clip, decode forward: the standard PyAV recipe."""
    container = av.open(str(video))
    stream = container.streams.video[0]
    stream.thread_count = THREADS  # same as tempssl's readers (and every other row)
    stream.thread_type = "AUTO" if THREADS != 1 else "SLICE"  # as tempssl's PyAV reader
    pts = build_index(video).pts

    def decode(clip):
        wanted = {int(pts[i]) for i in clip}
        container.seek(int(pts[clip[0]]), stream=stream, backward=True)
        frames = {}
        for frame in container.decode(stream):
            if frame.pts in wanted:
                frames[frame.pts] = frame.to_ndarray(format="rgb24")
            if frame.pts >= pts[clip[-1]]:
                break
        return torch.from_numpy(np.stack([frames[int(pts[i])] for i in clip]))

    return decode


def pyav_from_start(video: Path) -> Callable:
    """Naive baseline: open the file and decode from frame 0 up to the clip's last frame."""
    pts = build_index(video).pts

    def decode(clip):
        wanted = {int(pts[i]) for i in clip}
        frames = {}
        with av.open(str(video)) as container:
            for frame in container.decode(video=0):
                if frame.pts in wanted:
                    frames[frame.pts] = frame.to_ndarray(format="rgb24")
                if frame.pts >= pts[clip[-1]]:
                    break
        return torch.from_numpy(np.stack([frames[int(pts[i])] for i in clip]))

    return decode


def pytorchvideo_clip(video: Path) -> Callable | None:
    """pytorchvideo's `EncodedVideo.get_clip(start_sec, end_sec)` (PyAV decoder), if importable."""
    try:
        from pytorchvideo.data.encoded_video import EncodedVideo
    except Exception as error:  # not installed, or incompatible with this torchvision
        print(f"pytorchvideo skipped: {type(error).__name__}: {error}")
        return None
    encoded = EncodedVideo.from_path(str(video), decoder="pyav")
    index = build_index(video)
    seconds = index.timestamps

    def decode(clip):
        end = seconds[clip[-1]] + 0.5 / index.fps
        out = encoded.get_clip(seconds[clip[0]], end)["video"]  # (C, T, H, W) float
        return out.permute(1, 2, 3, 0).round().clamp(0, 255).to(torch.uint8)

    return decode


RAW_CALLS = {"torchcodec": raw_torchcodec, "decord": raw_decord, "pyav": raw_pyav}

if __name__ == "__main__":
    main()
