"""Turn sampling plans into tensors: per batch, one decode call per video (the union of the frames
its plans need), then each plan's structure.

`PlanDataset` is map-style: item `i` of an epoch is `sampler.plans(epoch)[i]`, so an epoch has a
fixed length and its items do not depend on the number of DataLoader workers or processes.
Batches (after the default collate) are dicts; the keys by sampler kind:

| kind | keys and shapes (B = batch) |
|---|---|
| pairs | `anchor`, `positive`, `negative` `(B, C, H, W)` |
| multiview | `views (B, V, C, H, W)` (synchronized views of one moment) |
| tuples | `frames (B, 3, C, H, W)`, `label (B,)` (1 = in order, 0 = shuffled) |
| sequences | `clip (B, N, L, C, H, W)` (N blocks of L frames), `times (B, N * L)` (seconds) |
| frames | `frames (B, K, C, H, W)`; V views each: `views (B, K*V, C, H, W)`, `views_per_frame (B,)` |
| clips | `clip (B, C, T, H, W)` |

Every batch also has `label (B,)` (the video's class, -1 if none, unless the structure has its own
target), `video (B,)` (video ids) and `skipped (B,)` (plans skipped for unreadable videos).
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, get_worker_info

from tempssl.data.metadata import IMAGE_EXTENSIONS
from tempssl.data.sources import VideoSource, unreadable_error
from tempssl.video import (
    VideoDecodeError,
    VideoError,
    VideoIndex,
    VideoNotFoundError,
    VideoOpenError,
    VideoReader,
    open_video,
)
from tempssl.video.reader import output_size

log = logging.getLogger(__name__)

Transform = Callable[[torch.Tensor], "torch.Tensor | list[torch.Tensor]"]


class PlanDataset(Dataset):
    """Decode the frames of each plan of a sampler and assemble them by the sampler's kind.

    Args:
        source: the videos (ids in plans index `source.videos`).
        sampler: a `tempssl.data.sampling.Sampler` over `source.videos`.
        transform: `uint8 (T, H, W, 3) -> float (T, C, H, W)` (clip-consistent), or a multi-view
            transform returning a list of such tensors. Default: scale to [0, 1] only.
        backend, decode_size: passed to `open_video` (decode-time resize saves time).
        on_bad_video: "skip" (log once, count, use the next plan) or "raise".
        max_open_readers: readers kept open per process (an LRU cache).
        decoder_threads: threads per open reader; None: `decoder_threads_for` (1 in DataLoader
            workers, more in the main process for large frames).
        seed: augmentation randomness is seeded per (seed, epoch, item), so a sample is the same
            whatever the worker count, and a resumed run sees the same augmentations.
    """

    def __init__(
        self,
        source: VideoSource,
        sampler,
        transform: Transform | None = None,
        backend: str = "auto",
        decode_size: int | tuple[int, int] | None = None,
        on_bad_video: str = "skip",
        max_open_readers: int = 8,
        decoder_threads: int | None = None,
        seed: int = 0,
    ):
        if decoder_threads is not None and decoder_threads < 0:
            raise ValueError(
                f"decoder_threads must be >= 0 (0: the backend chooses), got {decoder_threads}"
            )
        if on_bad_video not in ("skip", "raise"):
            raise ValueError(f"on_bad_video must be 'skip' or 'raise', got {on_bad_video!r}")
        self.source, self.sampler = source, sampler
        self.transform = transform or to_float
        self.backend, self.decode_size = backend, decode_size
        self.on_bad_video = on_bad_video
        self.max_open_readers = max_open_readers
        self.decoder_threads = decoder_threads
        self.seed, self.epoch = seed, 0
        self.bad_videos: dict[int, str] = {}  # video id -> problem (this process)
        self._plans: tuple[int, list] | None = None
        self._readers: OrderedDict[int, VideoReader] = OrderedDict()
        self._indexes: dict[int, VideoIndex] = {}  # demuxed once per video and process
        self._readers_pid = os.getpid()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plans are served (call before creating the DataLoader iterator)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.sampler)

    def __getitem__(self, index: int | tuple[int, int]) -> dict:
        """Item `index` of the current epoch, or `(epoch, i)` (from `EpochIndices`)."""
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list) -> list[dict]:
        """The items of a whole batch (the DataLoader calls this with a batch's indices).

        Batch-level decoding: per video, the sorted union of the frames all of the batch's plans
        need is decoded in one `get_frames` call (one pass, seeking only forward, a frame shared
        by several plans decoded once), then each plan takes its frames from it. Item `i` is the
        same as decoded alone: its plan, and its augmentation seeded by (seed, epoch, i). A plan
        touching a video that fails is replaced by the next plan of the epoch (`skipped` counts
        how many were passed over), as `on_bad_video: skip` says.
        """
        keys = [index if isinstance(index, tuple) else (self.epoch, index) for index in indices]
        offsets = [0] * len(keys)  # plans passed over per item (bad videos)
        # (path, problem) of the videos found unreadable, reported by the item that found them
        newly_bad: list[list[tuple[str, str]]] = [[] for _ in keys]
        kept: dict[int, tuple[np.ndarray, torch.Tensor]] = {}  # decoded before a video failed
        while True:
            plans = [self._usable_plan(epoch, i, offsets, n) for n, (epoch, i) in enumerate(keys)]
            wanted: dict[int, set[int]] = {}
            for plan in plans:
                for video, frames in zip(plan.videos, plan.frames, strict=True):
                    wanted.setdefault(video, set()).update(frames)
            decoded, failed = {}, None
            for video, frames in wanted.items():
                order = np.array(sorted(frames), dtype=np.int64)
                if video in kept and np.array_equal(kept[video][0], order):
                    decoded[video] = kept[video]  # unchanged by the retry: not decoded again
                    continue
                try:
                    decoded[video] = order, self._decode(video, order)
                except (VideoNotFoundError, VideoOpenError, VideoDecodeError) as error:
                    failed = (video, error)  # index errors are bugs, not bad videos: they raise
                    break
            if failed is None:
                break
            kept = decoded
            first_user = next(n for n, plan in enumerate(plans) if failed[0] in plan.videos)
            newly_bad[first_user].append(self._mark_bad(*failed))
        samples = []
        for n, ((epoch, i), plan) in enumerate(zip(keys, plans, strict=True)):
            frames = [
                _take(*decoded[video], f) for video, f in zip(plan.videos, plan.frames, strict=True)
            ]
            with torch.random.fork_rng(devices=[]):  # the CPU generator, restored after
                # (torch.manual_seed would also seed every GPU: slow, and not what is forked)
                torch.default_generator.manual_seed(_item_seed(self.seed, epoch, i))
                sample = self._assemble(plan, frames)
            sample["skipped"] = offsets[n]
            # "path<TAB>problem" lines of the videos this item found unreadable (each once per
            # loader worker), for the training summary
            sample["skipped_videos"] = "\n".join(f"{path}\t{why}" for path, why in newly_bad[n])
            samples.append(sample)
        return samples

    def _usable_plan(self, epoch: int, i: int, offsets: list[int], n: int):
        """The first plan from item `i + offsets[n]` on with no video known to be bad (moves
        `offsets[n]` there); raises once no readable video is left."""
        plans = self._epoch_plans(epoch)
        while offsets[n] < len(plans):
            plan = plans[(i + offsets[n]) % len(plans)]
            if not self.bad_videos.keys() & set(plan.videos):
                return plan
            offsets[n] += 1
        problems = [(self.source.videos[v].path, why) for v, why in sorted(self.bad_videos.items())]
        raise unreadable_error(self.source.root, len(self.source), problems)

    # -- decoding ---------------------------------------------------------------------------
    def _decode(self, video_id: int, frames: np.ndarray) -> torch.Tensor:
        """`uint8 (K, H, W, 3)`: sorted distinct frames of one video, in one decode call."""
        path = self.source.videos[video_id].path
        if Path(path).suffix.lower() in IMAGE_EXTENSIONS:
            return _read_image(path, self.decode_size).expand(len(frames), -1, -1, -1)
        return self._reader(video_id).get_frames(frames)

    def _reader(self, video_id: int) -> VideoReader:
        if self._readers_pid != os.getpid():  # a DataLoader worker: never reuse the parent's
            self._readers, self._readers_pid = OrderedDict(), os.getpid()
        reader = self._readers.pop(video_id, None)
        if reader is None:
            info = self.source.videos[video_id]
            threads = self.decoder_threads
            if threads is None:
                threads = decoder_threads_for(info.height * info.width)
            reader = open_video(info.path, backend=self.backend, size=self.decode_size,
                                index=self._indexes.get(video_id), num_threads=threads)  # fmt: skip
            self._indexes[video_id] = reader.index
            while len(self._readers) >= self.max_open_readers:
                self._readers.popitem(last=False)[1].close()
        self._readers[video_id] = reader
        return reader

    def _mark_bad(self, video_id: int, error: VideoError) -> tuple[str, str]:
        """Skip the video that failed from now on; returns its `(path, problem)`."""
        if self.on_bad_video == "raise":
            raise error
        log.warning("skipping unreadable video (counted in 'skipped'): %s", error)
        self.bad_videos[video_id] = error.problem
        return str(self.source.videos[video_id].path), error.problem

    def _epoch_plans(self, epoch: int) -> list:
        if self._plans is None or self._plans[0] != epoch:
            self._plans = (epoch, self.sampler.plans(epoch))
        return self._plans[1]

    # -- assembly ---------------------------------------------------------------------------
    def _assemble(self, plan, decoded: list[torch.Tensor]) -> dict:
        kind = self.sampler.kind
        label = torch.tensor(plan.label, dtype=torch.long)
        sample = {"label": label, "video": torch.tensor(plan.videos[0], dtype=torch.long)}
        if kind == "multiview":
            # One flip for all camera views of a moment: independent flips would make mirror
            # images positives (an embedding that cannot tell move-left from move-right).
            draw_flip = getattr(self.transform, "draw_flip", None)
            shared = {"flip": draw_flip()} if draw_flip is not None else {}
            views = [_one(self.transform(frames, **shared)) for frames in decoded]
            sample["views"] = torch.stack([view[0] for view in views])
            return sample
        frames = decoded[0]
        if kind == "frames":
            outputs = [self.transform(frame[None]) for frame in frames]
            if isinstance(outputs[0], list | tuple):
                sample["views"] = torch.stack([view[0] for views in outputs for view in views])
                sample["views_per_frame"] = torch.tensor(len(outputs[0]))
            else:
                sample["frames"] = torch.cat(outputs)
            return sample
        out = _one(self.transform(frames))  # clip-consistent over all frames of the plan
        if kind == "pairs":
            sample.update(anchor=out[0], positive=out[1], negative=out[2])
        elif kind == "tuples":
            sample["frames"] = out
        elif kind == "sequences":
            sample["clip"] = out.unflatten(0, (self.sampler.num_blocks, self.sampler.block_len))
            info = self.source.videos[plan.videos[0]]
            times = [info.frame_time(f) - info.offset for f in plan.frames[0]]
            sample["times"] = torch.tensor(times, dtype=torch.float32)
        elif kind == "clips":
            sample["clip"] = out.permute(1, 0, 2, 3)  # (C, T, H, W)
        else:
            raise ValueError(f"unknown sampler kind {kind!r}")
        return sample

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_readers"] = OrderedDict()  # decoders never cross processes
        return state


class EpochIndices(Sampler):
    """DataLoader sampler yielding `(epoch, i)` for i in order: the epoch travels with each index,
    so persistent DataLoader workers (which keep their open readers and frame indexes across
    epochs) serve the right epoch's plans. `set_epoch` selects it (Accelerate calls it)."""

    def __init__(self, length: int):
        self.length, self.epoch = length, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return ((self.epoch, i) for i in range(self.length))

    def __len__(self) -> int:
        return self.length


def _take(order: np.ndarray, pixels: torch.Tensor, frames) -> torch.Tensor:
    """The plan's `frames` out of `pixels`, the decoded sorted distinct frames `order`: the
    decoded tensor itself or a view of it where the plan asks for a run of them (no copy), else
    a gather."""
    positions = np.searchsorted(order, frames)
    if len(positions) == 0:
        return pixels[:0]
    start = int(positions[0])
    if np.array_equal(positions, np.arange(start, start + len(positions))):
        return pixels if len(positions) == len(order) else pixels[start : start + len(positions)]
    return pixels.index_select(0, torch.from_numpy(positions))


def decoder_threads_for(pixels: int) -> int:
    """Decoder threads for a video of `pixels` per frame. In a DataLoader worker 1: the workers
    are the parallelism, and threads on top would oversubscribe the cores. In the main process
    (0 workers, decoding alternates with training) up to 4, at most the cores, for frames of
    >= 0.4 megapixels: measured on 2 cores with `benchmarks/decode.py --threads 2`, 720p decoded
    1.4x faster with TorchCodec and PyAV (decord the same), while 320x240 decoded no faster with
    TorchCodec and 0.8x as fast with decord and PyAV."""
    if get_worker_info() is not None or pixels < 400_000:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _item_seed(seed: int, epoch: int, item: int) -> int:
    return (seed * 1_000_003 + epoch) * 10_000_019 + item


def to_float(frames: torch.Tensor) -> torch.Tensor:
    """`uint8 (T, H, W, 3) -> float32 (T, 3, H, W)` in [0, 1]: the transform when none is given."""
    return frames.permute(0, 3, 1, 2).float().div_(255)


def _one(output) -> torch.Tensor:
    if isinstance(output, list | tuple):
        raise ValueError("this sampler kind needs a single-view transform (got one returning a list)")
    return output


def _read_image(path: str, size) -> torch.Tensor:
    """`uint8 (1, H, W, 3)`: an image file as a 1-frame clip."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2.functional import resize

    try:
        with Image.open(path) as image:
            pixels = torch.from_numpy(np.asarray(image.convert("RGB")).copy())
    except (OSError, UnidentifiedImageError) as error:
        # an open error, like a corrupt video's, so that `on_bad_video: skip` skips it
        raise VideoOpenError(path, "image", f"not a readable image ({error})") from error
    size = output_size(pixels.shape[0], pixels.shape[1], size)
    if size != tuple(pixels.shape[:2]):
        pixels = resize(pixels.permute(2, 0, 1), list(size), antialias=True).permute(1, 2, 0)
    return pixels[None]
