"""Loading a trained method back from a run folder: path resolution, exact weights, clear errors."""

from __future__ import annotations

import pytest
import torch
from run_fixtures import make_run
from safetensors.torch import save_file

from tempssl.build import build_model
from tempssl.config import save_config
from tempssl.eval.checkpoints import CheckpointError, load_method, resolve_checkpoint
from tempssl.schema import TrainConfig


class _NotATensor:
    pass


@pytest.fixture
def run(tmp_path):
    return make_run(tmp_path)


def test_resolve_run_checkpoints_and_step_folders(run):
    run_dir, _ = run
    step = run_dir / "checkpoints" / "step_00000001"
    assert resolve_checkpoint(run_dir) == step
    assert resolve_checkpoint(run_dir / "checkpoints") == step
    assert resolve_checkpoint(step) == step
    assert resolve_checkpoint(str(step / "model.safetensors")) == step / "model.safetensors"


def test_latest_wins_over_the_highest_step_and_is_optional(run):
    run_dir, state = run
    newer = run_dir / "checkpoints" / "step_00000009"
    newer.mkdir()
    save_file(state, str(newer / "model.safetensors"))
    (run_dir / "checkpoints" / ".partial_step_00000010").mkdir()  # an interrupted save
    assert resolve_checkpoint(run_dir) == run_dir / "checkpoints" / "step_00000001"
    (run_dir / "checkpoints" / "latest").unlink()
    assert resolve_checkpoint(run_dir) == newer


def test_load_method_reproduces_the_weights(run):
    run_dir, state = run
    method, cfg, checkpoint = load_method(run_dir)
    assert cfg.model.backbone == "resnet18" and cfg.method.name == "tcn"
    assert checkpoint == run_dir / "checkpoints" / "step_00000001"
    assert not method.training
    loaded = method.state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_pickle_weights_load_with_weights_only(run, tmp_path):
    run_dir, state = run
    step = run_dir / "checkpoints" / "step_00000001"
    torch.save({f"module.{key}": value for key, value in state.items()}, step / "weights.pt")  # DDP keys
    method, _, checkpoint = load_method(step / "weights.pt")
    assert checkpoint == step / "weights.pt"
    assert torch.equal(method.state_dict()["backbone.conv1.weight"], state["backbone.conv1.weight"])

    torch.save({"x": _NotATensor()}, step / "evil.pt")  # pickle would run code: refused
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_method(step / "evil.pt")


def test_missing_path(tmp_path):
    missing = tmp_path / "runs" / "nope"
    with pytest.raises(FileNotFoundError, match="no such file or folder") as error:
        resolve_checkpoint(missing)
    assert str(missing) in str(error.value) and "expected a run folder" in str(error.value)


def test_folder_without_checkpoint(tmp_path):
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint in this folder") as error:
        load_method(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(error.value)


def test_file_that_is_not_a_checkpoint(run):
    run_dir, _ = run
    with pytest.raises(CheckpointError, match=r"\.yaml file is not a checkpoint"):
        resolve_checkpoint(run_dir / "config.yaml")
    (run_dir / "checkpoints" / "step_00000001" / "junk.safetensors").write_text("not weights")
    with pytest.raises(CheckpointError, match="cannot read weights"):
        load_method(run_dir / "checkpoints" / "step_00000001" / "junk.safetensors")


def test_latest_naming_a_missing_folder(run):
    run_dir, _ = run
    (run_dir / "checkpoints" / "latest").write_text("step_00000077")
    with pytest.raises(CheckpointError, match="step_00000077"):
        resolve_checkpoint(run_dir)


def test_mismatched_backbone_names_both_and_the_keys(run):
    run_dir, _ = run
    cfg = TrainConfig()
    cfg.model.backbone = "resnet50"
    save_config(cfg, run_dir / "config.yaml")
    with pytest.raises(CheckpointError) as error:
        load_method(run_dir)
    message = str(error.value)
    assert "model.backbone='resnet50'" in message
    assert "look like backbone 'resnet18'" in message
    assert "backbone.layer1.0.conv3.weight" in message  # a first key that resnet18 lacks
    assert "of another shape" in message


def test_missing_config(run):
    run_dir, _ = run
    (run_dir / "config.yaml").unlink()
    with pytest.raises(FileNotFoundError, match=r"no config\.yaml"):
        load_method(run_dir)


def test_checkpoint_written_by_the_trainer(tmp_path):
    """The real layout: `save_checkpoint` (Accelerate's save_state) of a prepared model."""
    from accelerate import Accelerator

    from tempssl.checkpoint import save_checkpoint

    cfg = TrainConfig()
    cfg.model.args = {"width": 4}
    save_config(cfg, tmp_path / "run" / "config.yaml")
    accelerator = Accelerator(cpu=True)
    model = accelerator.prepare(build_model(cfg))
    save_checkpoint(accelerator, tmp_path / "run", {"epoch": 0, "step_in_epoch": 3, "global_step": 3})
    method, _, checkpoint = load_method(tmp_path / "run")
    assert checkpoint.name == "step_00000003"
    expected = accelerator.unwrap_model(model).state_dict()
    for key, value in method.state_dict().items():
        assert torch.equal(value, expected[key]), key
