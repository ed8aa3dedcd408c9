"""Evaluate embedding folders (written by tools/extract.py): kNN, linear probe, retrieval, alignment,
the per-frame protocols (phase classification, progression, Kendall's tau); and order verification
of an order method's checkpoint.

python tools/evaluate.py knn --train emb/train --test emb/val --k 20 200 --confusion confusion.png
python tools/evaluate.py knn --embeddings emb/ucf101 --split 0.5 --seed 0
python tools/evaluate.py linear --train emb/train --test emb/val --optimizer lbfgs
python tools/evaluate.py retrieval --embeddings emb/val --ks 1 5 10        # leave-one-out
python tools/evaluate.py alignment --embeddings emb/val_frames --plot curve.png
python tools/evaluate.py knn --train emb/train --test emb/val --baseline emb/train_rand emb/val_rand
python tools/evaluate.py knn --train emb/train --test emb/val --baseline random   # extracted here
python tools/evaluate.py order --checkpoint runs/shuffle_learn/<time> --videos toy:val --baseline random
python tools/evaluate.py phase --train emb/val_frames --test emb/test_frames --shots 1 5 \
    --baseline random
python tools/evaluate.py progression --train emb/val_frames --test emb/test_frames --plot progress.png
python tools/evaluate.py kendall --embeddings emb/test_frames --plot taus.png --baseline random

Each prints a table and writes a JSON result (--out; default <embeddings or test folder>/<name>.json).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tempssl.data.sources import LAYOUTS
from tempssl.eval import commands, frame_commands
from tempssl.eval.labelled import DataSpec
from tempssl.eval.linear import DEFAULT_WEIGHT_DECAYS
from tempssl.eval.perframe import DEFAULT_ALPHAS, FEW_SHOT_WEIGHT_DECAY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="PROTOCOL")
    for name, (add_arguments, _, summary) in SUBCOMMANDS.items():
        add_arguments(subparsers.add_parser(name, help=summary, description=summary))
    args = parser.parse_args(argv)
    try:
        random = args.baseline in (["random"], Path("random"), "random")
        if random and args.command != "order":  # order scores the random network itself
            args.baseline = _random_baseline(args)
        SUBCOMMANDS[args.command][1](args)
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _order_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="run folder or checkpoints/step_* folder (an order method)"
    )
    parser.add_argument(
        "--videos", required=True, help="held-out videos: folder, CSV manifest, or toy:<split>"
    )
    parser.add_argument("--layout", default="auto", choices=LAYOUTS)
    parser.add_argument("--tuples-per-video", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="which tuples (the same for --baseline)")
    parser.add_argument(
        "--window", type=int, help="tau_max: largest outer-frame distance (default: the run's)"
    )
    parser.add_argument(
        "--outer-gap", type=int, help="tau_min: odd frame's least distance (default: run's)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    _common_arguments(parser, None, "'random' (the run's network before training) or another checkpoint")


def _order(args: argparse.Namespace) -> None:
    commands.order_command(
        args.checkpoint, args.videos, args.layout, args.tuples_per_video, args.seed, args.window,
        args.outer_gap, args.batch_size, args.workers, args.out, args.baseline, not args.quiet,
    )  # fmt: skip


def _random_baseline(args: argparse.Namespace):
    """`--baseline random`: the run's random-init network on the same videos (extracted once)."""
    from tempssl.eval.extract import random_init_baseline

    if args.command in ("alignment", "kendall"):
        return random_init_baseline(args.embeddings)
    folders = [args.embeddings] if args.embeddings is not None else [args.train, args.test]
    return [random_init_baseline(folder) for folder in folders if folder is not None]


def _data_arguments(parser: argparse.ArgumentParser, split: float | None) -> None:
    data = parser.add_argument_group("data (either --embeddings, or --train and --test)")
    data.add_argument(
        "--embeddings", type=Path, metavar="EMB", help="one embedding folder (or its embeddings.npz)"
    )
    data.add_argument(
        "--train", type=Path, metavar="EMB", help="training (bank / gallery) embedding folder"
    )
    data.add_argument("--test", type=Path, metavar="EMB", help="test (query) embedding folder")
    held_out = "held-out test fraction of --embeddings, stratified by class, scenes kept whole"
    held_out += f" (default: {split})" if split is not None else " (default: none: leave-one-out)"
    data.add_argument("--split", type=float, help=held_out)
    parser.set_defaults(default_split=split)
    data.add_argument("--seed", type=int, default=0, help="seeds the split (and the linear probe)")
    baseline = "'random' (the run's network before training, extracted on the same videos) or the same "
    baseline += "videos embedded otherwise (e.g. extract --random-init), reported alongside: "
    _common_arguments(
        parser, "+", baseline + "one folder with --embeddings, TRAIN TEST with --train/--test"
    )


def _common_arguments(parser: argparse.ArgumentParser, nargs: str | None, baseline: str) -> None:
    parser.add_argument(
        "--out", type=Path, metavar="JSON", help="result file (default: <EMB>/<name>.json)"
    )
    parser.add_argument("--baseline", nargs=nargs, metavar="EMB", help=baseline)


def _spec(args: argparse.Namespace) -> DataSpec:
    split = args.default_split if args.embeddings is not None and args.split is None else args.split
    return DataSpec(args.embeddings, args.train, args.test, split, args.seed)


def _knn_arguments(parser: argparse.ArgumentParser) -> None:
    _data_arguments(parser, split=0.5)
    parser.add_argument("--k", type=int, nargs="+", default=[20, 200], help="neighbourhood sizes")
    parser.add_argument("--temperature", type=float, default=0.07, help="vote weights exp(sim / T)")
    parser.add_argument(
        "--confusion", type=Path, metavar="PNG", help="PNG confusion matrix of the first k"
    )


def _knn(args: argparse.Namespace) -> None:
    commands.knn_command(_spec(args), args.k, args.temperature, args.out, args.confusion, args.baseline)


def _linear_arguments(parser: argparse.ArgumentParser) -> None:
    _data_arguments(parser, split=0.5)
    parser.add_argument(
        "--optimizer",
        choices=["lbfgs", "sgd"],
        default="lbfgs",
        help="lbfgs: full batch (default); sgd: mini-batches, for large sets",
    )
    parser.add_argument(
        "--weight-decays",
        type=float,
        nargs="+",
        default=list(DEFAULT_WEIGHT_DECAYS),
        help="L2 penalties to choose from on a validation split (default 1e-6 .. 1e-1)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.2, help="of train, to choose the decay")


def _linear(args: argparse.Namespace) -> None:
    commands.linear_command(
        _spec(args), args.optimizer, args.weight_decays, args.val_fraction, args.out, args.baseline
    )


def _retrieval_arguments(parser: argparse.ArgumentParser) -> None:
    _data_arguments(parser, split=None)
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10], help="recall@k cut-offs")


def _retrieval(args: argparse.Namespace) -> None:
    commands.retrieval_command(_spec(args), args.ks, args.out, args.baseline)


def _alignment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embeddings",
        type=Path,
        required=True,
        metavar="EMB",
        help="embedding folder with frame embeddings (extract --save-frames)",
    )
    parser.add_argument("--metric", choices=["cosine", "euclidean"], default="cosine")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="PNG of the alignment curves")
    parser.add_argument(
        "--trajectories", type=Path, metavar="PNG", help="PNG of a few videos' embedding trajectories"
    )
    _common_arguments(parser, None, "'random' (the run's network before training) or another folder")


def _alignment(args: argparse.Namespace) -> None:
    commands.alignment_command(
        args.embeddings, args.metric, args.out, args.plot, args.trajectories, args.baseline
    )


def _frame_data_arguments(parser: argparse.ArgumentParser) -> None:
    _data_arguments(parser, split=0.5)
    parser.add_argument(
        "--pooled",
        action="store_true",
        help="one fit for all videos (default, as TCC: one per action, the videos' class, averaged)",
    )
    parser.add_argument(
        "--frame-labels",
        type=Path,
        metavar="CSV",
        help="per-frame labels, columns path,frame,label[,progress] (default: frames.csv in the "
        "root of the videos the embeddings were extracted from, e.g. the toy dataset's)",
    )


def _phase_arguments(parser: argparse.ArgumentParser) -> None:
    _frame_data_arguments(parser)
    parser.add_argument(
        "--shots", type=int, nargs="*", default=[1], help="few-shot: labelled training videos (k)"
    )
    parser.add_argument("--draws", type=int, default=10, help="random draws of the k videos")
    parser.add_argument(
        "--weight-decays",
        type=float,
        nargs="+",
        default=list(DEFAULT_WEIGHT_DECAYS),
        help="L2 penalties to choose from on held-out training videos (default 1e-6 .. 1e-1)",
    )
    parser.add_argument(
        "--few-shot-weight-decay",
        type=float,
        default=FEW_SHOT_WEIGHT_DECAY,
        help=f"the few-shot probes' fixed L2 penalty (default {FEW_SHOT_WEIGHT_DECAY:g})",
    )
    parser.add_argument("--val-fraction", type=float, default=0.2, help="of train, to choose the decay")
    parser.add_argument(
        "--plot", type=Path, metavar="PNG", help="PNG of accuracy against labelled videos"
    )
    parser.add_argument("--confusion", type=Path, metavar="PNG", help="PNG phase confusion matrix")


def _phase(args: argparse.Namespace) -> None:
    frame_commands.phase_command(
        _spec(args), args.frame_labels, args.shots, args.draws, args.weight_decays,
        args.few_shot_weight_decay, args.val_fraction, args.pooled, args.out, args.plot,
        args.confusion, args.baseline,
    )  # fmt: skip


def _progression_arguments(parser: argparse.ArgumentParser) -> None:
    _frame_data_arguments(parser)
    parser.add_argument(
        "--alphas",
        type=float,
        nargs="+",
        default=list(DEFAULT_ALPHAS),
        help="ridge penalties to choose from on held-out training videos (default 1e-2 .. 1e4; "
        "one value: no choice; 0: least squares)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.2, help="of train, to choose alpha")
    parser.add_argument(
        "--plot", type=Path, metavar="PNG", help="PNG of predicted against true progress"
    )


def _progression(args: argparse.Namespace) -> None:
    frame_commands.progression_command(
        _spec(args),
        args.frame_labels,
        args.alphas,
        args.val_fraction,
        args.pooled,
        args.out,
        args.plot,
        args.baseline,
    )


def _kendall_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embeddings",
        type=Path,
        required=True,
        metavar="EMB",
        help="embedding folder with frame embeddings (extract --save-frames) of held-out videos",
    )
    parser.add_argument(
        "--metric",
        choices=["euclidean", "cosine"],
        default="euclidean",
        help="nearest frame by L2 distance (TCC's; default) or cosine similarity",
    )
    parser.add_argument("--plot", type=Path, metavar="PNG", help="PNG histogram of the pairs' taus")
    _common_arguments(parser, None, "'random' (the run's network before training) or another folder")


def _kendall(args: argparse.Namespace) -> None:
    frame_commands.kendall_command(args.embeddings, args.metric, args.out, args.plot, args.baseline)


# name -> (add its arguments, run it, one-line help). A new protocol adds one entry.
SUBCOMMANDS = {
    "knn": (_knn_arguments, _knn, "weighted kNN classification (cosine, Wu et al. 2018)"),
    "linear": (_linear_arguments, _linear, "linear probe on frozen embeddings"),
    "retrieval": (_retrieval_arguments, _retrieval, "video retrieval by class: recall@k, mAP"),
    "alignment": (_alignment_arguments, _alignment, "multi-view frame alignment (TCN)"),
    "order": (_order_arguments, _order, "order verification accuracy (shuffle-and-learn)"),
    "phase": (_phase_arguments, _phase, "per-frame phase classification, also few-shot (TCC)"),
    "progression": (_progression_arguments, _progression, "per-frame phase progression R^2 (TCC)"),
    "kendall": (_kendall_arguments, _kendall, "Kendall's tau of frame order across videos (TCC)"),
}


if __name__ == "__main__":
    sys.exit(main())
