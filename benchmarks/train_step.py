"""Training throughput: TCN steps fed by the real data loader against the same model fed batches
already decoded into memory, in the same run. The ratio says how much the data path holds
training back (goal >= 0.9 on a GPU).

    python benchmarks/train_step.py                                  # configs/tcn.yaml, toy data
    python benchmarks/train_step.py --steps 100 model.backbone=resnet18 transforms.size=112
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader

from tempssl import build
from tempssl.config import load_config
from tempssl.engine.optim import build_optimizer
from tempssl.schema import TrainConfig

CONFIG = Path(__file__).parents[1] / "configs" / "tcn.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. trainer.batch_size=64")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per mode")
    args = parser.parse_args()
    cfg = load_config(TrainConfig, args.config, args.overrides)
    accelerator = Accelerator(mixed_precision=cfg.trainer.mixed_precision)

    source = build.training_source(cfg, progress=False)
    dataset = build.training_dataset(cfg, source, seed=0)
    loader = DataLoader(
        dataset,
        batch_size=cfg.trainer.batch_size,
        drop_last=True,
        num_workers=cfg.data.num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=cfg.data.num_workers > 0,
    )
    model = build.build_model(cfg)
    optimizer = build_optimizer(model, cfg.optim, cfg.trainer.batch_size)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    in_memory = []
    for batch in loader:  # decode once, keep on the device
        in_memory.append(batch)
        if len(in_memory) == min(args.steps, len(loader)):
            break
    step = _step_fn(model, optimizer, accelerator)
    for batch in in_memory[:3]:  # warm-up (kernels, allocator)
        step(batch)

    memory_rate = _time(
        step, (in_memory[i % len(in_memory)] for i in range(args.steps)), args.steps, cfg
    )
    loader_rate = _time(step, _cycle(loader), args.steps, cfg)
    device = (
        torch.cuda.get_device_name()
        if torch.cuda.is_available()
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"{device}; {cfg.model.backbone}, {cfg.transforms.size}px, batch {cfg.trainer.batch_size}, "
        f"{cfg.data.num_workers} loader workers, {args.steps} steps per mode\n"
    )
    print("| mode | samples/s |")
    print("|---|---:|")
    print(f"| pre-decoded batches in memory | {memory_rate:.0f} |")
    print(f"| real loader (decode + transforms) | {loader_rate:.0f} |")
    print(f"\nratio loader / memory: {loader_rate / memory_rate:.2f} (goal >= 0.9 on a GPU)")


def _step_fn(model, optimizer, accelerator):
    def step(batch):
        loss = model(batch)["loss"]
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return step


def _time(step, batches, steps: int, cfg: TrainConfig) -> float:
    _sync()
    start = time.perf_counter()
    for _, batch in zip(range(steps), batches, strict=False):
        step(batch)
    _sync()
    return steps * cfg.trainer.batch_size / (time.perf_counter() - start)


def _cycle(loader):
    while True:
        yield from loader


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
