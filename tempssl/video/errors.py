"""Exceptions of the video layer. Every message names the file, the backend and what is wrong."""

from __future__ import annotations

from pathlib import Path


class VideoError(Exception):
    """A video could not be opened or decoded."""

    def __init__(self, path: str | Path, backend: str, problem: str):
        self.path, self.backend, self.problem = str(path), backend, problem
        super().__init__(f"{path} [backend={backend}]: {problem}")


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video file does not exist."""


class VideoOpenError(VideoError):
    """The file exists but is not a readable video (empty, not a container, no video stream)."""


class VideoDecodeError(VideoError):
    """Frames that the index promised could not be decoded (e.g. a truncated file)."""


class FrameIndexError(VideoError, IndexError):
    """Requested frame indices lie outside the video."""


class BackendUnavailableError(VideoError, ImportError):
    """A decoding backend was asked for but cannot be imported or loaded."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (backends' messages run to tracebacks)."""
    return (str(error).strip().splitlines() or [repr(error)])[0]
