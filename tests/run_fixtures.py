"""A run folder laid out as the trainer writes it, without training (for checkpoint/eval tests)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from tempssl.build import build_model
from tempssl.config import save_config
from tempssl.schema import TrainConfig


def make_run(
    root: Path,
    backbone: str = "resnet18",
    model_args: dict | None = None,
    step: int = 1,
    method: str = "tcn",
    method_args: dict | None = None,
) -> tuple[Path, dict[str, torch.Tensor]]:
    """`root/runs/<method>/<time>/` with config.yaml and one checkpoint; returns (run dir, state dict).

    The weights are the seed-0 initialization with non-trivial BatchNorm statistics, so they differ
    from a fresh build of the same config.
    """
    cfg = TrainConfig()
    cfg.model.backbone, cfg.model.args = backbone, dict(model_args or {})
    cfg.method.name, cfg.method.args, cfg.trainer.epochs = method, dict(method_args or {}), 1
    run = root / "runs" / method / "20250101-000000"
    save_config(cfg, run / "config.yaml")
    torch.manual_seed(0)
    model = build_model(cfg)
    for name, buffer in model.named_buffers():
        if name.endswith("running_mean"):
            buffer.normal_()
        elif name.endswith("running_var"):
            buffer.uniform_(0.5, 2.0)
    state = {key: value.clone() for key, value in model.state_dict().items()}
    folder = run / "checkpoints" / f"step_{step:08d}"
    folder.mkdir(parents=True)
    save_file(state, str(folder / "model.safetensors"))
    (folder / "trainer_state.json").write_text(
        json.dumps({"epoch": 1, "step_in_epoch": 0, "global_step": step})
    )
    (run / "checkpoints" / "latest").write_text(folder.name)
    return run, state
