"""metrics.jsonl and Accelerate's trackers (trainer.log_with)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tempssl.engine.tracking import RunLog, flat_config


def test_metrics_and_images_reach_jsonl_png_and_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = RunLog(tmp_path, main=True, log_with=["tensorboard"], run_name="t", config={"a": {"b": 1}})
    run.write(3, {"loss": 0.5})
    grid = np.zeros((6, 8, 3), dtype=np.uint8)
    png = run.images(3, "reconstructions", grid)
    run.close()
    assert [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [
        {"step": 3, "loss": 0.5}
    ]
    assert png == tmp_path / "images" / "reconstructions_step00000003.png" and png.exists()
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(3, 0.5)]
    assert [e.step for e in events.Images("reconstructions")] == [3]


def test_no_trackers_writes_jsonl_only(tmp_path):
    run = RunLog(tmp_path, main=True, log_with=[])
    run.write(1, {"loss": 1.0})
    assert (tmp_path / "metrics.jsonl").exists() and not (tmp_path / "tensorboard").exists()


def test_other_processes_write_nothing(tmp_path):
    run = RunLog(tmp_path, main=False)
    run.write(1, {"loss": 1.0})
    assert run.images(1, "x", np.zeros((2, 2, 3), np.uint8)) is None
    assert list(tmp_path.iterdir()) == []


def test_unknown_or_missing_trackers_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"trainer.log_with.*unknown tracker 'tensorbord'"):
        RunLog(tmp_path, main=True, log_with=["tensorbord"])
    try:
        import wandb  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match=r"trainer.log_with.*'wandb' needs its package"):
            RunLog(tmp_path, main=True, log_with=["wandb"])


def test_flat_config_keeps_scalars_and_spells_out_the_rest():
    assert flat_config({"a": {"b": 1, "c": None}, "d": [1, 2], "e": "x"}) == {
        "a.b": 1, "a.c": "null", "d": "[1, 2]", "e": "x",
    }  # fmt: skip


def test_the_default_tensorboard_is_skipped_when_missing(tmp_path, monkeypatch, caplog):
    from tempssl.engine import tracking

    class Missing:
        requires_logging_directory = True

        def __init__(self, *args, **kwargs):
            raise ImportError("No module named 'tensorboard'")

    monkeypatch.setitem(tracking.LOGGER_TYPE_TO_CLASS, "tensorboard", Missing)
    with caplog.at_level("INFO", logger="tempssl.engine.tracking"):
        run = RunLog(tmp_path, main=True, log_with=["tensorboard"])
    assert run.trackers == [] and "tensorboard is not installed" in caplog.text
    run.write(1, {"loss": 1.0})
    assert (tmp_path / "metrics.jsonl").exists()
