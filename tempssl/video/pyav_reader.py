"""PyAV backend: seeks to the keyframe before each wanted frame and decodes forward from there.

Files whose container timestamps are guesses (`VideoIndex.output_order`: AVI or MPEG program
streams with B-frames) are read by counting the decoder's output frames instead: frame `i` is the
`i`-th frame output. The first read decodes from the start; the output position of each keyframe
passed on the way is kept in `VideoIndex.key_outputs`, so later reads seek to the nearest known
keyframe.
"""

from __future__ import annotations

import itertools
import logging

import av
import numpy as np
import torch

from tempssl.video.errors import VideoDecodeError
from tempssl.video.index import decoded_frames
from tempssl.video.reader import VideoReader

log = logging.getLogger(__name__)


def pyav_fallback(reader: VideoReader, reason: str) -> PyAVReader:
    """A PyAV reader standing in for `reader` on a file its backend cannot decode exactly."""
    log.warning(
        "%s: %s cannot return exact frames here (%s); decoding this file with PyAV instead",
        reader.path,
        reader.backend,
        reason,
    )
    return PyAVReader(reader.path, reader.output_size, reader.num_threads, reader.index)


class PyAVReader(VideoReader):
    """`VideoReader` on PyAV (FFmpeg bundled in the `av` wheel).

    `frames_decoded` and `seeks` count the work done so far (for tests and benchmarks).
    """

    backend = "pyav"
    exact_on_every_file = True
    frames_decoded = 0
    seeks = 0

    def _open(self):
        container = av.open(str(self.path), metadata_errors="ignore")
        stream = container.streams.video[0]
        stream.thread_count = self.num_threads
        stream.thread_type = "AUTO" if self.num_threads != 1 else "SLICE"
        return container

    def _close(self, container) -> None:
        container.close()

    def _decode(self, indices: np.ndarray) -> torch.Tensor:
        index = self.index
        targets = index.pts[indices]
        # The keyframe to start from for each target: the last one shown at or before it. Choosing by
        # presentation time keeps open-GOP leading B-frames decodable (they need the previous GOP).
        keys = np.maximum(np.searchsorted(index.keyframe_pts, targets, side="right") - 1, 0)
        position = {int(p): i for i, p in enumerate(targets)}
        frames: list[np.ndarray | None] = [None] * len(targets)
        try:
            if index.output_order:
                self._decode_in_output_order(frames, indices)
            else:
                self._decode_into(frames, targets, keys, position)
        except av.FFmpegError as error:
            raise VideoDecodeError(self.path, self.backend, f"decoding failed: {error}") from error
        missing = [int(indices[i]) for i, f in enumerate(frames) if f is None]
        if missing:
            raise VideoDecodeError(
                self.path, self.backend, f"frames {missing[:10]} did not decode (damaged file?)"
            )
        return torch.from_numpy(np.stack(frames))

    def _next_pts(self, pts: int) -> int:
        """Presentation timestamp of the frame shown after the one at `pts` (or `pts` if last)."""
        all_pts = self.index.pts
        following = int(np.searchsorted(all_pts, pts, side="right"))
        return int(all_pts[min(following, len(all_pts) - 1)])

    def _decode_into(self, frames, targets, keys, position) -> None:
        """Fill `frames[i]` with the frame shown at `targets[i]` (sorted), seeking only forward."""
        container = self.decoder
        stream = container.streams.video[0]
        keyframe_pts = self.index.keyframe_pts
        state = {"frames": None, "last_pts": None, "floor_pts": None}

        def seek(key: int | None) -> None:
            self.seeks += 1
            if key is None:  # from the very start of the file
                container.seek(0, backward=True, any_frame=False)
            else:
                ts = int(keyframe_pts[key])
                container.seek(ts, stream=stream, backward=True, any_frame=False)
            state["frames"] = decoded_frames(container, stream)
            state["last_pts"] = None
            # Frames shown before the seek keyframe may be broken (open GOP): never keep them.
            state["floor_pts"] = None if key is None else int(keyframe_pts[key])

        def decode_until(target: int) -> None:
            floor = state["floor_pts"]
            for frame in state["frames"]:
                self.frames_decoded += 1
                pts = frame.pts
                if pts is None or (floor is not None and pts < floor):
                    continue
                state["last_pts"] = pts
                slot = position.get(pts)
                if slot is not None and frames[slot] is None:
                    frames[slot] = self._rgb(frame)
                if pts >= target:
                    return
            state["frames"] = None  # end of stream

        for i, target in enumerate(targets):
            if frames[i] is not None:
                continue
            key = int(keys[i])
            last = state["last_pts"]
            # Seek only when that skips frames: the target's keyframe lies beyond the next frame.
            if state["frames"] is None or last is None or keyframe_pts[key] > self._next_pts(last):
                seek(key)
            decode_until(int(target))
            if frames[i] is None:  # the seek landed past the target (bad file index): from start
                seek(None)
                decode_until(int(target))

    def _decode_in_output_order(self, frames, indices: np.ndarray) -> None:
        """Fill `frames[i]` with the `indices[i]`-th frame the decoder outputs (indices sorted)."""
        container = self.decoder
        stream = container.streams.video[0]
        learned = self.index.key_outputs  # keyframe pts -> output position, filled as we go
        wanted = {int(target): i for i, target in enumerate(indices)}
        last = int(indices[-1])
        output, position = None, 0  # decoded-frame iterator; output position of its next frame
        for target in indices.tolist():
            if frames[wanted[target]] is not None:
                continue
            anchor = max(((out, pts) for pts, out in learned.items() if out <= target), default=None)
            if output is None or position > target or (anchor and anchor[0] > position):
                output, position = self._start_output(container, stream, anchor)
            for frame in output:
                self.frames_decoded += 1
                if frame.key_frame and frame.pts is not None:
                    learned.setdefault(int(frame.pts), position)
                slot = wanted.get(position)
                if slot is not None:
                    frames[slot] = self._rgb(frame)
                position += 1
                if position > target or position > last:
                    break
            else:
                return  # end of stream: what was not reached is reported missing

    def _start_output(self, container, stream, anchor: tuple[int, int] | None):
        """Decoded frames from the keyframe `anchor = (output position, pts)`, or from the start;
        returns the frame iterator and the output position of its first frame."""
        self.seeks += 1
        if anchor is not None:
            position, pts = anchor
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            frames = decoded_frames(container, stream)
            for frame in frames:  # skip what precedes the keyframe (leading B-frames)
                self.frames_decoded += 1
                if frame.key_frame and frame.pts == pts:
                    return itertools.chain([frame], frames), position
        container.seek(0, backward=True, any_frame=False)  # unknown or missed keyframe: from 0
        return decoded_frames(container, stream), 0

    def _rgb(self, frame) -> np.ndarray:
        """`uint8 (H, W, 3)` of a decoded frame at `output_size` (scaled while converting), turned
        by the container's display rotation (`VideoIndex.rotation`)."""
        turns = self.index.rotation // 90
        if self.output_size == (self.height, self.width):
            rgb = frame.to_ndarray(format="rgb24")
        else:
            height, width = self.output_size[::-1] if turns % 2 else self.output_size
            rgb = frame.to_ndarray(format="rgb24", height=height, width=width)
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb
