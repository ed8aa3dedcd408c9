"""A 2-process CPU run (gloo) gives the same loss and gradients as 1 process on the same batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_step.py")


def _launch(processes: int, loss: str, out: Path) -> dict:
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, str(SCRIPT), str(out), loss]
    else:
        # The recipe that really starts N CPU processes (plain --cpu --num_processes starts one).
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
            "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no", "--main_process_port", str(29500 + os.getpid() % 1000),
            str(SCRIPT), str(out), loss,
        ]  # fmt: skip
    subprocess.run(command, env=env, check=True, timeout=300, capture_output=True)
    return json.loads(out.read_text())


@pytest.mark.parametrize("loss", ["npairs", "triplet", "cpc"])
def test_two_processes_match_one(tmp_path, loss):
    one = _launch(1, loss, tmp_path / "one.json")
    two = _launch(2, loss, tmp_path / "two.json")
    assert (one["processes"], two["processes"]) == (1, 2)
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4, abs=1e-6)
    assert two["grads"].keys() == one["grads"].keys() and one["grads"]
    for name, expected in one["grads"].items():
        assert two["grads"][name] == pytest.approx(expected, rel=1e-3, abs=1e-6), name
