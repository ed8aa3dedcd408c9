"""Find videos and their labels/groups, and their metadata (frames, fps, size, duration)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoInfo:
    """One video file of a source and what samplers need to know about it.

    Attributes:
        path: absolute path of the file.
        num_frames: frames that really decode.
        fps: average frame rate.
        duration: seconds.
        height, width: frame size in pixels.
        label: class index, or -1 when unlabeled.
        group: scene id for multi-view sources (the views of one scene share it), else None.
        view: view name inside the group (e.g. "view0"), else None.
        offset: seconds: when this view's first frame was shown, on the scene's common clock.
    """

    path: str
    num_frames: int
    fps: float
    duration: float
    height: int
    width: int
    label: int = -1
    group: str | None = None
    view: str | None = None
    offset: float = 0.0

    def frame_time(self, index: int) -> float:
        """Scene-clock time (seconds) of frame `index`."""
        return self.offset + index / self.fps

    def frame_at(self, time: float) -> int:
        """The frame whose timestamp is nearest to scene-clock `time`, clipped to the video."""
        return min(max(int(round((time - self.offset) * self.fps)), 0), self.num_frames - 1)
