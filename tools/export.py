"""Export a trained backbone as plain weights: `python tools/export.py --checkpoint RUN --out FILE`.

RUN is a run folder (`runs/<name>/<time>`, its latest checkpoint), its `checkpoints/` folder or a
`checkpoints/step_*` folder. ResNets load with `strict=True` into `torchvision.models.resnet*()`;
a card `<FILE>.md` describing the training is written next to the weights.

    python tools/export.py --checkpoint runs/tcn/20250101-120000 --out resnet18_tcn.safetensors
    python tools/export.py --checkpoint runs/tcn/20250101-120000 --out resnet18_tcn.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tempssl.config import ConfigError
from tempssl.eval.checkpoints import CheckpointError
from tempssl.eval.export import EXPORTERS, FORMATS, ExportError, export_backbone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint", required=True, type=Path, help="run folder, checkpoints/ folder or step_* folder"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="file to write, e.g. resnet18_tcn.safetensors (or .pt)"
    )
    parser.add_argument(
        "--format",
        choices=sorted(FORMATS),
        help="safetensors (default) or pt (torch.save); by default chosen by the --out suffix",
    )
    parser.add_argument(
        "--config", type=Path, help="the run's config.yaml (default: found in the run folder)"
    )
    parser.add_argument("--device", default="cpu", help="where to load the checkpoint (default: cpu)")
    parser.epilog = f"supported backbones: {', '.join(EXPORTERS.names())}"
    args = parser.parse_args(argv)
    try:
        result = export_backbone(
            args.checkpoint, args.out, format=args.format, device=args.device, config=args.config
        )
    except (FileNotFoundError, CheckpointError, ConfigError, ExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {result.path} ({result.format}, {result.num_tensors} tensors): the {result.backbone} "
        f"backbone of {result.method}, {result.num_parameters / 1e6:.2f}M parameters"
    )
    print(f"  loads with strict=True into {result.target} (checked: same features)")
    print(f"  card: {result.card}")
    print(f"  from: {result.checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
