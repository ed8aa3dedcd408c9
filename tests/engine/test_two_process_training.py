"""A whole short training run under 2 gloo processes ends with the weights of 1 process on the
same global batch (a BatchNorm-free network: per-process BatchNorm statistics would differ by
design; SyncBatchNorm runs on GPUs only)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from launch import cpu_env, cpu_launch, run_checked
from safetensors.torch import load_file

from tempssl.build import initial_model
from tempssl.config import load_config
from tempssl.engine.trainer import train
from tempssl.schema import TrainConfig

ROOT = Path(__file__).parents[2]


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    latest = (run_dir / "checkpoints" / "latest").read_text().strip()
    return load_file(run_dir / "checkpoints" / latest / "model.safetensors")


def test_two_processes_train_to_the_weights_of_one_on_the_same_global_batch(scenes_root, tmp_path):
    config = ROOT / "configs" / "tcn.yaml"
    common = [
        f"data.root={scenes_root}", "data.num_workers=0", "transforms.size=16",
        "model.backbone=vit_tiny", "model.args={img_size: 16, patch_size: 8}",
        "method.args.head=linear",  # TCN's spatial-softmax head has BatchNorm
        # the same plans for both: blocks of 4 moments, whatever the per-process batch
        "sampler.args={views: 2, moments_per_scene: 4, min_gap: 0.04}",
        # SGD: Adam would blow float noise in gradients that are ~0 by symmetry (a ViT's key bias)
        # up to whole steps of the learning rate
        "optim.name=sgd", "optim.lr=0.05",
        "trainer.epochs=2", "trainer.progress=false", "eval.enabled=false", "trainer.log_every=1",
    ]  # fmt: skip
    one = train(
        load_config(
            TrainConfig,
            config,
            [*common, "trainer.batch_size=4", f"trainer.output_dir={tmp_path / 'one'}"],
        ),
        "tcn",
    )
    run_checked(
        [*cpu_launch(2), str(ROOT / "tools" / "train.py"), str(config), *common,
         "trainer.batch_size=2", f"trainer.output_dir={tmp_path / 'two'}"],
        env=cpu_env(), cwd=ROOT, timeout=600,
    )  # fmt: skip
    (two_dir,) = (tmp_path / "two" / "tcn").iterdir()
    summary = json.loads((two_dir / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["global_batch"] == one["global_batch"] == 4
    assert summary["steps"] == one["steps"] > 1
    expected, got = _final_weights(Path(one["run_dir"])), _final_weights(two_dir)
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-5, msg=name)
    # training moved the weights far beyond that tolerance (so that agreeing means something; and
    # had both processes trained on the same half of each batch, they would not agree)
    start = initial_model(load_config(TrainConfig, config, common)).state_dict()
    moved = max(float((expected[n] - start[n]).abs().max()) for n in expected if n in start)
    assert moved > 1e-2
