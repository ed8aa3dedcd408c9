"""Run by tests/video/test_bad_corpus.py in a subprocess (so that a crash cannot take the test run
down): `python bad_corpus_check.py BACKEND CORPUS.json` checks every file of the corpus against
what `tempssl.video.bad_corpus` says of it, each under a 60 s alarm, one JSON line per file."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import numpy as np

from tempssl.video import VideoDecodeError, VideoOpenError, open_video
from tempssl.video.synthetic import read_frame_codes


def _codes(frames, rotation: int) -> list[int]:
    turned = np.rot90(frames.numpy(), -(rotation // 90), axes=(1, 2)) if rotation else frames.numpy()
    return read_frame_codes(np.ascontiguousarray(turned))


def check(backend: str, video: dict) -> str | None:
    """None if the file behaves as documented, else what happened."""
    path, expect, written = video["path"], video["expect"], video["frames"]
    try:
        reader = open_video(path, backend=backend)
    except VideoOpenError as error:
        return None if expect == "error" and path in str(error) else f"VideoOpenError: {error}"
    if expect == "error":
        return f"opened with {reader.num_frames} frames"
    n = reader.num_frames
    if expect == "partial" and not 0 < n < written:
        return f"{n} frames, expected fewer than {written}"
    if expect == "exact" and n != written:
        return f"{n} frames, expected {written}"
    if expect == "decode_error":
        head = list(range(max(1, n // 4)))
        if _codes(reader.get_frames(head), 0) != head:
            return "the frames before the damage are not exact"
        try:
            reader.get_frames(list(range(n)))
        except VideoDecodeError:
            return None
        return "decoding across the damage raised nothing"
    wanted = list(range(n)) if n <= 64 else [0, n // 2, n - 1]
    frames = reader.get_frames(wanted)
    if tuple(frames.shape[1:3]) != reader.output_size:
        return f"frames {tuple(frames.shape)} but output_size {reader.output_size}"
    got = _codes(frames, video["rotation"])
    return None if got == wanted else f"frame codes {got[:10]}... for {wanted[:10]}..."


def main() -> None:
    backend, corpus = sys.argv[1], json.loads(Path(sys.argv[2]).read_text())

    def timeout(*_):
        raise TimeoutError("over 60 s")

    signal.signal(signal.SIGALRM, timeout)
    for kind, video in corpus.items():
        print(json.dumps({"kind": kind, "start": True}), flush=True)
        signal.alarm(60)
        try:
            problem = check(backend, video)
        except Exception as error:  # any other exception is a finding, reported by the test
            problem = f"{type(error).__name__}: {error}"
        finally:
            signal.alarm(0)
        print(json.dumps({"kind": kind, "problem": problem}), flush=True)


if __name__ == "__main__":
    main()
