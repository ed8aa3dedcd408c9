"""Training throughput: each method's steps fed by the real data loader (the trainer's
`training_loader`: batch-level decoding, workers, transforms) against the same model fed batches
already decoded into memory (on the device), in the same run. The ratio says how much the data
path holds training back (goal >= 0.9 on a GPU). `--compile` also times the memory-fed step under
`torch.compile` (what `trainer.compile: true` does) against eager.

    python benchmarks/train_step.py                                   # five methods, toy data
    python benchmarks/train_step.py --methods tcn simclr --steps 100 transforms.size=112
    python benchmarks/train_step.py --compile data.num_workers=4
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from accelerate import Accelerator

from tempssl import build
from tempssl.config import load_config
from tempssl.engine.optim import build_optimizer
from tempssl.engine.trainer import training_loader
from tempssl.schema import TrainConfig

CONFIGS = Path(__file__).parents[1] / "configs"
METHODS = ["tcn", "shuffle_learn", "cpc", "simclr", "moco_v2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides for every method")
    parser.add_argument("--methods", nargs="+", default=METHODS, help="configs/<name>.yaml")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per mode")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    args = parser.parse_args()
    precision = load_config(TrainConfig, CONFIGS / f"{args.methods[0]}.yaml", args.overrides)
    accelerator = Accelerator(mixed_precision=precision.trainer.mixed_precision)  # one per run
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"{device} ({torch.get_num_threads()} threads); {args.steps} timed steps per mode\n")
    header = "| method | backbone, size, batch, workers | memory samples/s | loader samples/s |"
    header += " loader / memory |"
    if args.compile:
        header += " compiled memory samples/s | compiled / eager |"
    print(header)
    print("|---|---|---:|---:|---:|" + ("---:|---:|" if args.compile else ""))
    for name in args.methods:
        cfg = load_config(TrainConfig, CONFIGS / f"{name}.yaml", args.overrides)
        row = measure(cfg, accelerator, args.steps, args.compile)
        t = cfg.trainer
        cells = [
            name,
            f"{cfg.model.backbone}, {cfg.transforms.size} px, {t.batch_size}, {cfg.data.num_workers}",
            f"{row['memory']:.0f}",
            f"{row['loader']:.0f}",
            f"{row['loader'] / row['memory']:.2f}",
        ]
        if args.compile:
            cells += [f"{row['compiled']:.0f}", f"{row['compiled'] / row['memory']:.2f}"]
        print(f"| {' | '.join(cells)} |", flush=True)
    print("\nloader / memory: samples/s fed by the real loader over samples/s fed from memory.")


def measure(cfg: TrainConfig, accelerator: Accelerator, steps: int, compile_too: bool) -> dict:
    source = build.training_source(cfg, progress=False)
    dataset = build.training_dataset(cfg, source, seed=0, progress=False,
                                     min_plans=cfg.trainer.batch_size)  # fmt: skip
    loader = training_loader(dataset, cfg.trainer.batch_size, cfg.data.num_workers, seed=0)
    model = build.build_model(cfg)
    optimizer = build_optimizer(model, cfg.optim, cfg.trainer.batch_size)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    in_memory = []
    for batch in _cycle(loader):  # decode once, keep on the device
        in_memory.append(batch)
        if len(in_memory) == min(steps, 8):
            break
    batches = lambda: (in_memory[i % len(in_memory)] for i in range(steps))  # noqa: E731
    step = _step_fn(model, optimizer, accelerator)
    for batch in in_memory[:3]:  # warm-up (kernels, allocator)
        step(batch)
    result = {
        "memory": _time(step, batches(), steps, cfg),
        "loader": _time(step, _cycle(loader), steps, cfg),
    }
    if compile_too:
        compiled = _step_fn(torch.compile(model), optimizer, accelerator)
        for batch in in_memory[:3]:  # compilation happens here, not in the timed steps
            compiled(batch)
        result["compiled"] = _time(compiled, batches(), steps, cfg)
    return result


def _step_fn(model, optimizer, accelerator):
    """One training step as the trainer takes it (momentum updates and queues included)."""
    method, done = accelerator.unwrap_model(model), [0]
    method = getattr(method, "_orig_mod", method)  # under torch.compile

    def step(batch):
        loss = model(batch)["loss"]
        accelerator.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        method.on_step_end(done[0], 10_000)
        done[0] += 1
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
    epoch = 0
    while True:
        loader.set_epoch(epoch)
        yield from loader
        epoch += 1


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


if __name__ == "__main__":
    main()
