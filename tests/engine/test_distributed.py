"""A 2-process CPU run (gloo) gives the same loss and gradients as 1 process on the same batch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from launch import cpu_env, cpu_launch, run_checked

SCRIPT = Path(__file__).with_name("ddp_step.py")


def _launch(processes: int, loss: str, out: Path) -> dict:
    launcher = [sys.executable] if processes == 1 else cpu_launch(processes)
    run_checked([*launcher, str(SCRIPT), str(out), loss], env=cpu_env())
    return json.loads(out.read_text())


@pytest.mark.parametrize("loss", ["npairs", "triplet", "cpc", "simclr", "moco_v3", "byol", "moco_v2"])
def test_two_processes_match_one(tmp_path, loss):
    one = _launch(1, loss, tmp_path / "one.json")
    two = _launch(2, loss, tmp_path / "two.json")
    assert (one["processes"], two["processes"]) == (1, 2)
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4, abs=1e-6)
    assert two["grads"].keys() == one["grads"].keys() and one["grads"]
    for name, expected in one["grads"].items():
        assert two["grads"][name] == pytest.approx(expected, rel=1e-3, abs=1e-6), name
