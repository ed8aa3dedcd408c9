"""Train a self-supervised method: `accelerate launch tools/train.py CONFIG [key.sub=value ...]`.

With `data.root: null` (the default) it trains on the built-in toy videos, generated on first use.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from tempssl.config import ConfigError, load_config
from tempssl.engine.trainer import train
from tempssl.schema import TrainConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="YAML config, e.g. configs/tcn.yaml")
    parser.add_argument("overrides", nargs="*", help="e.g. trainer.epochs=5 data.root=/data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("accelerate").setLevel(logging.WARNING)  # one line per checkpoint file
    try:
        cfg = load_config(TrainConfig, args.config, args.overrides)
        summary = train(cfg, run_name=args.config.stem)
    except (ConfigError, FileNotFoundError, ValueError) as error:  # bad config or data: no traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    if summary.get("interrupted"):  # SIGTERM / Ctrl-C: checkpoint written, exit as the signal would
        return 128 + int(signal.Signals[summary["interrupted"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
