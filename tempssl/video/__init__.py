"""Frame-exact video decoding behind one interface (TorchCodec, decord, PyAV).

Frames leave this package as `torch.uint8 (T, H, W, 3)` RGB; frame `i` is the `i`-th frame in
presentation order for every backend.
"""

from tempssl.video.errors import (
    BackendUnavailableError,
    FrameIndexError,
    VideoDecodeError,
    VideoError,
    VideoNotFoundError,
    VideoOpenError,
)
from tempssl.video.index import VideoIndex, build_index
from tempssl.video.open import BACKENDS, available_backends, open_video, resolve_backend
from tempssl.video.reader import VideoReader

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "FrameIndexError",
    "VideoDecodeError",
    "VideoError",
    "VideoIndex",
    "VideoNotFoundError",
    "VideoOpenError",
    "VideoReader",
    "available_backends",
    "build_index",
    "open_video",
    "resolve_backend",
]
