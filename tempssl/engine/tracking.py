"""A run's metrics and images: `metrics.jsonl` always, plus Accelerate's experiment trackers
(`trainer.log_with`: TensorBoard by default; wandb, mlflow, aim, comet_ml, clearml, dvclive when
installed), main process only."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from accelerate.tracking import LOGGER_TYPE_TO_CLASS

log = logging.getLogger(__name__)

DEFAULT_TRACKER = "tensorboard"


class RunLog:
    """Writes each log step's metrics as one JSON line of `run_dir/metrics.jsonl` and to the
    trackers; images (reconstructions) go to `run_dir/images/` as PNG and to the trackers.

    Args:
        run_dir: the run folder (TensorBoard writes to `run_dir/tensorboard`).
        main: only the main process writes.
        log_with: tracker names (`accelerate.tracking.LOGGER_TYPE_TO_CLASS`).
        run_name: the trackers' run / project name.
        config: the run's config (nested dict), stored by each tracker as flat `a.b.c` keys.

    Raises:
        ValueError: an unknown tracker name, or a named tracker other than the default whose
            package is not installed (the message names `trainer.log_with` and the package).
    """

    def __init__(
        self,
        run_dir: Path,
        main: bool,
        log_with: list[str] | tuple[str, ...] = (DEFAULT_TRACKER,),
        run_name: str = "run",
        config: dict | None = None,
    ):
        self.main, self.last = main, {}
        self.run_dir, self.path = run_dir, run_dir / "metrics.jsonl"
        self.trackers = [] if not main else _start(list(log_with), run_name, run_dir, config or {})

    def write(self, step: int, metrics: dict[str, float]) -> None:
        if not self.main:
            return
        self.last.update(metrics)
        with self.path.open("a") as handle:
            handle.write(json.dumps({"step": step, **metrics}) + "\n")
        for tracker in self.trackers:
            tracker.log(metrics, step=step)

    def images(self, step: int, name: str, grid: np.ndarray) -> Path | None:
        """One image `uint8 (H, W, 3)` as `images/<name>_step<step>.png` and to the trackers."""
        if not self.main:
            return None
        from PIL import Image

        folder = self.run_dir / "images"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}_step{step:08d}.png"
        Image.fromarray(grid).save(path)
        for tracker in self.trackers:
            if tracker.name == "tensorboard":
                tracker.log_images({name: grid[None]}, step=step, dataformats="NHWC")
            elif hasattr(tracker, "log_images"):
                tracker.log_images({name: [grid]}, step=step)
        return path

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.finish()
        self.trackers = []


def _start(names: list[str], run_name: str, run_dir: Path, config: dict) -> list:
    trackers = []
    for name in names:
        if name not in LOGGER_TYPE_TO_CLASS:
            raise ValueError(
                f"config key 'trainer.log_with': unknown tracker {name!r}; choose from "
                f"{sorted(LOGGER_TYPE_TO_CLASS)} (or [] for metrics.jsonl only)"
            )
        cls = LOGGER_TYPE_TO_CLASS[name]
        try:
            if name == "tensorboard":  # events in run_dir/tensorboard (it joins dir and name)
                tracker = cls(name, run_dir)
            elif cls.requires_logging_directory:
                tracker = cls(run_name, run_dir / name)
            else:
                tracker = cls(run_name)
            tracker.start()
        except (ImportError, ModuleNotFoundError) as error:
            if name == DEFAULT_TRACKER:  # the default: go on without it
                log.info("%s is not installed; metrics go to %s only", name, run_dir / "metrics.jsonl")
                continue
            raise ValueError(
                f"config key 'trainer.log_with': tracker {name!r} needs its package ({error}); "
                f"pip install {name}, or leave it out of trainer.log_with"
            ) from error
        try:
            tracker.store_init_configuration(flat_config(config))
        except Exception as error:  # a tracker's own hparams rules must not stop a run
            log.warning("tracker %s did not store the config: %s", name, error)
        trackers.append(tracker)
    return trackers


def flat_config(config: dict, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": 1, "c": "[1, 2]"}`: scalars only, as trackers'
    hyper-parameter tables take them (None as "null")."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= flat_config(value, f"{name}.")
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = "null" if value is None else json.dumps(value)
    return flat
