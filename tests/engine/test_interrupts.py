"""Faults while training: SIGKILL and SIGTERM in the middle of a run, half-written checkpoints,
NaN losses. A killed run resumed with `trainer.resume=auto` ends with the weights of an
uninterrupted one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tempssl.checkpoint import LATEST, find_checkpoint
from tempssl.config import load_config
from tempssl.engine.trainer import NonFiniteLossError, train
from tempssl.methods.tcn import TCN
from tempssl.schema import TrainConfig
from tempssl.video.synthetic import write_coded_video

ROOT = Path(__file__).parents[2]
TRAIN = ROOT / "tools" / "train.py"


@pytest.fixture(scope="module")
def clips_root(tmp_path_factory):
    """A flat folder of 6 single-view videos of 48 frames (frames, tuples)."""
    root = tmp_path_factory.mktemp("clips")
    for i in range(6):
        write_coded_video(root / f"clip{i}.mp4", 48, seed=100 + i)
    return root


def _small(name: str, scenes_root: Path, clips_root: Path) -> list[str]:
    """Overrides of configs/<name>.yaml for a run of a few seconds (16 px frames; tiny backbones
    where the config has a small_cnn)."""
    common = ["data.num_workers=0", "trainer.progress=false", "eval.enabled=false",
              "trainer.log_every=1", "trainer.batch_size=4", "transforms.size=16"]  # fmt: skip
    frames = [f"data.root={clips_root}", "sampler.args={frames_per_visit: 2}"]  # their ResNet-18
    return common + {
        "tcn": [f"data.root={scenes_root}", "model.args={width: 4}",
                "sampler.args={views: 2, moments_per_scene: 2, min_gap: 0.04}"],
        "shuffle_learn": [f"data.root={clips_root}", "model.args={width: 4}",
                          "sampler.args={window: 20, outer_gap: 4, samples_per_video: 2}",
                          "method.args.hidden_dim=8"],
        "moco_v2": [*frames, "method.args.queue_size=16", "method.args.bn_splits=2"],
        "byol": [*frames, "method.args.hidden_dim=16", "method.args.dim=8"],
        "moco_v3": [*frames, "method.args.hidden_dim=16", "method.args.dim=8"],
    }[name]  # fmt: skip


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    latest = (run_dir / "checkpoints" / LATEST).read_text().strip()
    return load_file(run_dir / "checkpoints" / latest / "model.safetensors")


def _launch(config: Path, overrides: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(TRAIN), str(config), *overrides],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait_for_checkpoint(output: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not list(output.glob(f"*/*/checkpoints/{LATEST}")):
        assert process.poll() is None, process.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("name", ["tcn", "shuffle_learn", "moco_v2", "byol", "moco_v3"])
def test_a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_weights(
    name, scenes_root, clips_root, tmp_path
):
    """SIGKILL (no chance to save) at a random moment after the first checkpoint; the rerun with
    `trainer.resume=auto` continues from the newest complete checkpoint."""
    config = ROOT / "configs" / f"{name}.yaml"
    overrides = [
        *_small(name, scenes_root, clips_root),
        # the ResNet-18 methods save 45 MB checkpoints: fewer of them
        *(["trainer.epochs=6", "trainer.checkpoint_every=1"] if name in ("tcn", "shuffle_learn")
          else ["trainer.epochs=4", "trainer.checkpoint_every=0"]),
    ]  # fmt: skip
    expected = train(
        load_config(TrainConfig, config, [*overrides, f"trainer.output_dir={tmp_path / 'a'}"]), name
    )
    killed = tmp_path / "b"
    process = _launch(config, [*overrides, f"trainer.output_dir={killed}"])
    _wait_for_checkpoint(killed, process)
    time.sleep(random.Random(name).uniform(0.0, 0.5))
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    (run_dir,) = (killed / name).iterdir()
    stopped_at = json.loads((find_checkpoint("auto", killed, name) / "trainer_state.json").read_text())
    resumed = _launch(config, [*overrides, f"trainer.output_dir={killed}", "trainer.resume=auto"])
    out = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, out[-3000:]
    assert 0 < stopped_at["global_step"] < expected["steps"]  # killed in the middle of the run
    assert f"resumed from {run_dir}" in out
    got, want = _weights(run_dir), _weights(Path(expected["run_dir"]))
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=1e-6, msg=key)


def test_sigterm_writes_a_checkpoint_and_the_run_resumes_from_it(scenes_root, clips_root, tmp_path):
    config = ROOT / "configs" / "tcn.yaml"
    overrides = [
        *_small("tcn", scenes_root, clips_root),
        "trainer.epochs=40",
        f"trainer.output_dir={tmp_path}",
    ]
    process = _launch(config, overrides)
    _wait_for_checkpoint(tmp_path, process)  # the first epoch's checkpoint: training is under way
    process.send_signal(signal.SIGTERM)
    out = process.communicate(timeout=120)[0]
    assert process.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert "Interrupted by SIGTERM at step" in out and "trainer.resume=auto" in out
    checkpoint = find_checkpoint("auto", tmp_path, "tcn")
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    total = 40 * 2  # 8 plans, batch 4
    assert 0 < state["global_step"] < total
    assert checkpoint.name == f"step_{state['global_step']:08d}"  # written at the stop
    resumed = _launch(config, [*overrides, "trainer.resume=auto"])
    out = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0 and "Run finished" in out, out[-3000:]
    assert (
        json.loads((find_checkpoint("auto", tmp_path, "tcn") / "trainer_state.json").read_text())[
            "global_step"
        ]
        == total
    )


def test_resume_auto_never_picks_a_half_written_checkpoint(scenes_root, clips_root, tmp_path):
    config = ROOT / "configs" / "tcn.yaml"
    overrides = [
        *_small("tcn", scenes_root, clips_root), "trainer.epochs=2", "trainer.keep_checkpoints=5",
        f"trainer.output_dir={tmp_path}",
    ]  # fmt: skip
    summary = train(load_config(TrainConfig, config, overrides), "tcn")
    checkpoints = Path(summary["run_dir"]) / "checkpoints"
    newest = find_checkpoint("auto", tmp_path, "tcn")
    assert newest.name == "step_00000004"
    # a kill during a save leaves a .partial_ folder; one while replacing a checkpoint of the same
    # step leaves `latest` naming a folder that is gone or holds no state yet
    (checkpoints / ".partial_step_00000005").mkdir()
    (checkpoints / ".partial_step_00000005" / "model.safetensors").write_bytes(b"half")
    assert find_checkpoint("auto", tmp_path, "tcn") == newest
    (checkpoints / "step_00000006").mkdir()  # no trainer_state.json: not complete
    (checkpoints / LATEST).write_text("step_00000006")
    assert find_checkpoint("auto", tmp_path, "tcn") == newest
    (checkpoints / LATEST).write_text("step_00000007")  # gone
    assert find_checkpoint("auto", tmp_path, "tcn") == newest
    resumed = train(load_config(TrainConfig, config, [*overrides, "trainer.resume=auto"]), "tcn")
    assert resumed["steps"] == 4


def _nan_at(call: int, monkeypatch) -> None:
    """TCN's loss becomes NaN at its `call`-th forward (1-based)."""
    forward, calls = TCN.forward, {"n": 0}

    def patched(self, batch):
        out = forward(self, batch)
        calls["n"] += 1
        if calls["n"] == call:
            out = {**out, "loss": out["loss"] * float("nan")}
        return out

    monkeypatch.setattr(TCN, "forward", patched)


def test_a_nan_loss_stops_the_run_naming_the_step_and_the_last_good_checkpoint(
    scenes_root, clips_root, tmp_path, monkeypatch
):
    config = ROOT / "configs" / "tcn.yaml"
    overrides = [
        *_small("tcn", scenes_root, clips_root),
        "trainer.epochs=3",
        f"trainer.output_dir={tmp_path}",
    ]
    _nan_at(3, monkeypatch)  # 2 steps per epoch: the first step of epoch 1
    with pytest.raises(
        NonFiniteLossError, match=r"the loss is nan at step 3 \(epoch 1, batch 1\)"
    ) as error:
        train(load_config(TrainConfig, config, overrides), "tcn")
    assert "last good checkpoint is" in str(error.value) and "step_00000002" in str(error.value)
    assert "trainer.skip_nonfinite=true" in str(error.value)


def test_skip_nonfinite_skips_the_update_and_counts_it(scenes_root, clips_root, tmp_path, monkeypatch):
    config = ROOT / "configs" / "tcn.yaml"
    overrides = [
        *_small("tcn", scenes_root, clips_root), "trainer.epochs=2", "trainer.skip_nonfinite=true",
        "trainer.checkpoint_every=1", "trainer.keep_checkpoints=10", f"trainer.output_dir={tmp_path}",
    ]  # fmt: skip
    _nan_at(3, monkeypatch)
    summary = train(load_config(TrainConfig, config, overrides), "nan")
    assert summary["nonfinite_steps"] == 1 and summary["steps"] == 4
    run = Path(summary["run_dir"])
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(line["loss"])) for line in lines if "loss" in line)
    assert [line["step"] for line in lines if "loss" in line] == [1, 2, 4]  # step 3 had no loss to log
    # the NaN step changed no learned weight (BatchNorm statistics still follow the batch)
    before, after, later = (
        load_file(run / "checkpoints" / f"step_0000000{s}" / "model.safetensors") for s in (2, 3, 4)
    )
    learned = [
        k for k in before if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    ]
    assert all(torch.equal(before[k], after[k]) for k in learned)
    assert not all(torch.equal(after[k], later[k]) for k in learned)  # step 4 trained again


def test_the_schedule_resumes_from_json_and_older_checkpoints_load_without_unpickling_code(tmp_path):
    """Resuming reads the schedule from trainer_state.json; a checkpoint from before that keeps it
    in Accelerate's pickle, read with weights_only=True (numbers and lists only)."""
    from tempssl.checkpoint import scheduler_state

    param = torch.nn.Parameter(torch.zeros(1))
    schedule = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([param], lr=1.0), lambda s: 0.5**s)
    for _ in range(3):
        schedule.optimizer.step()
        schedule.step()
    saved = json.loads(json.dumps(schedule.state_dict()))  # what trainer_state.json holds
    assert scheduler_state(tmp_path, saved) == saved
    torch.save(schedule.state_dict(), tmp_path / "custom_checkpoint_0.pkl")
    legacy = scheduler_state(tmp_path, None)
    fresh = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([param], lr=1.0), lambda s: 0.5**s)
    fresh.load_state_dict(legacy)
    assert fresh.last_epoch == 3 and fresh.get_last_lr() == pytest.approx([0.125])
    (tmp_path / "custom_checkpoint_0.pkl").unlink()
    with pytest.raises(FileNotFoundError, match="no learning-rate schedule state"):
        scheduler_state(tmp_path, None)


def test_sigterm_under_two_processes_stops_both_at_one_step_with_a_checkpoint(
    scenes_root, clips_root, tmp_path
):
    """`accelerate launch` with 2 gloo processes: SIGTERM to the launcher reaches both workers
    (its torchrun agent forwards it), they agree on one step, write one checkpoint and stop."""
    from launch import cpu_env, cpu_launch

    config = ROOT / "configs" / "tcn.yaml"
    overrides = [*_small("tcn", scenes_root, clips_root), "trainer.epochs=40",
                 "trainer.batch_size=2", f"trainer.output_dir={tmp_path}"]  # fmt: skip
    process = subprocess.Popen(
        [*cpu_launch(2), str(TRAIN), str(config), *overrides],
        cwd=ROOT, env={**cpu_env(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    _wait_for_checkpoint(tmp_path, process, timeout=180)
    process.send_signal(signal.SIGTERM)
    out = process.communicate(timeout=180)[0]
    assert "Interrupted by SIGTERM at step" in out, out[-3000:]
    checkpoint = find_checkpoint("auto", tmp_path, "tcn")
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert 0 < state["global_step"] < 40 * 2 and checkpoint.name == f"step_{state['global_step']:08d}"
    assert (checkpoint / "random_states_1.pkl").is_file()  # both processes saved their state


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_process_group_with_loader_workers_stops_cleanly(
    number, scenes_root, clips_root, tmp_path
):
    """A Ctrl-C in a terminal, or a cluster's SIGTERM to every process of the job, reaches the
    loader workers too; the main process finishes its step, writes the checkpoint and exits
    128 + the signal. (PyTorch's workers survive a SIGINT by themselves; SIGTERM would kill them,
    and the batch in flight with them, without `ignore_stop_signals`.)"""
    config = ROOT / "configs" / "tcn.yaml"
    overrides = [*_small("tcn", scenes_root, clips_root), "data.num_workers=2", "trainer.epochs=40",
                 f"trainer.output_dir={tmp_path}"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, str(TRAIN), str(config), *overrides], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    _wait_for_checkpoint(tmp_path, process)
    os.killpg(process.pid, number)  # what the terminal (or the scheduler) does
    out = process.communicate(timeout=120)[0]
    assert process.returncode == 128 + number, out[-3000:]
    assert f"Interrupted by {signal.Signals(number).name} at step" in out
    state = json.loads((find_checkpoint("auto", tmp_path, "tcn") / "trainer_state.json").read_text())
    assert 0 < state["global_step"] < 40 * 2


def test_a_second_ctrl_c_stops_at_once():
    from tempssl.engine.interrupts import StopRequests

    with StopRequests() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        assert stop.received == signal.SIGINT  # the first is remembered, nothing raised
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_skipped_nan_drops_its_whole_accumulation_window(
    scenes_root, clips_root, tmp_path, monkeypatch
):
    """With gradient accumulation, a NaN at the window's last micro-batch skips the window's
    update entirely: the earlier micro-batch's gradients are dropped too (with several processes
    they were never all-reduced, so stepping on them would let the processes' weights drift)."""
    from tempssl.build import initial_model

    config = ROOT / "configs" / "tcn.yaml"
    overrides = [
        *_small("tcn", scenes_root, clips_root), "trainer.batch_size=2", "trainer.grad_accumulation=2",
        "trainer.epochs=1", "trainer.skip_nonfinite=true", "trainer.checkpoint_every=1",
        "trainer.keep_checkpoints=10", f"trainer.output_dir={tmp_path}",
    ]  # fmt: skip
    _nan_at(2, monkeypatch)  # the second micro-batch of the first window
    summary = train(load_config(TrainConfig, config, overrides), "accum")
    assert summary["nonfinite_steps"] == 1 and summary["steps"] == 2
    start = initial_model(load_config(TrainConfig, config, overrides)).state_dict()
    run = Path(summary["run_dir"])
    first, second = (
        load_file(run / "checkpoints" / f"step_0000000{s}" / "model.safetensors") for s in (1, 2)
    )
    learned = [
        k for k in first if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    ]
    assert all(torch.equal(first[k], start[k]) for k in learned)  # window 1: no update at all
    assert not all(torch.equal(second[k], first[k]) for k in learned)  # window 2 trained
