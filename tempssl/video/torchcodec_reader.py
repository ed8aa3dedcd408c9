"""TorchCodec backend: PyTorch's video decoder (needs FFmpeg 4-9 shared libraries on the system).

torchcodec's exact seek mode indexes frames by sorted packet timestamps, as `VideoIndex` does. For AVI
files with B-frames torchcodec 0.17 returns wrong frames (or fails near the end), so such files are
decoded with PyAV, with a warning (see `pyav_only_reason`).
"""

from __future__ import annotations

import numpy as np
import torch

from tempssl.video.errors import BackendUnavailableError, VideoDecodeError, first_line
from tempssl.video.reader import VideoReader

INSTALL_HINT = (
    "install it with `pip install torchcodec` plus FFmpeg's shared libraries "
    "(Debian/Ubuntu: `apt-get install ffmpeg`; conda: `conda install ffmpeg`)"
)


def import_torchcodec():
    """The `torchcodec.decoders` module; raises when torchcodec or FFmpeg's libraries are missing.

    `import torchcodec` succeeds without FFmpeg's shared libraries (they load on first use), so
    this also decodes a tiny in-memory video: a torchcodec that cannot load FFmpeg raises here.
    """
    from torchcodec import decoders

    decoders.VideoDecoder(_probe_video()).get_frame_at(0)
    return decoders


def _probe_video() -> bytes:
    """A 2-frame 16x16 MPEG-4 video, encoded with PyAV in memory."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


class TorchCodecReader(VideoReader):
    """`VideoReader` on `torchcodec.decoders.VideoDecoder` in exact seek mode."""

    backend = "torchcodec"

    def _open(self):
        try:  # whether FFmpeg loads was checked once per process (`open_video`, `import_torchcodec`)
            from torchcodec import decoders
        except Exception as error:
            raise BackendUnavailableError(
                self.path, self.backend, f"torchcodec is not available ({error}); {INSTALL_HINT}"
            ) from error
        resize = {}
        if self.output_size != (self.height, self.width):
            try:
                from torchcodec.transforms import Resize
            except ImportError as error:
                raise BackendUnavailableError(
                    self.path,
                    self.backend,
                    f"this torchcodec cannot resize while decoding; {INSTALL_HINT}",
                ) from error
            resize = {"transforms": [Resize(size=self.output_size)]}
        try:
            return decoders.VideoDecoder(
                str(self.path),
                stream_index=self.index.stream_index,
                dimension_order="NHWC",
                num_ffmpeg_threads=self.num_threads,
                seek_mode="exact",
                **resize,
            )
        except Exception as error:
            # PyAV indexed the file (and torchcodec loads, see `import_torchcodec`): a video that
            # torchcodec cannot open is decoded with PyAV
            return self._pyav_fallback(f"torchcodec cannot open it: {first_line(error)}")

    def _decode(self, indices: np.ndarray) -> torch.Tensor:
        decoder = self.decoder
        try:
            return decoder.get_frames_at(indices.tolist()).data
        except Exception as error:
            raise VideoDecodeError(self.path, self.backend, f"decoding failed: {error}") from error
