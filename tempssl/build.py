"""Build the parts of a training run from its config: sources, sampler, dataset, model, method.

Below both `tempssl.engine` (training) and `tempssl.eval` (which rebuilds a run's network from its
checkpoint's config), so that neither imports the other for it.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from tempssl.config import ConfigError
from tempssl.data import sources
from tempssl.data.dataset import PlanDataset
from tempssl.data.motion import motion_profiles
from tempssl.data.sampling import SAMPLERS
from tempssl.data.transforms import ClipTransform, build_transform
from tempssl.methods import METHODS, Method
from tempssl.models import BACKBONES
from tempssl.registry import closest_match
from tempssl.schema import TrainConfig


def training_source(cfg: TrainConfig, progress: bool = True) -> sources.VideoSource:
    """The training videos: `data.root` in `data.layout`, or the toy train split when root is null.

    `layout: auto` means multiview for the multi-view sampler (scenes look like class folders).
    """
    data = cfg.data
    layout = data.layout
    if layout == "auto" and SAMPLERS.get(cfg.sampler.name).kind == "multiview":
        layout = "multiview"
    return sources.load_source(
        "toy:train" if data.root is None else data.root,
        layout,
        data.label_column,
        on_bad_video=data.on_bad_video,
        progress=progress,
    )


def toy_dataset(progress: bool = True) -> Path:
    """The built-in toy dataset's folder (generated on first use; see `tempssl.data.toy`)."""
    from tempssl.data.toy import toy_root

    return toy_root(progress=progress)


def training_dataset(
    cfg: TrainConfig,
    source: sources.VideoSource,
    seed: int,
    progress: bool = True,
    min_plans: int = 1,
    batch_size: int | None = None,
) -> PlanDataset:
    """The plans of `sampler`, decoded and transformed as configured.

    `min_plans`: the fewest plans an epoch may have (the trainer asks for one global batch); the
    sampler's footage rule multiplies its counts up to it (`tempssl.data.sampling`).
    `batch_size`: the per-process batch, for samplers that shape their plans by batch (multi-view
    blocks of one scene per batch); default `trainer.batch_size`.
    """
    sampler_cls = SAMPLERS.get(cfg.sampler.name)
    extra: dict = {}
    if cfg.sampler.motion_weighted:
        if cfg.sampler.name != "tuples":
            raise ConfigError(
                f"config key 'sampler.motion_weighted': only the 'tuples' sampler draws by motion, "
                f"not {cfg.sampler.name!r}",
                key="sampler.motion_weighted",
            )
        extra["motion"] = motion_profiles(source.videos, cfg.data.backend, progress=progress)
    extra["min_plans"] = min_plans
    if "batch_size" in inspect.signature(sampler_cls.__init__).parameters:
        extra["batch_size"] = cfg.trainer.batch_size if batch_size is None else batch_size
    sampler = construct("sampler.args", sampler_cls, cfg.sampler.args, source.videos, seed=seed, **extra)
    clip_transform = cfg.transforms.name in ("clip", "clip_eval")  # recipes check their own args
    transform = construct(
        "transforms.args",
        build_transform,
        cfg.transforms.args,
        cfg.transforms.name,
        size=cfg.transforms.size,
        signature_of=ClipTransform if clip_transform else None,
    )
    return PlanDataset(
        source,
        sampler,
        transform=transform,
        backend=cfg.data.backend,
        decode_size=cfg.decode_short_side(),
        on_bad_video=cfg.data.on_bad_video,
        decoder_threads=cfg.data.decoder_threads,
        seed=seed,
    )


def build_model(cfg: TrainConfig) -> Method:
    """The backbone wrapped in the configured method."""
    backbone = construct("model.args", BACKBONES.get(cfg.model.backbone), cfg.model.args)
    return construct("method.args", METHODS.get(cfg.method.name), cfg.method.args, backbone)


def initial_model(cfg: TrainConfig) -> Method:
    """The network a run of `cfg` starts from: `build_model` right after seeding torch with
    `trainer.seed`, as the trainer does (the random-init baseline of the evaluations)."""
    import torch

    torch.manual_seed(cfg.trainer.seed)
    return build_model(cfg)


def construct(key: str, factory, args: dict, *positional, signature_of=None, **fixed):
    """`factory(*positional, **fixed, **args)`; a bad entry of `args` is a ConfigError naming `key`.

    `signature_of`: the callable whose parameters `args` are checked against, when `factory` only
    forwards `**kwargs` to it (e.g. `build_transform` -> `ClipTransform`).
    """
    parameters = inspect.signature(signature_of or factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    valid = [
        name
        for name, p in list(parameters.items())[len(positional) :]
        if name not in fixed and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    target = (signature_of or factory).__name__
    for name in args:
        if not takes_any and name not in valid:
            close = closest_match(name, valid)
            hint = f"; did you mean '{close}'?" if close else ";"
            raise ConfigError(
                f"config key '{key}.{name}': unknown argument of {target}{hint} "
                f"valid arguments: {', '.join(valid)}"
            )
    try:
        return factory(*positional, **fixed, **args)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"config key '{key}' ({factory.__name__}): {error}") from error
