"""Checkpoints: Accelerate state (model, optimizer, RNG) plus the loop position and the learning-rate
schedule (JSON), written atomically (a complete folder appears under its final name, or nothing
does).

The run folder's layout (`CONFIG_FILE`, `checkpoints/LATEST`, `STATE_FILE`) is shared by the trainer,
which writes it (`tempssl.engine`), and by evaluation, which reads it (`tempssl.eval.checkpoints`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from accelerate import Accelerator

from tempssl.atomic import write_atomic

CONFIG_FILE = "config.yaml"  # the resolved config, in the run folder
LATEST = "latest"  # a text file naming the newest complete checkpoint folder
STATE_FILE = "trainer_state.json"


def save_checkpoint(accelerator: Accelerator, run_dir: Path, state: dict, keep: int = 2) -> Path:
    """Save everything needed to resume exactly; every process must call this.

    `state` holds the loop position: `{"epoch", "step_in_epoch", "global_step"}` (the epoch to run
    and how many of its batches are done), and the learning-rate schedule's `state_dict()` as
    `"scheduler"`; it is written as JSON (`STATE_FILE`).
    """
    checkpoints = run_dir / "checkpoints"
    final = checkpoints / f"step_{state['global_step']:08d}"
    partial = checkpoints / f".partial_{final.name}"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (partial / STATE_FILE).write_text(json.dumps(state))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(partial, final)
        write_atomic(checkpoints / LATEST, final.name)
        for old in sorted(p for p in checkpoints.glob("step_*") if p != final)[: -keep + 1 or None]:
            if keep > 0:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Accelerator, checkpoint: Path) -> dict:
    """Restore the Accelerate state; returns the loop position saved with it."""
    accelerator.load_state(str(checkpoint))
    return json.loads((checkpoint / STATE_FILE).read_text())


def scheduler_state(checkpoint: Path, saved: dict | None) -> dict:
    """The learning-rate schedule's state of `checkpoint`: `saved` (the `scheduler` entry of its
    `STATE_FILE`), or for checkpoints written before it moved there, the pickle Accelerate wrote
    for it, read with `weights_only=True` (a LambdaLR's state holds numbers and lists only)."""
    if saved is not None:
        return saved
    legacy = checkpoint / "custom_checkpoint_0.pkl"
    if not legacy.is_file():
        raise FileNotFoundError(f"{checkpoint}: no learning-rate schedule state in {STATE_FILE}")
    return torch.load(legacy, map_location="cpu", weights_only=True)


def latest_checkpoint(folder: Path) -> Path | None:
    """The step folder that the `latest` file of a run folder (`checkpoints/latest`) or of its
    `checkpoints/` folder names; None when there is no such file."""
    checkpoints = folder / "checkpoints" if (folder / "checkpoints" / LATEST).is_file() else folder
    latest = checkpoints / LATEST
    return checkpoints / latest.read_text().strip() if latest.is_file() else None


def newest_complete_checkpoint(checkpoints: Path) -> Path | None:
    """The checkpoint to resume from in a `checkpoints/` folder: the one `latest` names if it is
    complete, else the newest complete `step_*` folder (None if there is none).

    `latest` can name an incomplete folder when a process was killed while replacing a
    checkpoint of the same step. Complete folders hold `STATE_FILE`, written before a checkpoint
    gets its final name; `.partial_*` folders (a kill during a save) never count."""
    named = latest_checkpoint(checkpoints)
    if named is not None and (named / STATE_FILE).is_file():
        return named
    complete = sorted(p for p in checkpoints.glob("step_*") if (p / STATE_FILE).is_file())
    return complete[-1] if complete else None


def find_checkpoint(resume: str, output_dir: Path, run_name: str) -> Path | None:
    """The checkpoint folder that `trainer.resume` names: "auto" = newest of this run name."""
    if resume != "auto":
        path = latest_checkpoint(Path(resume)) or Path(resume)
        if not (path / STATE_FILE).is_file():
            raise FileNotFoundError(
                f"trainer.resume={resume}: no checkpoint there (expected a run folder, its "
                f"checkpoints/ folder or a checkpoints/step_* folder containing {STATE_FILE})"
            )
        return path
    candidates = []
    for latest in (output_dir / run_name).glob(f"*/checkpoints/{LATEST}"):
        path = newest_complete_checkpoint(latest.parent)
        if path is not None:
            candidates.append(path)
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None
