"""Run under `accelerate launch` with 2 processes by tests/engine/test_two_process_checks.py:
`two_process_checks.py OUT.json SCENES CLIPS` writes, from the main process, what each process saw.

- `loaders`: per sampler kind, the epoch items (dataset indices) of each batch each process got
  from the trainer's own loader (`training_loader` + `accelerator.prepare`), the epoch's length
  and batch size, and for multi-view batches the scene of each item.
- `nonfinite`: a short TCN run in which only process 1's loss is NaN at its 3rd forward pass:
  with `trainer.skip_nonfinite=true` (the summary and whether the final weights are finite: a
  process that stepped on its NaN would have spread it to both through DDP), and without (each
  process's error).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/: the shared sampler cases

from accelerate import Accelerator
from accelerate.utils import gather_object
from safetensors.torch import load_file
from sampler_cases import KIND_CONFIGS

from tempssl import build
from tempssl.config import load_config
from tempssl.data.dataset import PlanDataset
from tempssl.engine.trainer import NonFiniteLossError, train, training_loader
from tempssl.methods.tcn import TCN
from tempssl.schema import TrainConfig

CONFIGS = Path(__file__).parents[2] / "configs"
COMMON = ["data.num_workers=0", "transforms.size=16", "trainer.progress=false", "eval.enabled=false"]


def _items_with_index() -> None:
    """Every sample carries `item`, its index in the epoch (the loader's and Accelerate's
    sharding are what is checked, not the dataset)."""
    get = PlanDataset.__getitems__

    def indexed(self, indices):
        return [{**item, "item": i} for item, (_, i) in zip(get(self, indices), indices, strict=True)]

    PlanDataset.__getitems__ = indexed


def loader_checks(accelerator: Accelerator, roots: dict[str, str]) -> dict:
    results = {}
    for kind, (config, data, overrides) in KIND_CONFIGS.items():
        cfg = load_config(
            TrainConfig,
            CONFIGS / f"{config}.yaml",
            [f"data.root={roots[data]}", "trainer.batch_size=2", *COMMON, *overrides],
        )
        source = build.training_source(cfg, progress=False)
        dataset = build.training_dataset(cfg, source, seed=0, progress=False, min_plans=8)
        loader = accelerator.prepare(training_loader(dataset, 2, 0, seed=0))
        loader.set_epoch(1)
        batches = [batch["item"].tolist() for batch in loader]
        plans = dataset.sampler.plans(1)
        scenes = [[source.videos[plans[i].videos[0]].group for i in batch] for batch in batches]
        results[kind] = {
            "batches": gather_object([batches]),
            "scenes": gather_object([scenes]),
            "length": len(dataset),
            "batch_size": 2,
        }
    return results


def nonfinite_checks(accelerator: Accelerator, scenes: str, out: Path) -> dict:
    forward, calls = TCN.forward, {"n": 0}

    def nan_on_process_1(self, batch):
        result = forward(self, batch)
        calls["n"] += 1
        if accelerator.process_index == 1 and calls["n"] == 3:
            result = {**result, "loss": result["loss"] * float("nan")}
        return result

    TCN.forward = nan_on_process_1
    overrides = [
        f"data.root={scenes}", *COMMON, "trainer.batch_size=2", "model.args={width: 4}",
        "sampler.args={views: 2, moments_per_scene: 2, min_gap: 0.04}", "trainer.epochs=2",
    ]  # fmt: skip
    summary = train(
        load_config(TrainConfig, CONFIGS / "tcn.yaml",
                    [*overrides, "trainer.skip_nonfinite=true", f"trainer.output_dir={out / 'skip'}"]),
        "skip",
    )  # fmt: skip
    skipped = {}  # the summary is the main process's (whose own losses were all finite)
    if accelerator.is_main_process:
        weights = load_file(Path(summary["checkpoint"]) / "model.safetensors")
        finite = all(bool(w.isfinite().all()) for w in weights.values())
        skipped = {"nonfinite_steps": summary["nonfinite_steps"], "steps": summary["steps"],
                   "weights_finite": finite}  # fmt: skip
    calls["n"] = 0
    try:
        stop = [*overrides, f"trainer.output_dir={out / 'stop'}"]
        train(load_config(TrainConfig, CONFIGS / "tcn.yaml", stop), "stop")
        stopped = "no error"
    except NonFiniteLossError as error:
        stopped = str(error)
    return {"skip": skipped, "stop": gather_object([stopped])}


def main() -> None:
    out, scenes, clips = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    accelerator = Accelerator()
    _items_with_index()
    results = {
        "processes": accelerator.num_processes,
        "loaders": loader_checks(accelerator, {"scenes": scenes, "flat": clips}),
        "nonfinite": nonfinite_checks(accelerator, scenes, out.parent),
    }
    if accelerator.is_main_process:
        out.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
