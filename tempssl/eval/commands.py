"""The evaluation protocols as commands on embedding folders: what `tools/evaluate.py` calls.

Every command reads embedding folders (`tempssl.eval.labelled`), runs one protocol (optionally on a
baseline's folders too, e.g. the same videos embedded by the randomly initialized network), prints a
table and writes a JSON result atomically (`tempssl.eval.results`).

`order_command` is the exception: order verification scores a checkpoint's own head on tuples of
held-out videos, so it reads a checkpoint and videos instead of embedding folders. The per-frame
protocols (phase classification, progression, Kendall's tau) are in `tempssl.eval.frame_commands`.

Adding a protocol: a `<name>_command` function here (load, evaluate, `report`) and a subcommand in
`tools/evaluate.py` that parses its options and calls it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from tempssl.eval import alignment, knn, linear, plots, retrieval
from tempssl.eval.labelled import (
    DataSpec,
    LabelledSets,
    folder_baseline,
    folder_of,
    load_folder,
    load_labelled,
    require_split,
)
from tempssl.eval.results import Rows, mean, report

__all__ = [
    "DataSpec",
    "alignment_command",
    "knn_command",
    "linear_command",
    "order_command",
    "retrieval_command",
]


def knn_command(
    spec: DataSpec,
    ks: Sequence[int] = (20, 200),
    temperature: float = 0.07,
    out: str | Path | None = None,
    confusion: str | Path | None = None,
    baseline: Sequence[str | Path] | None = None,
    stream: TextIO | None = None,
) -> dict:
    """kNN classification (`tempssl.eval.knn.knn_evaluate`); `confusion`: a PNG of the first k's."""
    settings = {"ks": [int(k) for k in ks], "temperature": temperature}

    def evaluate(sets: LabelledSets) -> dict:
        require_split(sets, "knn")
        return knn.knn_evaluate(
            sets.train_x, sets.train_y, sets.test_x, sets.test_y, ks, temperature, sets.num_classes
        )

    def rows(result: dict) -> Rows:
        table = []
        for k, r in result["k"].items():
            clipped = "" if r["k_used"] == int(k) else f" (clipped to {r['k_used']})"
            table += [
                (f"k={k}{clipped} top-1", r["top1"]),
                (f"k={k}{clipped} top-5", r["top5"]),
                (f"k={k}{clipped} mean per-class", mean(r["per_class"])),
            ]
        return table

    document, sets = _run_labelled("knn", spec, evaluate, rows, settings, out, baseline, stream)
    if confusion is not None:
        k = str(settings["ks"][0])
        plots.plot_confusion(
            document["results"]["k"][k]["confusion"],
            sets.classes,
            confusion,
            title=f"kNN (k={k}) confusion",
        )
    return document


def linear_command(
    spec: DataSpec,
    optimizer: str = "lbfgs",
    weight_decays: Sequence[float] = linear.DEFAULT_WEIGHT_DECAYS,
    val_fraction: float = 0.2,
    out: str | Path | None = None,
    baseline: Sequence[str | Path] | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Linear probe (`tempssl.eval.linear.linear_probe`), seeded by `spec.seed`."""
    settings = {
        "optimizer": optimizer,
        "weight_decays": [float(d) for d in weight_decays],
        "val_fraction": val_fraction,
    }

    def evaluate(sets: LabelledSets) -> dict:
        require_split(sets, "linear")
        return linear.linear_probe(
            sets.train_x, sets.train_y, sets.test_x, sets.test_y, weight_decays, optimizer,
            val_fraction, spec.seed, sets.num_classes, groups=sets.train_groups,
        )  # fmt: skip

    def rows(result: dict) -> Rows:
        return [
            ("top-1", result["top1"]),
            ("top-5", result["top5"]),
            ("mean per-class", mean(result["per_class"])),
            ("weight decay (chosen)", f"{result['weight_decay']:g}"),
            ("val top-1 (chosen)", result["val_top1"].get(f"{result['weight_decay']:g}")),
        ]

    return _run_labelled("linear", spec, evaluate, rows, settings, out, baseline, stream)[0]


def retrieval_command(
    spec: DataSpec,
    ks: Sequence[int] = (1, 5, 10),
    out: str | Path | None = None,
    baseline: Sequence[str | Path] | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Class retrieval (`tempssl.eval.retrieval.retrieval_evaluate`): test queries against the train
    gallery, or leave-one-out within one folder when `spec.split` is None."""
    settings = {"ks": [int(k) for k in ks]}

    def evaluate(sets: LabelledSets) -> dict:
        # Other views of the query's scene are excluded within one folder only: scene names of
        # two folders may repeat without being the same scene (and a split keeps scenes whole).
        groups = sets.test_groups if sets.train_x is None else None
        return retrieval.retrieval_evaluate(
            sets.test_x, sets.test_y, sets.train_x, sets.train_y, ks, query_groups=groups
        )

    def rows(result: dict) -> Rows:
        return [(f"recall@{k}", v) for k, v in result["recall"].items()] + [("mAP", result["map"])]

    return _run_labelled("retrieval", spec, evaluate, rows, settings, out, baseline, stream)[0]


def alignment_command(
    embeddings: str | Path,
    metric: str = "cosine",
    out: str | Path | None = None,
    plot: str | Path | None = None,
    trajectories: str | Path | None = None,
    baseline: str | Path | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Multi-view alignment (`tempssl.eval.alignment`) of every scene of one embedding folder.

    `plot`: a PNG of the alignment curves; `trajectories`: a PNG of the PCA trajectories of the
    first videos' frame embeddings.
    """
    main = load_folder(embeddings)
    alignments = alignment.align_scenes(main, metric)
    document = {
        "protocol": "alignment",
        "inputs": {"embeddings": str(folder_of(embeddings)), "videos": len(main)},
        "settings": {"metric": metric},
        "results": alignment.summarize(alignments),
    }
    if baseline is not None:
        document["baseline"] = folder_baseline(
            baseline, main, lambda other: alignment.summarize(alignment.align_scenes(other, metric))
        )

    def rows(result: dict) -> Rows:
        return [
            ("error (frames of B)", result["error_frames"]),
            ("error (seconds)", result["error_seconds"]),
            ("Kendall's tau", result["kendall_tau"]),
            ("view pairs", result["num_pairs"]),
        ]

    report(document, rows, out or folder_of(embeddings) / "alignment.json", stream)
    if plot is not None or trajectories is not None:
        if plot is not None:
            plots.plot_alignment(alignments, plot)
        if trajectories is not None:
            names = ["/".join(Path(p).parts[-2:]) for p in main.paths]  # e.g. scene_0001/view0.mp4
            plots.plot_trajectories(main.frame_embeddings, trajectories, names, main.frame_times)
    return document


def order_command(
    checkpoint: str | Path,
    videos: str,
    layout: str = "auto",
    tuples_per_video: int = 10,
    seed: int = 0,
    window: int | None = None,
    outer_gap: int | None = None,
    batch_size: int = 64,
    num_workers: int = 2,
    out: str | Path | None = None,
    baseline: str | Path | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
) -> dict:
    """Order-verification accuracy (`tempssl.eval.order`) of a checkpoint on held-out `videos`.

    `baseline`: "random" (the run's network before training) or another checkpoint, scored on
    the same tuples. Default `out`: `order.json` in the run folder.
    """
    # Only this protocol reads a checkpoint and videos: the network and decoding stack (methods,
    # models, torchvision, the video backends) loads here, so the commands that read embedding
    # folders start without it.
    import torch

    from tempssl.build import initial_model
    from tempssl.data.sampling import TupleSampler
    from tempssl.data.sources import load_source
    from tempssl.eval.checkpoints import find_config, load_method
    from tempssl.eval.order import order_accuracy, order_tuples

    device = "cuda" if torch.cuda.is_available() else "cpu"
    method, cfg, resolved = load_method(checkpoint, device=device)
    source = load_source(videos, layout, progress=progress)
    tuples = order_tuples(source, cfg, tuples_per_video, seed, window, outer_gap)

    # the share of ordered tuples the head trained on: the run's, else TupleSampler's default
    trained_prior = inspect.signature(TupleSampler).parameters["positive_fraction"].default
    if cfg.sampler.name == "tuples":
        trained_prior = cfg.sampler.args.get("positive_fraction", trained_prior)

    def evaluate(model) -> dict:
        return order_accuracy(model, tuples, batch_size, num_workers, device, progress, trained_prior)

    sampler = tuples.sampler
    document = {
        "protocol": "order",
        "inputs": {"checkpoint": str(resolved), "videos": str(videos)},
        "settings": {
            "tuples_per_video": tuples_per_video,
            "seed": seed,
            "window": sampler.window,
            "outer_gap": sampler.outer_gap,
            "accept_reversed": sampler.accept_reversed,
            "positive_fraction": sampler.positive_fraction,
        },
        "results": evaluate(method),
    }
    if baseline is not None:
        if str(baseline) == "random":
            other, name = initial_model(cfg), "random init"
        else:
            other, _, other_path = load_method(baseline, device=device)
            name = str(other_path)
        document["baseline"] = {"inputs": {"checkpoint": name}, "results": evaluate(other)}

    def rows(result: dict) -> Rows:
        return [
            ("accuracy", result["accuracy"]),
            ("balanced accuracy", result["balanced_accuracy"]),
            (
                f"balanced accuracy, threshold for the training prior {trained_prior}",
                result["balanced_accuracy_prior_corrected"],
            ),
            ("ROC-AUC", result["roc_auc"]),
            ("ordered tuples: accuracy", result["ordered_accuracy"]),
            ("shuffled tuples: accuracy", result["shuffled_accuracy"]),
            ("tuples", result["tuples"]),
            ("videos (too short: skipped)", f"{result['videos']} ({result['skipped_videos']})"),
        ]

    report(document, rows, out or find_config(resolved).parent / "order.json", stream, "trained")
    return document


def _run_labelled(
    protocol: str,
    spec: DataSpec,
    evaluate: Callable[[LabelledSets], dict],
    rows: Callable[[dict], Rows],
    settings: dict,
    out: str | Path | None,
    baseline: Sequence[str | Path] | None,
    stream: TextIO | None,
) -> tuple[dict, LabelledSets]:
    sets = load_labelled(spec)
    document = {
        "protocol": protocol,
        "inputs": sets.inputs,
        "settings": settings,
        "results": evaluate(sets),
    }
    if baseline is not None:
        baseline_spec = spec.with_folders(baseline)
        baseline_sets = load_labelled(baseline_spec, like=sets.sources)
        document["baseline"] = {"inputs": baseline_sets.inputs, "results": evaluate(baseline_sets)}
    report(document, rows, out or spec.default_out(protocol), stream)
    return document, sets
