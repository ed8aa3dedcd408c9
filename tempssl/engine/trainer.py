"""The training loop on Hugging Face Accelerate: one script for CPU, one GPU, many GPUs and nodes.

Logging, checkpoint bookkeeping and evaluation run on the main process; every process trains on
its own share of each epoch's plans (Accelerate hands whole batches to processes in turn, so no
plan is used twice in an epoch).
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import broadcast_object_list, gather_object, set_seed
from torch.utils.data import DataLoader
from tqdm import tqdm

from tempssl import build
from tempssl.checkpoint import (
    CONFIG_FILE,
    find_checkpoint,
    load_checkpoint,
    save_checkpoint,
    scheduler_state,
)
from tempssl.config import ConfigError, save_config, to_dict
from tempssl.data import sources
from tempssl.data.dataset import EpochIndices
from tempssl.data.sampling import SAMPLERS
from tempssl.engine.interrupts import StopRequests, ignore_stop_signals
from tempssl.engine.online_eval import OnlineKNN, online_eval_enabled
from tempssl.engine.optim import build_optimizer, build_schedule
from tempssl.engine.tracking import RunLog
from tempssl.eval.reconstruction import evaluate_reconstruction, held_out_frames
from tempssl.schema import TrainConfig

log = logging.getLogger(__name__)


class NonFiniteLossError(ValueError):
    """A training loss was NaN or infinite (and `trainer.skip_nonfinite` is false)."""


def train(cfg: TrainConfig, run_name: str = "run", accelerator: Accelerator | None = None) -> dict:
    """Train `cfg.method` as configured; returns the summary (also written to `summary.json`).

    SIGTERM or Ctrl-C while training writes a checkpoint after the step in progress and returns
    `{"interrupted": "SIGTERM" | "SIGINT", "checkpoint": ..., "steps": ...}` (resume with
    `trainer.resume=auto`). A NaN / infinite loss raises `NonFiniteLossError` naming the step and
    the last good checkpoint, unless `trainer.skip_nonfinite` skips that step's update.
    """
    package_log = logging.getLogger("tempssl")
    before = set(package_log.handlers)
    try:
        with StopRequests() as stop:
            return _train(cfg, run_name, accelerator, stop)
    finally:  # the run's train.log handler must not collect later runs' logs
        for handler in set(package_log.handlers) - before:
            package_log.removeHandler(handler)
            handler.close()


def _train(cfg: TrainConfig, run_name: str, accelerator: Accelerator | None, stop: StopRequests) -> dict:
    t = cfg.trainer
    precision = {"mixed_precision": t.mixed_precision} if t.mixed_precision else {}
    accelerator = accelerator or Accelerator(
        gradient_accumulation_steps=t.grad_accumulation,
        # batches come from pinned memory on a GPU (training_loader): copy them asynchronously
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
        **precision,
    )
    main = accelerator.is_main_process
    set_seed(t.seed)
    run_name = t.run_name or run_name

    eval_enabled = online_eval_enabled(cfg)  # config problems show before any slow work
    if t.sync_batchnorm:
        sync_batchnorm(torch.nn.Identity(), accelerator)  # raises on CPU processes
    checkpoint = find_checkpoint(t.resume, Path(t.output_dir), run_name) if t.resume else None
    run_dir = _run_dir(accelerator, Path(t.output_dir) / run_name, checkpoint)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / CONFIG_FILE)
        _log_to_file(run_dir / "train.log")

    with accelerator.main_process_first():  # one process generates the toy data / metadata cache
        source = build.training_source(cfg, progress=main and t.progress)
    model = build.build_model(cfg)
    if model.sampler_kind != SAMPLERS[cfg.sampler.name].kind:
        raise ConfigError(
            f"config key 'sampler.name': method {cfg.method.name!r} trains on {model.sampler_kind!r} "
            f"batches, but the sampler makes {SAMPLERS[cfg.sampler.name].kind!r} (set sampler.name: "
            f"{model.sampler_kind})",
            key="sampler.name",
        )
    with accelerator.main_process_first():  # motion scores, when used, are computed and cached once
        dataset = build.training_dataset(
            cfg, source, seed=t.seed, progress=main and t.progress,
            min_plans=t.batch_size * accelerator.num_processes,  # an epoch holds one global batch
        )  # fmt: skip
    loader = training_loader(dataset, t.batch_size, cfg.data.num_workers, t.seed)
    model = sync_batchnorm(model, accelerator) if t.sync_batchnorm else model
    if t.compile:  # in place: the parameters' names (and so checkpoints) stay those of eager runs
        model.compile(backend=t.compile_backend)
    global_batch = t.batch_size * accelerator.num_processes * t.grad_accumulation
    optimizer = build_optimizer(model, cfg.optim, global_batch)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    if len(loader) == 0:
        raise ConfigError(
            f"config key 'trainer.batch_size': {len(dataset)} plans per epoch do not fill one batch of "
            f"{t.batch_size} on each of {accelerator.num_processes} process(es); lower the batch size, "
            "or leave the sampler's plan counts (samples_per_video, blocks_per_scene, num_plans, "
            "clips_per_video) unset so that plans per epoch follow the footage",
            key="trainer.batch_size",
        )
    # Accelerate also steps at the end of each epoch's data, so a partial accumulation counts.
    steps_per_epoch = math.ceil(len(loader) / t.grad_accumulation)
    total_steps = t.max_steps or t.epochs * steps_per_epoch
    scheduler = build_schedule(optimizer, cfg.optim, total_steps, steps_per_epoch)
    method = accelerator.unwrap_model(model)

    position = {"epoch": 0, "step_in_epoch": 0, "global_step": 0}
    if checkpoint is not None:
        position = load_checkpoint(accelerator, checkpoint)
        scheduler.load_state_dict(scheduler_state(checkpoint, position.pop("scheduler", None)))
        if main:
            log.info("resumed from %s at %s", checkpoint, position)

    evaluator = OnlineKNN(cfg, accelerator.device) if eval_enabled and main else None
    if evaluator is not None and evaluator.baseline is None:
        evaluator.set_baseline(run_dir, method.backbone)
    accelerator.wait_for_everyone()

    if main:
        log.info(
            "%s: %d videos, %d plans/epoch, %d processes x %d per device x %d accumulation = global "
            "batch %d, %d steps/epoch, run folder %s",
            run_name, len(source), len(dataset), accelerator.num_processes, t.batch_size,
            t.grad_accumulation, global_batch, steps_per_epoch, run_dir,
        )  # fmt: skip
    logger = RunLog(run_dir, main, t.log_with, run_name, to_dict(cfg))
    recon_frames = reconstruction_frames(cfg, source, method) if main else None
    bar = tqdm(total=total_steps, initial=position["global_step"], disable=not (main and t.progress),
               desc=run_name, unit="step", dynamic_ncols=True)  # fmt: skip

    def checkpoint_now() -> Path:
        # the schedule's state travels in trainer_state.json (JSON: nothing unpickled on resume)
        state = {**position, "scheduler": scheduler.state_dict()}
        return save_checkpoint(accelerator, run_dir, state, t.keep_checkpoints)

    started, samples_seen, skipped_total, nonfinite = time.perf_counter(), 0, 0, 0
    last_checkpoint = checkpoint  # the newest checkpoint written (or resumed from)
    bad_while_training: dict[str, str] = {}  # path -> problem, videos that failed to decode
    interrupted: int | None = None
    window: dict[str, list[float]] = {}
    done = position["global_step"] >= total_steps
    epoch = position["epoch"]
    while not done and epoch < t.epochs:
        model.train()
        epoch_loader = loader
        if position["step_in_epoch"]:
            epoch_loader = accelerator.skip_first_batches(loader, position["step_in_epoch"])
        # Through the loader: Accelerate passes it to EpochIndices (a fresh skip-loader would
        # otherwise start from its own count of 0).
        epoch_loader.set_epoch(epoch)
        for batch in epoch_loader:
            with accelerator.accumulate(model):
                outputs = model(batch)
                flags = _step_flags(accelerator, outputs["loss"], batch["skipped"], stop.received)
                skip = flags.nonfinite
                if skip:
                    # also drop this accumulation window's earlier gradients: with several
                    # processes no backward here means no all-reduce, and stepping on them would
                    # apply each process's own unsynchronized gradients
                    optimizer.zero_grad(set_to_none=True)
                    nonfinite += 1
                    _nonfinite_step(t, outputs["loss"], position, last_checkpoint)
                else:
                    accelerator.backward(outputs["loss"])
                if accelerator.sync_gradients and cfg.optim.clip_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), cfg.optim.clip_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            position["step_in_epoch"] += 1
            skipped_total += flags.skipped
            for lines in batch.get("skipped_videos", []):
                for line in filter(None, lines.split("\n")):
                    path, why = line.split("\t", 1)
                    bad_while_training.setdefault(path, why)
            samples_seen += t.batch_size * accelerator.num_processes
            for name, value in outputs.items():
                if not skip:  # a skipped step's NaN stays out of the logs
                    window.setdefault(name, []).append(value.detach().float())
            if not accelerator.sync_gradients:
                continue
            scheduler.step()
            method.on_step_end(position["global_step"], total_steps)
            position["global_step"] += 1
            bar.update()
            step = position["global_step"]
            if step % t.log_every == 0 or step == total_steps:
                metrics = _reduce(accelerator, window)
                window = {}
                rate = samples_seen / (time.perf_counter() - started)
                metrics.update(lr=scheduler.get_last_lr()[0], samples_per_s=rate, epoch=epoch)
                if "loss" in metrics:  # not when every step of the window was skipped
                    bar.set_postfix(loss=f"{metrics['loss']:.4f}", samples_s=f"{rate:.0f}")
                logger.write(step, metrics)
            if t.checkpoint_every and step % t.checkpoint_every == 0:
                last_checkpoint = checkpoint_now()
            if step >= total_steps:
                done = True
                break
            interrupted = flags.stop_signal
            if interrupted:
                break
        if interrupted:
            break
        if not done:
            epoch += 1
            position.update(epoch=epoch, step_in_epoch=0)
            last_checkpoint = checkpoint_now()
            if cfg.eval.every_epochs and epoch % cfg.eval.every_epochs == 0:
                with _rng_untouched(accelerator):  # a resumed run does not repeat this evaluation
                    if evaluator:
                        logger.write(position["global_step"], evaluator.evaluate(method.backbone))
                    _log_reconstruction(logger, method, recon_frames, cfg, position["global_step"])
            accelerator.wait_for_everyone()
    bar.close()
    final = checkpoint_now()
    accelerator.wait_for_everyone()
    if accelerator.num_processes > 1:
        bad_while_training = {k: v for d in gather_object([bad_while_training]) for k, v in d.items()}
    if interrupted:
        name = StopRequests.name(interrupted)
        if main:
            print(
                f"Interrupted by {name} at step {position['global_step']} of {total_steps}: "
                f"checkpoint {final}; continue with trainer.resume=auto (same config and run name)"
            )
        logger.close()
        return {"interrupted": name, "checkpoint": str(final), "steps": position["global_step"]}
    if not main:
        return {}
    elapsed = time.perf_counter() - started
    reconstruction = _log_reconstruction(logger, method, recon_frames, cfg, position["global_step"])
    summary = {
        "run_dir": str(run_dir),
        "checkpoint": str(final),
        "steps": position["global_step"],
        "epochs": round(position["global_step"] / steps_per_epoch, 2),
        "processes": accelerator.num_processes,
        "global_batch": global_batch,
        "seconds": round(elapsed, 1),
        "samples_per_s": round(samples_seen / elapsed, 1) if elapsed else 0.0,
        "last_metrics": logger.last,
        "skipped_plans": skipped_total,
        "nonfinite_steps": nonfinite,
        "unreadable_videos": len(source.unreadable),
        # every file left out, with why: at indexing (not a readable video) or while training
        "unreadable": [{"path": p, "reason": why, "found": "indexing"} for p, why in source.unreadable]
        + [
            {"path": p, "reason": why, "found": "decoding"}
            for p, why in sorted(bad_while_training.items())
        ],
    }
    if evaluator is not None:
        summary["knn"] = evaluator.evaluate(method.backbone)
        summary["knn_random_init"] = evaluator.baseline
        logger.write(position["global_step"], summary["knn"])
    if reconstruction:
        summary["reconstruction"] = reconstruction
    logger.close()
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(format_summary(summary))
    return summary


def format_summary(summary: dict) -> str:
    """A readable end-of-run table."""
    lines = [
        "",
        f"Run finished: {summary['run_dir']}",
        f"  steps {summary['steps']} ({summary['epochs']} epochs), {summary['processes']} process(es), "
        f"global batch {summary['global_batch']}, {summary['seconds']:.0f} s, "
        f"{summary['samples_per_s']:.0f} samples/s",
        "  last metrics: "
        + ", ".join(f"{k} {v:.4g}" for k, v in summary["last_metrics"].items() if k not in ("epoch",)),
        f"  checkpoint: {summary['checkpoint']}",
    ]
    if summary.get("nonfinite_steps"):
        lines.append(
            f"  non-finite losses: {summary['nonfinite_steps']} step(s) skipped (trainer.skip_nonfinite)"
        )
    if summary["skipped_plans"] or summary["unreadable_videos"] or summary.get("unreadable"):
        found = summary.get("unreadable", [])
        lines.append(
            f"  unreadable videos skipped: {summary['unreadable_videos']} at indexing, "
            f"{sum(u['found'] == 'decoding' for u in found)} while decoding; "
            f"{summary['skipped_plans']} training plans replaced"
        )
        lines += [f"    {u['path']}: {u['reason']}" for u in found[:20]]
        if len(found) > 20:
            lines.append(f"    ... and {len(found) - 20} more (summary.json lists them all)")
    if "reconstruction" in summary:
        r = summary["reconstruction"]
        lines.append(f"  reconstructions: PSNR {r['psnr']:.2f} dB, SSIM {r['ssim']:.3f}, {r['image']}")
    if "knn" in summary:
        lines += [
            "",
            "  kNN top-1 accuracy (k=20, cosine, per-video embeddings)",
            "  | labels | random init | trained |",
            "  |---|---:|---:|",
        ]
        for name, value in summary["knn"].items():
            base = summary["knn_random_init"].get(name, float("nan"))
            lines.append(f"  | {name.removeprefix('knn_')} | {base:.3f} | {value:.3f} |")
    return "\n".join(lines)


def _run_dir(accelerator: Accelerator, base: Path, checkpoint: Path | None) -> Path:
    if checkpoint is not None:
        return checkpoint.parent.parent
    # a random suffix keeps two runs started in the same second apart
    stamp = [f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"]
    broadcast_object_list(stamp)  # every process uses the main process's folder name
    return base / stamp[0]


def training_loader(dataset, batch_size: int, num_workers: int, seed: int) -> DataLoader:
    """The training DataLoader over a `PlanDataset`: the epoch's plans in order (they are already
    shuffled), whole batches only; `accelerator.prepare` then hands each process its own batches."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochIndices(len(dataset)),
        drop_last=True,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=torch.cuda.is_available(),
        # Its own generator: starting an epoch's iterator draws a seed for the workers, which
        # from torch's global generator would shift what a method draws there (masks, patch
        # positions, dropout) between a resumed run and an uninterrupted one. (Augmentations
        # are seeded per item, see PlanDataset.)
        generator=torch.Generator().manual_seed(seed),
        worker_init_fn=ignore_stop_signals,
    )


def sync_batchnorm(model: torch.nn.Module, accelerator: Accelerator) -> torch.nn.Module:
    """`trainer.sync_batchnorm`: BatchNorm layers (momentum encoders' too) share batch statistics
    across processes. One process: unchanged (its batch is the global batch)."""
    if accelerator.num_processes == 1:
        return model
    if accelerator.device.type == "cpu":
        raise ConfigError(
            "config key 'trainer.sync_batchnorm': PyTorch's SyncBatchNorm runs on GPUs only, and "
            f"this run has {accelerator.num_processes} CPU processes; set trainer.sync_batchnorm=false "
            "(each process then normalizes its own share of the batch)",
            key="trainer.sync_batchnorm",
        )
    return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)


def _reduce(accelerator: Accelerator, window: dict[str, list[torch.Tensor]]) -> dict[str, float]:
    """Mean of each metric over the window and over processes."""
    return {
        name: accelerator.reduce(torch.stack(values).mean().to(accelerator.device), "mean").item()
        for name, values in window.items()
    }


class StepFlags(NamedTuple):
    """What all processes must agree on after a forward pass (one all-gather: see `_step_flags`)."""

    nonfinite: bool  # some process's loss is NaN or infinite: all skip or stop together
    skipped: int  # plans replaced for unreadable videos in this batch, over all processes
    stop_signal: int | None  # a SIGTERM / SIGINT some process received (the largest), else None


def _step_flags(accelerator: Accelerator, loss: torch.Tensor, skipped: torch.Tensor,
                received: int | None) -> StepFlags:  # fmt: skip
    """The step's `StepFlags`, agreed across processes by a single all-gather of 3 numbers (one
    collective per step besides DDP's, instead of one per flag)."""
    mine = torch.stack([
        (~torch.isfinite(loss.detach())).any().float(),
        skipped.sum().float(),
        torch.tensor(float(received or 0), device=skipped.device),
    ]).to(accelerator.device)  # fmt: skip
    every = accelerator.gather(mine[None]).cpu()  # (processes, 3); one process: itself
    return StepFlags(bool(every[:, 0].sum() > 0), int(every[:, 1].sum()), int(every[:, 2].max()) or None)


def _nonfinite_step(t, loss: torch.Tensor, position: dict, last_checkpoint: Path | None) -> None:
    """Log a skipped non-finite step, or raise `NonFiniteLossError` when skipping is off."""
    step = position["global_step"] + 1
    where = f"step {step} (epoch {position['epoch']}, batch {position['step_in_epoch'] + 1})"
    if t.skip_nonfinite:
        log.warning("non-finite loss (%s) at %s: its update is skipped", loss.item(), where)
        return
    good = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint yet"
    raise NonFiniteLossError(
        f"the loss is {loss.item()} at {where}; stopped, {good}. Resume from it with a lower "
        "optim.lr or optim.clip_grad_norm set, or set trainer.skip_nonfinite=true to skip such steps"
    )


def _rng_untouched(accelerator: Accelerator):
    """torch's global generators (CPU and this process's GPU) as they were, after the block: an
    evaluation between epochs, which a run resumed from that epoch's checkpoint does not repeat,
    must not shift what training draws next."""
    device = accelerator.device
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def _log_to_file(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("tempssl").addHandler(handler)
    return handler


def reconstruction_frames(cfg: TrainConfig, source, method) -> torch.Tensor | None:
    """Frames a restoring method (one with `reconstruct`) shows its work on at evaluation time:
    8 of the toy `val` split's videos (held out) with the built-in data, else 8 of the training
    videos (the user's held-out frames: `tools/reconstruct.py`). None for other methods."""
    if not hasattr(method, "reconstruct"):
        return None
    held = sources.load_source("toy:val", progress=False) if cfg.data.root is None else source
    try:
        return held_out_frames(held, 8, cfg.transforms.size, **cfg.transforms.normalization())
    except ValueError as error:
        log.warning("no reconstructions at evaluation time: %s", error)
        return None


def _log_reconstruction(logger, method, frames, cfg: TrainConfig, step: int) -> dict | None:
    """PSNR / SSIM of the method's reconstructions as metrics, the grid as an image."""
    if frames is None:
        return None
    metrics, grid = evaluate_reconstruction(method, frames, **cfg.transforms.normalization())
    logger.write(step, {f"reconstruction_{k}": v for k, v in metrics.items()})
    path = logger.images(step, "reconstructions", grid)
    log.info("reconstructions at step %d: %s (PSNR %.2f dB, SSIM %.3f)", step, path,
             metrics["psnr"], metrics["ssim"])  # fmt: skip
    return metrics | {"image": str(path)}
