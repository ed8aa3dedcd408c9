"""Per-video embeddings from a trained checkpoint:

python tools/extract.py --checkpoint runs/tcn/<time> --videos /data/ucf101 --out emb/ucf101
python tools/extract.py --checkpoint runs/tcn/<time> --videos toy:val --out emb/val --save-frames
python tools/extract.py --checkpoint runs/cpc/<time> --videos toy:val --out emb/cpc --features context
python tools/extract.py --checkpoint runs/r3d/<time> --videos /data/ucf101 --out emb/r3d --clip-len 16 \
    --clip-stride 4 --windows 10        # a clip backbone: 10 clips of 16 frames per video, averaged
accelerate launch --multi_gpu --num_processes 8 tools/extract.py ...   # videos split over 8 GPUs
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from accelerate import Accelerator

from tempssl.data.sources import LAYOUTS, load_source
from tempssl.data.transforms import decode_size_for
from tempssl.eval.extract import (
    FEATURES,
    METHOD_FEATURES,
    POOLINGS,
    ExtractSettings,
    default_windows,
    extract_embeddings,
    window_embedder,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="run folder or checkpoints/step_* folder")
    parser.add_argument("--videos", required=True, help="folder, CSV manifest, or toy:<split>")
    parser.add_argument("--out", required=True, type=Path, help="embedding folder to write")
    parser.add_argument("--layout", default="auto", choices=LAYOUTS)
    parser.add_argument(
        "--label-column", default="label", help="manifest label column (toy: action|object)"
    )
    parser.add_argument(
        "--frames",
        "--windows",
        dest="frames",
        type=int,
        default=8,
        help="frames (or clips / sequences) per video, evenly spaced",
    )
    parser.add_argument(
        "--features",
        default="backbone",
        choices=FEATURES,
        help="backbone: the backbone's features; context: CPC/DPC's aggregated context of a "
        "sequence; embedding: the method's own per-frame embedding (TCN)",
    )
    parser.add_argument(
        "--clip-len", type=int, help="frames per clip (clip backbones; default: the run's clips)"
    )
    parser.add_argument("--clip-stride", type=int, help="frame step in a clip (default: the run's)")
    parser.add_argument("--pooling", default="mean", choices=POOLINGS)
    parser.add_argument("--save-frames", action="store_true", help="also keep per-frame embeddings")
    parser.add_argument("--size", type=int, help="frame size (default: the run's transforms.size)")
    parser.add_argument(
        "--decode-size",
        type=int,
        help="short side to decode at (default: the training rule, ceil(size * 8 / 7); 0: native)",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--chunk-videos", type=int, default=256, help="videos per saved (resumable) chunk"
    )
    parser.add_argument(
        "--random-init", action="store_true", help="the run's network before training (baseline)"
    )
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from tempssl.eval.checkpoints import load_method

    try:
        method, cfg, checkpoint = load_method(args.checkpoint)
        if args.random_init:
            from tempssl.build import initial_model

            method = initial_model(cfg)
        source = load_source(args.videos, args.layout, args.label_column, progress=not args.quiet)
        windows = default_windows(cfg, args.features, method.backbone, args.clip_len, args.clip_stride)
        size = args.size or cfg.transforms.size
        settings = ExtractSettings(
            frames_per_video=args.frames,
            pooling=args.pooling,
            save_frames=args.save_frames,
            size=size,
            **cfg.transforms.normalization(),
            decode_size=decode_size_for(size) if args.decode_size is None else args.decode_size or None,
            features=args.features,
            **windows,
        )
        model = method if args.features in METHOD_FEATURES else method.backbone
        window_embedder(model, settings)  # windows the model cannot take fail here, not later
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    accelerator = Accelerator()  # one process, or several under `accelerate launch`
    info = {
        "checkpoint": str(checkpoint),
        "weights": "random init" if args.random_init else "trained",
        "method": cfg.method.name,
        "backbone": cfg.model.backbone,
        "videos": str(args.videos),
        "layout": args.layout,
        "label_column": args.label_column,
    }
    result = extract_embeddings(
        model,
        source,
        args.out,
        settings,
        info=info,
        batch_size=args.batch_size,
        num_workers=args.workers,
        chunk_videos=args.chunk_videos,
        progress=not args.quiet,
        accelerator=accelerator,
    )
    if not accelerator.is_main_process:
        return 0
    skipped = len(result.info.get("unreadable", []))
    print(
        f"wrote {args.out}: {len(result)} videos x {result.embeddings.shape[1]} dims "
        f"({settings.pooling} of {settings.frames_per_video} {_windows(settings)})"
        + (f"; {skipped} unreadable videos skipped (listed in embeddings.json)" if skipped else "")
    )
    return 0


def _windows(settings: ExtractSettings) -> str:
    if settings.features == "context":
        blocks = settings.window_frames // settings.block_len
        return f"contexts of {blocks} blocks x {settings.block_len} frames"
    if settings.window_frames > 1:
        return f"clips of {settings.window_frames} frames at stride {settings.window_stride}"
    return "frames"


if __name__ == "__main__":
    sys.exit(main())
