"""`open_video`: one entry point over the decoding backends, with `backend="auto"`."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from tempssl.video.decord_reader import INSTALL_HINT as DECORD_HINT
from tempssl.video.decord_reader import DecordReader, import_decord
from tempssl.video.errors import BackendUnavailableError, first_line
from tempssl.video.index import VideoIndex
from tempssl.video.pyav_reader import PyAVReader
from tempssl.video.reader import Size, VideoReader
from tempssl.video.torchcodec_reader import INSTALL_HINT as TORCHCODEC_HINT
from tempssl.video.torchcodec_reader import TorchCodecReader, import_torchcodec

log = logging.getLogger(__name__)

# Fastest first (benchmarks/decode.py): "auto" takes the first one that loads.
BACKENDS: dict[str, type[VideoReader]] = {
    "torchcodec": TorchCodecReader,
    "decord": DecordReader,
    "pyav": PyAVReader,
}
_IMPORTERS = {"torchcodec": import_torchcodec, "decord": import_decord, "pyav": lambda: None}
_HINTS = {"torchcodec": TORCHCODEC_HINT, "decord": DECORD_HINT, "pyav": "`pip install av`"}
# What fixes a backend that is installed but does not load.
_REPAIRS = {
    "torchcodec": "install FFmpeg's shared libraries, versions 4-9 (Debian/Ubuntu: `apt-get install "
    "ffmpeg`; conda: `conda install ffmpeg`), or silence this with data.backend=decord / pyav",
    "decord": "reinstall it: `pip install --force-reinstall decord`",
    "pyav": "reinstall it: `pip install --force-reinstall av`",
}


@functools.cache
def backend_problem(name: str) -> str | None:
    """Why backend `name` cannot load here, or None when it can (checked once per process)."""
    try:
        _IMPORTERS[name]()
    except ImportError as error:  # not installed: an optional extra the user did not ask for
        return f"{type(error).__name__}: {error}"
    except Exception as error:  # installed but broken, e.g. torchcodec without FFmpeg's libraries
        problem = f"{type(error).__name__}: {first_line(error)}"
        log.warning(
            "video backend %s is installed but cannot load (%s); backend='auto' uses the next one. "
            "To use %s, %s",
            name,
            problem,
            name,
            _REPAIRS[name],
        )
        return problem
    return None


def available_backends() -> list[str]:
    """Backends that load on this machine, fastest first."""
    return [name for name in BACKENDS if backend_problem(name) is None]


def resolve_backend(backend: str = "auto", path: str | Path = "<any>") -> str:
    """The concrete backend name for `backend` ("auto" = fastest that loads)."""
    if backend == "auto":
        for name in BACKENDS:
            problem = backend_problem(name)
            if problem is None:
                return name
            log.debug("video backend %s unavailable, trying the next one: %s", name, problem)
        raise BackendUnavailableError(path, "auto", "no video backend loads; `pip install av`")
    if backend not in BACKENDS:
        raise ValueError(
            f"unknown video backend {backend!r}; choose one of: auto, {', '.join(BACKENDS)}"
        )
    problem = backend_problem(backend)
    if problem is not None:
        raise BackendUnavailableError(
            path, backend, f"backend cannot load ({problem}); {_HINTS[backend]}"
        )
    return backend


def open_video(
    path: str | Path,
    backend: str = "auto",
    size: Size = None,
    num_threads: int = 1,
    index: VideoIndex | None = None,
) -> VideoReader:
    """Open a video for frame-exact random access.

    Args:
        path: the video file.
        backend: "auto" (fastest that loads), "torchcodec", "decord" or "pyav".
        size: decode-time resize: None, short side (int; never enlarges) or `(H, W)`.
        num_threads: decoder threads per reader (1 for DataLoader workers, 0 = backend's choice).
        index: a cached `VideoIndex` of this file (skips demuxing it again).

    Returns:
        A `VideoReader`; `reader.get_frames(indices)` gives `uint8 (T, H, W, 3)` RGB frames.

    Raises:
        VideoNotFoundError, VideoOpenError: the file is missing or not a readable video.
        BackendUnavailableError: the backend asked for is not installed (the message says how).
    """
    name = resolve_backend(backend, path)
    return BACKENDS[name](path, size=size, num_threads=num_threads, index=index)
