"""Start `accelerate launch` children from tests: a free port each, and their output on failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys


def free_port() -> int:
    """A TCP port that nothing listens on now (the OS picks it), for one launch's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_launch(processes: int) -> list[str]:
    """The command that really starts `processes` gloo processes on the CPU (plain
    `accelerate launch --cpu --num_processes N` starts one), on a port of its own."""
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
        "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
        "--dynamo_backend", "no", "--main_process_port", str(free_port()),
    ]  # fmt: skip


def cpu_env() -> dict[str, str]:
    return {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}


def run_checked(command: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """`subprocess.run`, failing with the command's own stdout and stderr when it exits non-zero."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if done.returncode != 0:
        raise AssertionError(
            f"command exited with {done.returncode}: {' '.join(command)}\n"
            f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-6000:]}"
        )
    return done
