"""Reconstructions of held-out frames by a restoring method (MAE, ...): PSNR, SSIM and a PNG grid.

python tools/reconstruct.py --checkpoint runs/mae/<time> --videos toy:val --out recon/mae
python tools/reconstruct.py --checkpoint runs/mae/<time> --videos /data/held_out --count 32 --out recon

Writes OUT/reconstructions.png (one row per frame: the masked or corrupted input, the output with
the visible patches pasted in, the original) and OUT/reconstruction.json; with --baseline random
also the same network at random initialization, on the same frames and masks.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True, help="run folder or checkpoints/step_* folder")
    parser.add_argument("--videos", required=True, help="folder, CSV manifest, or toy:<split>")
    parser.add_argument("--out", required=True, type=Path, help="folder to write")
    parser.add_argument("--count", type=int, default=16, help="frames (one per video, spread evenly)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the masks / corruption")
    parser.add_argument("--baseline", choices=["random"], help="also the run's network before training")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    from PIL import Image

    from tempssl.build import initial_model
    from tempssl.data.sources import load_source
    from tempssl.eval.checkpoints import load_method
    from tempssl.eval.reconstruction import evaluate_reconstruction, held_out_frames

    try:
        method, cfg, checkpoint = load_method(args.checkpoint)
        if not hasattr(method, "reconstruct"):
            raise ValueError(
                f"method {cfg.method.name!r} does not reconstruct frames (restoring methods: mae, "
                "denoising, inpainting)"
            )
        source = load_source(args.videos, "auto", progress=not args.quiet)
        norm = cfg.transforms.normalization()
        frames = held_out_frames(source, args.count, cfg.transforms.size, **norm)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    metrics, grid = evaluate_reconstruction(method, frames, **norm, seed=args.seed)
    Image.fromarray(grid).save(args.out / "reconstructions.png")
    result = {
        "checkpoint": str(checkpoint),
        "videos": str(args.videos),
        "frames": len(frames),
        **metrics,
    }
    if args.baseline == "random":
        base, base_grid = evaluate_reconstruction(initial_model(cfg), frames, **norm, seed=args.seed)
        Image.fromarray(base_grid).save(args.out / "reconstructions_random_init.png")
        result["random_init"] = base
    (args.out / "reconstruction.json").write_text(json.dumps(result, indent=2))
    psnr, ssim = metrics["psnr"], metrics["ssim"]
    print(f"{len(frames)} frames of {args.videos}: PSNR {psnr:.2f} dB, SSIM {ssim:.3f}")
    if "random_init" in result:
        print(f"  random init: PSNR {base['psnr']:.2f} dB, SSIM {base['ssim']:.3f}")
    print(f"  grid: {args.out / 'reconstructions.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
