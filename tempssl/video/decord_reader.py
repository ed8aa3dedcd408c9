"""decord backend (`pip install decord`; imported as `decord`).

decord seeks by its own frame timestamps. Where those are invalid (AVI files with B-frames: decord
0.6 reports garbage timestamps there and returns wrong frames after a seek), this reader says so in
a warning and decodes that file with PyAV instead, so results stay frame-exact. decord2 3.4 is not
used: it returns 4-channel frames for more sizes (e.g. 96x64) and its `get_batch` then fails; decord
0.6 does so for a few narrow widths (48, 72), where this reader also falls back to PyAV.
"""

from __future__ import annotations

import numpy as np
import torch

from tempssl.video.errors import BackendUnavailableError, VideoDecodeError
from tempssl.video.reader import VideoReader

INSTALL_HINT = "install it with `pip install decord` (or `pip install -e '.[decord]'`)"


def import_decord():
    """The `decord` module; raises ImportError when it is not installed."""
    import decord

    return decord


class DecordReader(VideoReader):
    """`VideoReader` on decord's `VideoReader.get_batch`."""

    backend = "decord"

    def _open(self):
        try:
            decord = import_decord()
        except Exception as error:
            raise BackendUnavailableError(
                self.path, self.backend, f"decord is not available ({error}); {INSTALL_HINT}"
            ) from error
        resize = {}
        if self.output_size != (self.height, self.width):
            resize = {"height": self.output_size[0], "width": self.output_size[1]}
        try:
            decoder = decord.VideoReader(
                str(self.path), ctx=decord.cpu(0), num_threads=self.num_threads, **resize
            )
        except decord.DECORDError as error:
            # PyAV indexed the file, so it is a video decord cannot read (e.g. an animated GIF:
            # "Failed to measure duration/frame-count due to broken metadata")
            return self._pyav_fallback(f"decord cannot open it: {_last_line(error)}")
        if not self._timestamps_agree(decoder):
            return self._pyav_fallback("decord's frame timestamps disagree with the packet index")
        return decoder

    def _timestamps_agree(self, decoder) -> bool:
        """Whether decord's frame times match the packet index to within a quarter frame."""
        n = self.num_frames
        if len(decoder) < n:
            return False
        theirs = decoder.get_frame_timestamp(list(range(n)))[:, 0].astype(np.float64)
        ours = self.index.timestamps
        tolerance = 0.25 / self.fps
        return bool(np.all(np.abs((theirs - theirs[0]) - ours) <= tolerance))

    def _decode(self, indices: np.ndarray) -> torch.Tensor:
        decoder = self.decoder
        try:
            batch = decoder.get_batch(indices.tolist()).asnumpy()
        except Exception as error:
            if "DECORDArrayCopyFromTo" in str(error):
                # decord 0.6 decodes some narrow widths (e.g. 48, 72) to 4 channels, then fails.
                self._decoder = self._pyav_fallback("decord decodes this frame size to 4 channels")
                return self._decoder.get_frames(indices)
            raise VideoDecodeError(self.path, self.backend, f"decoding failed: {error}") from error
        return torch.from_numpy(batch)


def _last_line(error: Exception) -> str:
    """decord's messages end with the reason after a C++ source location."""
    return str(error).strip().splitlines()[-1].split("] ")[-1] if str(error).strip() else repr(error)
