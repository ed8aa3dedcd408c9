"""The per-frame protocols as commands on embedding folders (`tools/evaluate.py phase`, `progression`,
`kendall`).

Each reads folders extracted with `--save-frames` (`tempssl.eval.frame_labels` attaches the
per-frame labels), runs one protocol of `tempssl.eval.perframe` (optionally on a baseline's folders
of the same videos too), prints a table and writes a JSON result atomically
(`tempssl.eval.results`); the PNGs are optional.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from tempssl.eval import perframe, plots
from tempssl.eval.frame_labels import FrameSets, LabelledVideos, load_frame_sets, video_frames
from tempssl.eval.labelled import DataSpec, folder_baseline, folder_of, load_folder, scene_groups
from tempssl.eval.linear import DEFAULT_WEIGHT_DECAYS
from tempssl.eval.results import Rows, mean, report


def phase_command(
    spec: DataSpec,
    frame_labels: str | Path | None = None,
    shots: Sequence[int] = (1,),
    draws: int = 10,
    weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
    few_shot_weight_decay: float = perframe.FEW_SHOT_WEIGHT_DECAY,
    val_fraction: float = 0.2,
    pooled: bool = False,
    out: str | Path | None = None,
    plot: str | Path | None = None,
    confusion: str | Path | None = None,
    baseline: Sequence[str | Path] | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Phase classification (`perframe.phase_classification`), with every training video and with
    k of them (`perframe.few_shot_phase_classification`, one entry per k of `shots`).

    As in TCC, each action (the videos' class) gets its own probes and the accuracies are averaged
    over the actions (each action weighs the same; a few-shot draw's accuracy is the mean over
    actions of that draw's); `pooled`, or videos without class labels: one probe for all videos.

    `plot`: a PNG of accuracy against the number of labelled videos; `confusion`: a PNG of the
    all-videos probes' confusion matrix (summed over actions).
    """
    settings = {
        "shots": [int(k) for k in shots],
        "draws": draws,
        "weight_decays": [float(d) for d in weight_decays],
        "few_shot_weight_decay": few_shot_weight_decay,
        "val_fraction": val_fraction,
        "seed": spec.seed,
    }

    def evaluate_one(train: LabelledVideos, test: LabelledVideos, classes: int) -> dict:
        train_x, train_y, _, train_video = train.stacked()
        test_x, test_y, _, _ = test.stacked()
        result = perframe.phase_classification(
            train_x, train_y, test_x, test_y, classes, train_video, weight_decays, val_fraction,
            spec.seed,
        )  # fmt: skip
        result["few_shot"] = {}
        for k in shots:
            result["few_shot"][str(k)] = perframe.few_shot_phase_classification(
                train.frames, train.labels, test_x, test_y, classes, k, draws,
                few_shot_weight_decay, spec.seed,
            )  # fmt: skip
        result["num_train_videos"] = len(train)
        result["chance"] = float(np.bincount(test_y, minlength=classes).max() / len(test_y))
        return result

    def evaluate(sets: FrameSets) -> dict:
        per_action = _per_action(sets, pooled, lambda a, b: evaluate_one(a, b, len(sets.classes)))
        if len(per_action) == 1 and "" in per_action:
            return {**per_action[""], "actions": 1}
        results = list(per_action.values())
        few_shot = {}
        for k in results[0]["few_shot"]:
            by_draw = np.mean([r["few_shot"][k]["accuracies"] for r in results], axis=0)
            few_shot[k] = {
                "shots": int(k),
                "draws": draws,
                "accuracy_mean": float(by_draw.mean()),
                "accuracy_std": float(by_draw.std()),
                "accuracies": by_draw.tolist(),
            }
        phases = np.array([r["per_class"] for r in results], dtype=np.float64)  # None -> NaN
        return {
            "accuracy": float(np.mean([r["accuracy"] for r in results])),
            "per_class": [None if np.isnan(v).all() else float(np.nanmean(v)) for v in phases.T],
            "confusion": np.sum([r["confusion"] for r in results], axis=0),
            "few_shot": few_shot,
            "num_train_videos": len(sets.train),
            "chance": float(np.mean([r["chance"] for r in results])),
            "actions": len(results),
            "per_action": per_action,
        }

    def rows(result: dict) -> Rows:
        per = " per action" if result["actions"] > 1 else ""
        table: Rows = [
            (f"accuracy ({result['num_train_videos']} labelled videos)", result["accuracy"]),
            ("mean per-phase accuracy", mean(result["per_class"])),
        ]
        for k, few in result["few_shot"].items():
            table += [
                (f"{k}-shot{per} accuracy (mean of {few['draws']} draws)", few["accuracy_mean"]),
                (f"{k}-shot{per} accuracy (std)", few["accuracy_std"]),
            ]
        table.append(("majority phase (chance)", result["chance"]))
        table.append(("actions (probes fitted per action)", result["actions"]))
        return table

    document, sets = _run_frames(
        "phase", spec, frame_labels, False, evaluate, rows, settings, out, baseline, stream
    )
    if plot is not None:
        plots.plot_few_shot(_columns(document), plot)
    if confusion is not None:
        plots.plot_confusion(
            document["results"]["confusion"], sets.classes, confusion, title="phase confusion"
        )
    return document


def progression_command(
    spec: DataSpec,
    frame_labels: str | Path | None = None,
    alphas: Sequence[float] = perframe.DEFAULT_ALPHAS,
    val_fraction: float = 0.2,
    pooled: bool = False,
    out: str | Path | None = None,
    plot: str | Path | None = None,
    baseline: Sequence[str | Path] | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Phase progression (`perframe.progression_regression`): R^2 of each held-out frame's progress.

    Per action and averaged over the actions, as `phase_command` (`pooled`: one regression).
    `plot`: a PNG of predicted against true progress of the held-out frames.
    """
    settings = {"alphas": [float(a) for a in alphas], "val_fraction": val_fraction, "seed": spec.seed}

    def evaluate_one(train: LabelledVideos, test: LabelledVideos) -> dict:
        train_x, _, train_p, train_video = train.stacked()
        test_x, _, test_p, _ = test.stacked()
        result = perframe.progression_regression(
            train_x, train_p, test_x, test_p, alphas, train_video, val_fraction, spec.seed
        )
        result["true"] = test_p
        return result

    def evaluate(sets: FrameSets) -> dict:
        per_action = _per_action(sets, pooled, evaluate_one)
        if len(per_action) == 1 and "" in per_action:
            return {**per_action[""], "actions": 1}
        results = list(per_action.values())
        average = lambda key: float(np.mean([r[key] for r in results]))  # noqa: E731
        return {
            "r2": average("r2"),
            "train_r2": average("train_r2"),
            "mean_absolute_error": average("mean_absolute_error"),
            "predictions": np.concatenate([r["predictions"] for r in results]),
            "true": np.concatenate([r["true"] for r in results]),
            "num_train_frames": sum(r["num_train_frames"] for r in results),
            "num_test_frames": sum(r["num_test_frames"] for r in results),
            "actions": len(results),
            "per_action": {
                name: {k: v for k, v in r.items() if k not in ("predictions", "true")}
                for name, r in per_action.items()
            },
        }

    def rows(result: dict) -> Rows:
        mean_of = " (mean over actions)" if result["actions"] > 1 else ""
        return [
            (f"R^2 (held-out frames){mean_of}", result["r2"]),
            ("mean absolute error", result["mean_absolute_error"]),
            ("R^2 (training frames)", result["train_r2"]),
            ("frames (train / held out)", f"{result['num_train_frames']} / {result['num_test_frames']}"),
            ("actions (regressions fitted per action)", result["actions"]),
        ]

    document, _ = _run_frames(
        "progression", spec, frame_labels, True, evaluate, rows, settings, out, baseline, stream
    )
    if plot is not None:
        plots.plot_progression(
            {
                name: (result["true"], result["predictions"], result["r2"])
                for name, result in _columns(document).items()
            },
            plot,
        )
    return document


def kendall_command(
    embeddings: str | Path,
    metric: str = "euclidean",
    out: str | Path | None = None,
    plot: str | Path | None = None,
    baseline: str | Path | None = None,
    stream: TextIO | None = None,
) -> dict:
    """Kendall's tau (`perframe.kendall_tau_pairs`) over the pairs of videos of one embedding folder
    that share a class (the videos' labels, e.g. the toy `action`; all pairs when unlabelled) and
    not a scene (multi-view sources).

    `plot`: a PNG histogram of the pairs' taus.
    """
    main = load_folder(embeddings)

    def evaluate(data) -> dict:
        pairs = perframe.kendall_tau_pairs(
            video_frames(data, embeddings), np.asarray(data.labels), scene_groups(data), metric
        )
        if not pairs:
            raise ValueError(
                f"{folder_of(embeddings)}: no two videos of one class (from different scenes) to pair"
            )
        return {**perframe.summarize_taus(pairs), "pairs": pairs}

    labelled = bool((np.asarray(main.labels) >= 0).any())
    document = {
        "protocol": "kendall",
        "inputs": {
            "embeddings": str(folder_of(embeddings)),
            "videos": len(main),
            "paired by": "class" if labelled else "all videos (no labels)",
        },
        "settings": {"metric": metric},
        "results": evaluate(main),
    }
    if baseline is not None:
        document["baseline"] = folder_baseline(baseline, main, evaluate)

    def rows(result: dict) -> Rows:
        return [
            ("Kendall's tau (mean over pairs)", result["kendall_tau"]),
            ("Kendall's tau (median)", result["median"]),
            ("video pairs", result["num_pairs"]),
            ("pairs with tau undefined", result["num_undefined"]),
        ]

    report(document, rows, out or folder_of(embeddings) / "kendall.json", stream)
    if plot is not None:
        taus = {name: [p["tau"] for p in r["pairs"]] for name, r in _columns(document).items()}
        plots.plot_tau_histogram(taus, plot)
    return document


def _run_frames(
    protocol, spec, frame_labels, need_progress, evaluate, rows, settings, out, baseline, stream
) -> tuple[dict, FrameSets]:
    sets = load_frame_sets(spec, frame_labels, need_progress)
    document = {
        "protocol": protocol,
        "inputs": sets.inputs,
        "settings": settings,
        "results": evaluate(sets),
    }
    if baseline is not None:
        labels = sets.inputs["frame_labels"]
        other = load_frame_sets(spec.with_folders(baseline), labels, need_progress, like=sets.sources)
        document["baseline"] = {"inputs": other.inputs, "results": evaluate(other)}
    report(document, rows, out or spec.default_out(protocol), stream)
    return document, sets


def _per_action(sets: FrameSets, pooled: bool, evaluate) -> dict[str, dict]:
    """`{action: evaluate(train videos, test videos of the action)}` for the actions that have both
    train and test videos, or `{"": evaluate(all train, all test)}` when `pooled` or unlabelled."""
    actions = sorted((set(sets.train.actions) & set(sets.test.actions)) - {""})
    if pooled or not actions:
        return {"": evaluate(sets.train, sets.test)}
    return {name: evaluate(sets.train.of_action(name), sets.test.of_action(name)) for name in actions}


def _columns(document: dict) -> dict[str, dict]:
    """`{"embeddings": results, "baseline": results}` (the second only with a baseline)."""
    columns = {"embeddings": document["results"]}
    if "baseline" in document:
        columns["baseline"] = document["baseline"]["results"]
    return columns
