"""Data-path throughput: batch-level decoding against per-plan decoding and the raw decoders.

Per sampler kind, on the same plans, in one run, each path through a DataLoader with the same
number of worker processes (0: everything in this process; 2: two loader processes for every
path, the raw decoders included):

- `batch-level`: `PlanDataset` as training uses it (`__getitems__`: per video, the union of the
  batch's frames in one decode call), frames only laid out as `(T, C, H, W)` uint8 (no
  augmentation), so that decoding is what is compared;
- `per-plan`: the same dataset, one plan per call (`dataset[i]`: one decode call per video per plan);
- `raw <decoder>`: the decoder called directly once per video per plan, with its decoder kept open
  per video, as the dataset keeps its readers, one decoder thread like them: TorchCodec's
  `VideoDecoder.get_frames_at`, decord's `VideoReader.get_batch`, and PyAV through tempssl's
  PyAV reader (PyAV has no frame-index API);
- `pytorchvideo`: `EncodedVideo.get_clip` over each clip's time span (clips only; its PyAV
  decoder decodes every frame in the span);
- `+ transforms`: batch-level with the kind's training transforms (for reference).

All decode at the file's own size. The output ends with one line per kind (0 workers):
`<kind>: batch-level / fastest raw per-plan = R.RRx`.

    python benchmarks/loader.py                               # the built-in toy videos
    python benchmarks/loader.py --videos ~/.cache/tempssl-dev-videos/bigbuckbunny.mp4
    python benchmarks/loader.py --plans 256 --workers 0 2

`--videos` takes a file or a folder; for the multi-view kind each real video is used as the two
cameras of its own scene.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from tempssl.data.dataset import PlanDataset
from tempssl.data.sampling import build_sampler
from tempssl.data.sources import VideoSource, manifest, multiview_groups, unlabeled_folder
from tempssl.data.toy import toy_root
from tempssl.data.transforms import build_transform
from tempssl.video import available_backends, open_video

BATCH = 16
# kind -> (sampler arguments sized for short videos, the argument that sets the plan count,
# training transform); multi-view blocks are one batch of moments of one scene
KINDS = {
    "pairs": ({}, "samples_per_video", "clip"),
    "multiview": ({"moments_per_scene": BATCH, "min_gap": 0.1}, "blocks_per_scene", "clip"),
    "tuples": ({"window": 30, "outer_gap": 5}, "samples_per_video", "clip"),
    "sequences": ({"num_blocks": 4, "block_len": 4, "stride": 2}, "samples_per_video", "clip"),
    "frames": ({}, "num_plans", "simclr"),
    "clips": ({"num_frames": 8, "stride": 4}, "clips_per_video", "clip"),
}


def channels_first(frames: torch.Tensor) -> torch.Tensor:
    """`uint8 (T, H, W, 3) -> uint8 (T, 3, H, W)`: the dataset's layout, no augmentation."""
    return frames.permute(0, 3, 1, 2)


class PerPlan(Dataset):
    """The dataset without `__getitems__`: the DataLoader then decodes one plan per call."""

    def __init__(self, dataset: PlanDataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict:
        return self.dataset[i]


class RawPlans(Dataset):
    """Each plan's frames straight from one decoder: one call per video per plan, decoders kept
    open per video (opened in the process that uses them)."""

    def __init__(self, source: VideoSource, plans: list, decoder: str):
        self.paths = [video.path for video in source.videos]
        self.plans, self.decoder = plans, decoder
        self._open: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, i: int) -> list[torch.Tensor]:
        plan = self.plans[i]
        return [self._decode(v, list(f)) for v, f in zip(plan.videos, plan.frames, strict=True)]

    def _decode(self, video: int, frames: list[int]) -> torch.Tensor:
        if video not in self._open:
            self._open[video] = _open_raw(self.paths[video], self.decoder)
        decoder = self._open[video]
        if self.decoder == "torchcodec":
            return decoder.get_frames_at(frames).data
        if self.decoder == "decord":
            return torch.from_numpy(decoder.get_batch(frames).asnumpy())
        return decoder.get_frames(frames)


class PytorchvideoClips(Dataset):
    """pytorchvideo's `EncodedVideo.get_clip` over each clip plan's time span (start of its first
    frame to the end of its last), then the plan's frames taken from the decoded span."""

    def __init__(self, source: VideoSource, plans: list):
        self.videos, self.plans = source.videos, plans
        self._open: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, i: int) -> torch.Tensor:
        from pytorchvideo.data.encoded_video import EncodedVideo

        plan = self.plans[i]
        (video,), (frames,) = plan.videos, plan.frames
        if video not in self._open:
            self._open[video] = EncodedVideo.from_path(self.videos[video].path, decoder="pyav")
        fps = self.videos[video].fps
        clip = self._open[video].get_clip(frames[0] / fps, (frames[-1] + 1) / fps)["video"]
        step = max(1, (frames[-1] - frames[0]) // max(len(frames) - 1, 1))
        return clip[:, ::step]


def _open_raw(path: str, decoder: str):
    if decoder == "torchcodec":
        from torchcodec.decoders import VideoDecoder

        return VideoDecoder(path, seek_mode="exact", dimension_order="NHWC", num_ffmpeg_threads=1)
    if decoder == "decord":
        import decord

        return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)  # as tempssl's readers
    return open_video(path, backend="pyav")


def rate(dataset: Dataset, workers: int, per_item: bool = False) -> float:
    """Plans/s through a DataLoader of batches of `BATCH`, in the steady state of training: the
    second pass over the plans, with persistent workers, so that every path has its decoders
    open and its indexes built (the first pass, untimed, opens them)."""
    collate = (lambda items: items) if per_item else None
    loader = DataLoader(dataset, batch_size=BATCH, num_workers=workers, collate_fn=collate,
                        persistent_workers=workers > 0)  # fmt: skip
    for _ in loader:
        pass
    start, seen = time.perf_counter(), 0
    for batch in loader:
        seen += len(batch) if per_item else len(batch["label"])
    return seen / (time.perf_counter() - start)


def sources(videos: str | None) -> tuple[str, VideoSource, VideoSource]:
    """(description, single-view source, multi-view source)."""
    if videos is None:
        root = toy_root()
        flat = manifest(root / "train.csv", label_column="action", progress=False)
        return f"toy videos {root}", flat, multiview_groups(root / "train", progress=False)
    path = Path(videos).expanduser()
    flat = unlabeled_folder(path.parent if path.is_file() else path, progress=False)
    if path.is_file():
        flat = VideoSource([v for v in flat.videos if Path(v.path) == path], [], path)
    # each real video as the two cameras of its own scene
    views = [
        dataclasses.replace(v, group=Path(v.path).stem, view=name)
        for v in flat.videos
        for name in ("cam0", "cam1")
    ]
    return f"{videos} ({len(flat)} videos)", flat, VideoSource(views, [], flat.root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", help="a real video file or folder (default: the toy videos)")
    parser.add_argument("--plans", type=int, default=128, help="plans timed per kind")
    parser.add_argument("--size", type=int, default=64, help="output size of the transforms row")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    args = parser.parse_args()
    described, flat, multi = sources(args.videos)
    decoders = [d for d in ("torchcodec", "decord", "pyav") if d in available_backends()]
    print(f"{described}; {args.plans} plans per kind, batches of {BATCH}, decoders {decoders}\n")
    columns = [
        "batch-level",
        "per-plan",
        *(f"raw {d}" for d in decoders),
        "pytorchvideo",
        "+ transforms",
    ]
    print(f"| kind | workers | {' | '.join(columns)} | batch-level / fastest raw |")
    print("|---|---:|" + "---:|" * (len(columns) + 1))
    summary = {}
    for kind in args.kinds:
        sampler_args, count, transform = KINDS[kind]
        source = multi if kind == "multiview" else flat
        units = len({v.group for v in source.videos}) if kind == "multiview" else len(source)
        per_unit = -(-args.plans // units)
        if kind == "multiview":
            per_unit = -(-per_unit // BATCH)  # blocks of BATCH moments
        elif count == "num_plans":
            per_unit = args.plans  # the frame sampler's count is for the whole source
        sampler = build_sampler(kind, source.videos, **sampler_args, **{count: per_unit})
        plans = sampler.plans(0)[: args.plans // BATCH * BATCH]  # time exactly these plans
        augment, fixed = build_transform(transform, size=args.size), _Fixed(sampler, plans)

        def fresh(transform=channels_first, source=source, fixed=fixed):
            """A new dataset: no path inherits another's open decoders."""
            return PlanDataset(source, fixed, transform, max_open_readers=100_000)  # as raw: all

        for workers in args.workers:
            rates = {"batch-level": rate(fresh(), workers), "per-plan": rate(PerPlan(fresh()), workers)}
            for d in decoders:
                rates[f"raw {d}"] = rate(RawPlans(source, plans, d), workers, per_item=True)
            # pytorchvideo's PyAV decoding crashes in forked DataLoader workers here: 0 only
            if kind == "clips" and workers == 0 and _has_pytorchvideo():
                rates["pytorchvideo"] = rate(PytorchvideoClips(source, plans), workers, per_item=True)
            rates["+ transforms"] = rate(fresh(augment), workers)
            fastest = max(rates[f"raw {d}"] for d in decoders)
            ratio = rates["batch-level"] / fastest
            cells = [f"{rates[c]:.0f}" if c in rates else "-" for c in columns]
            print(f"| {kind} | {workers} | {' | '.join(cells)} | {ratio:.2f}x |", flush=True)
            summary.setdefault(kind, ratio)
    print("\nplans/s; the ratio: batch-level decoding over the fastest raw decoder called per plan,")
    print("same plans, same number of processes.\n")
    for kind, ratio in summary.items():
        print(f"{kind}: batch-level / fastest raw per-plan = {ratio:.2f}x")


@dataclasses.dataclass
class _Fixed:
    """A sampler that serves the given plans for every epoch (what is timed is decoding)."""

    sampler: object
    fixed: list

    def __post_init__(self):
        self.kind = self.sampler.kind
        self.__dict__.update({k: getattr(self.sampler, k) for k in ("num_blocks", "block_len")
                              if hasattr(self.sampler, k)})  # fmt: skip

    def __len__(self) -> int:
        return len(self.fixed)

    def plans(self, epoch: int) -> list:
        return self.fixed


def _has_pytorchvideo() -> bool:
    try:
        import pytorchvideo.data.encoded_video  # noqa: F401
    except Exception:
        return False
    return True


if __name__ == "__main__":
    main()
