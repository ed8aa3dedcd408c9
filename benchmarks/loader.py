"""Data-path throughput: `PlanDataset` + DataLoader against decoding the same frames directly.

For each sampler kind this measures, in the same run: the raw decode of every plan's frames (one
`open_video(...).get_frames` per video per plan, the same backend, no dataset, no transforms, one
process), then the dataset with transforms on through a DataLoader with 0 and 2 workers. It prints
samples/s and the ratio to the raw decode (goal: >= 0.8 with transforms on).

    python benchmarks/loader.py                     # the built-in toy videos
    python benchmarks/loader.py --plans 400 --size 112
    python benchmarks/loader.py --video bigbuckbunny.mp4   # + decode-time resize on a real file

With `--video`, it also times the dataset on that one file with frames decoded at the native size
against `data.decode_size: auto` (short side `ceil(size * 8 / 7)`), alternating the two in rounds.
"""

from __future__ import annotations

import argparse
import time

from torch.utils.data import DataLoader

from tempssl.data.dataset import PlanDataset
from tempssl.data.metadata import probe
from tempssl.data.sampling import build_sampler
from tempssl.data.sources import VideoInfo, VideoSource, manifest, multiview_groups
from tempssl.data.toy import toy_root
from tempssl.data.transforms import build_transform, decode_size_for
from tempssl.video import open_video
from tempssl.video.reader import output_size

# kind -> (sampler arguments sized for the toy's 40-frame videos, transform)
KINDS = {
    "pairs": ({}, "clip"),
    "multiview": ({"moments_per_scene": 4}, "clip"),
    "tuples": ({"window": 30, "outer_gap": 5}, "clip"),
    "sequences": ({"num_blocks": 4, "block_len": 4, "stride": 2}, "clip"),
    "frames": ({}, "simclr"),
    "clips": ({"num_frames": 8, "stride": 4}, "clip"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=256, help="plans timed per kind")
    parser.add_argument("--size", type=int, default=64, help="transform output size")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--video", help="a real video for the decode-size comparison")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (--video)")
    args = parser.parse_args()
    if args.video:
        decode_size_comparison(args)

    root = toy_root()
    flat = manifest(root / "train.csv", label_column="action", progress=False)
    groups = multiview_groups(root / "train", progress=False)
    print(f"toy videos: {root} ({len(flat)} videos); {args.plans} plans per kind, transforms on\n")
    print("| kind | raw decode samples/s | 0 workers | ratio | 2 workers | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, (sampler_args, transform_name) in KINDS.items():
        source = groups if kind == "multiview" else flat
        sampler = build_sampler(kind, source.videos, **sampler_args)
        plans = sampler.plans(0)[: args.plans]
        raw = raw_decode_rate(source, plans, args.backend)
        transform = build_transform(transform_name, size=args.size)
        dataset = PlanDataset(source, sampler, transform, backend=args.backend)
        rates = [loader_rate(dataset, len(plans), workers, args) for workers in (0, 2)]
        print(
            f"| {kind} | {raw:.0f} | {rates[0]:.0f} | {rates[0] / raw:.2f} | "
            f"{rates[1]:.0f} | {rates[1] / raw:.2f} |"
        )
    print("\nratio: dataset samples/s over the raw decode of the same frames (goal >= 0.8).")


# kind -> (sampler arguments, the argument that sets the plan count) for one real video (`--video`)
REAL_KINDS = {
    "pairs": ({}, "samples_per_video"),
    "clips": ({"num_frames": 8, "stride": 4}, "clips_per_video"),
    "frames": ({}, "num_plans"),
}


def decode_size_comparison(args) -> None:
    """Dataset samples/s on one real file: native-size decoding vs `decode_size: auto`."""
    meta = probe(args.video)
    if "error" in meta:
        raise SystemExit(f"{args.video}: {meta['error']}")
    source = VideoSource([VideoInfo(path=str(args.video), **meta)], [], args.video)
    auto = decode_size_for(args.size)
    print(
        f"{args.video}: {meta['width']}x{meta['height']}, {meta['num_frames']} frames; crops of "
        f"{args.size} px; auto decodes at short side {auto}; {args.plans} plans per row, 0 workers\n"
    )
    native_hw = (meta["height"], meta["width"])
    auto_hw = output_size(*native_hw, auto)
    print(
        f"decoded frame: {native_hw[1]}x{native_hw[0]} = {3 * native_hw[0] * native_hw[1] / 1e6:.2f} MB "
        f"native, {auto_hw[1]}x{auto_hw[0]} = {3 * auto_hw[0] * auto_hw[1] / 1e6:.3f} MB auto\n"
    )
    print("| kind | native decode samples/s | auto decode samples/s | speed-up |")
    print("|---|---:|---:|---:|")
    for kind, (sampler_args, count) in REAL_KINDS.items():
        sampler = build_sampler(kind, source.videos, **sampler_args, **{count: args.plans})
        transform = build_transform("simclr" if kind == "frames" else "clip", size=args.size)
        seconds = {None: 0.0, auto: 0.0}
        for _ in range(args.rounds):  # alternate, so that drifts of a noisy machine hit both
            for size in seconds:
                dataset = PlanDataset(source, sampler, transform, backend=args.backend, decode_size=size)
                start = time.perf_counter()
                loader_rate(dataset, len(sampler), 0, args)
                seconds[size] += time.perf_counter() - start
        native, resized = (args.rounds * len(sampler) / seconds[size] for size in (None, auto))
        print(f"| {kind} | {native:.0f} | {resized:.0f} | {resized / native:.2f}x |")
    print()


def raw_decode_rate(source, plans, backend: str) -> float:
    """Plans/s decoding each plan's frames with a fresh reader per video, nothing else."""
    start = time.perf_counter()
    for plan in plans:
        for video, frames in zip(plan.videos, plan.frames, strict=True):
            with open_video(source.videos[video].path, backend=backend) as reader:
                reader.get_frames(list(frames))
    return len(plans) / (time.perf_counter() - start)


def loader_rate(dataset: PlanDataset, num_plans: int, workers: int, args) -> float:
    """Samples/s through a DataLoader (worker start-up included, as in training)."""
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=workers)
    start, seen = time.perf_counter(), 0
    for batch in loader:
        seen += len(batch["label"])
        if seen >= num_plans:
            break
    return seen / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
