"""The one video-reader interface that every decoding backend implements."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from tempssl.video.errors import FrameIndexError, VideoDecodeError
from tempssl.video.index import VideoIndex, build_index, pyav_only_reason

Size = int | tuple[int, int] | None

_DECODERS_FROM_PARENT: list = []


class VideoReader:
    """Random access to the frames of one video, in presentation order.

    The file is indexed on construction (bad files fail here, with a clear error); the decoder itself
    opens lazily on first use and again in every new process, so a reader can be created in the main
    process and used from DataLoader workers. Subclasses implement `_open` and `_decode`.

    Args:
        path: video file.
        size: decode-time resize: `None` (native size), an int (short side, aspect kept; a video
            whose short side is already at most that keeps its size) or `(H, W)` (exact).
        num_threads: decoder threads (1 suits DataLoader workers; 0 lets the backend choose).
        index: a prebuilt `VideoIndex` of this file, to skip demuxing it again.
    """

    backend = "base"
    # False: files that `pyav_only_reason` names are decoded with PyAV instead (with a warning).
    exact_on_every_file = False

    def __init__(
        self,
        path: str | Path,
        size: Size = None,
        num_threads: int = 1,
        index: VideoIndex | None = None,
    ):
        self.path = Path(path)
        self.num_threads = num_threads
        self.index = index if index is not None else build_index(self.path, self.backend)
        self.output_size = output_size(self.index.height, self.index.width, size)
        self._decoder = None
        self._decoder_pid: int | None = None

    # -- metadata -----------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        """Number of frames that decode (counted from packets, not from the container header)."""
        return self.index.num_frames

    @property
    def fps(self) -> float:
        return self.index.fps

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.index.duration

    @property
    def height(self) -> int:
        """Height of the source video (see `output_size` for the decoded frames)."""
        return self.index.height

    @property
    def width(self) -> int:
        return self.index.width

    @property
    def timestamps(self) -> np.ndarray:
        """`float64 (N,)` presentation time of every frame in seconds (exact for variable fps)."""
        return self.index.timestamps

    @property
    def decoded_by(self) -> str:
        """The backend that really decodes this file: `backend`, or "pyav" where this backend cannot
        read the file exactly and a PyAV reader stands in (opens the decoder if not yet open)."""
        return self.decoder.backend if isinstance(self.decoder, VideoReader) else self.backend

    # -- decoding -----------------------------------------------------------------------------
    def get_frames(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Decode frames by index, in the order asked (repeats allowed; negatives count from the end).

        Each distinct frame is decoded once per call.

        Returns:
            `torch.uint8 (T, H, W, 3)` RGB frames, `(H, W) = self.output_size`.
        """
        wanted = self._check_indices(indices)
        if wanted.size == 0:
            return torch.empty((0, *self.output_size, 3), dtype=torch.uint8)
        unique, inverse = np.unique(wanted, return_inverse=True)
        decoder = self.decoder
        # A backend that cannot read this file exactly opened a PyAV reader in its place.
        frames = decoder.get_frames(unique) if isinstance(decoder, VideoReader) else self._decode(unique)
        if frames.shape[0] != len(unique):
            raise VideoDecodeError(
                self.path,
                self.backend,
                f"asked for {len(unique)} frames, decoder returned {frames.shape[0]}",
            )
        if len(unique) == len(wanted) and np.array_equal(unique, wanted):
            return frames
        return frames[torch.from_numpy(inverse.reshape(-1))]

    def close(self) -> None:
        """Release the decoder (it reopens on the next `get_frames`)."""
        if isinstance(self._decoder, VideoReader):
            self._decoder.close()
        elif self._decoder is not None:
            self._close(self._decoder)
        self._decoder = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, frames={self.num_frames}, "
            f"fps={self.fps:.3f}, size={self.width}x{self.height}, output={self.output_size})"
        )

    def __getstate__(self) -> dict:
        # Decoders never cross process boundaries; each process opens its own.
        state = self.__dict__.copy()
        state["_decoder"], state["_decoder_pid"] = None, None
        return state

    # -- for backends -------------------------------------------------------------------------
    @property
    def decoder(self):
        """The backend's decoder object for this process, opened on first use."""
        if self._decoder is not None and self._decoder_pid != os.getpid():
            # Inherited through fork: destroying it here would join decoder threads that exist
            # only in the parent (decord hangs forever). Keep it alive, unused, and open our own.
            _DECODERS_FROM_PARENT.append(self._decoder)
            self._decoder = None
        if self._decoder is None:
            problem = None if self.exact_on_every_file else pyav_only_reason(self.index)
            self._decoder = self._pyav_fallback(problem) if problem else self._open()
            self._decoder_pid = os.getpid()
        return self._decoder

    def _pyav_fallback(self, reason: str) -> VideoReader:
        """A PyAV reader standing in for this one on a file its backend cannot decode exactly."""
        from tempssl.video.pyav_reader import pyav_fallback  # PyAVReader subclasses this class

        return pyav_fallback(self, reason)

    def _open(self):
        """The backend's decoder for this file, or `self._pyav_fallback(reason)`."""
        raise NotImplementedError

    def _close(self, decoder) -> None:
        pass

    def _decode(self, indices: np.ndarray) -> torch.Tensor:
        """Decode sorted, distinct, valid frame indices into `uint8 (K, H, W, 3)`."""
        raise NotImplementedError

    def _check_indices(self, indices) -> np.ndarray:
        wanted = np.asarray(indices.cpu() if torch.is_tensor(indices) else indices)
        if wanted.ndim != 1 or not (wanted.size == 0 or np.issubdtype(wanted.dtype, np.integer)):
            raise FrameIndexError(
                self.path,
                self.backend,
                f"frame indices must be a 1-D list of ints, got {indices!r}",
            )
        n = self.num_frames
        bad = wanted[(wanted < -n) | (wanted >= n)]
        if bad.size:
            raise FrameIndexError(
                self.path,
                self.backend,
                f"frame index {int(bad[0])} out of range: the video has {n} frames, "
                f"valid indices are 0..{n - 1} (or -{n}..-1)",
            )
        return np.where(wanted < 0, wanted + n, wanted).astype(np.int64)


def output_size(height: int, width: int, size: Size) -> tuple[int, int]:
    """`(H, W)` of frames decoded with `size` (see `VideoReader`) from a `height` x `width` source."""
    if size is None:
        return height, width
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"size must be a positive short side, got {size}")
        if size >= min(height, width):  # decoding only shrinks: enlarging is the transforms' job
            return height, width
        scale = size / min(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))
    out_h, out_w = size
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"size must be positive (H, W), got {size}")
    return int(out_h), int(out_w)
