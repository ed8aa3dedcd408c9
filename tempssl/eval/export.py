"""Export the backbone of a trained checkpoint as plain weights that load without tempssl.

    result = export_backbone("runs/tcn/20250101-120000", "resnet18_tcn.safetensors")

writes `resnet18_tcn.safetensors` (a state dict that loads with `strict=True` into
`torchvision.models.resnet18()`) and a card `resnet18_tcn.safetensors.md` next to it (method,
backbone, training settings, source checkpoint, date, usage). Before anything is written, the
weights are loaded strictly into the target model and its features are compared with the trained
backbone's on a random input; any difference is an error.

One exporter per backbone name, in the registry `EXPORTERS`:

- `resnet18`, `resnet50`: torchvision's state dict. Our backbones replace the classifier by the
  identity, so `fc.weight` / `fc.bias` (1000 classes) are added as zeros: replace or train them.
- `r3d_18`, `r2plus1d_18`, `mc3_18`: the same for `torchvision.models.video.<arch>()` (a zero
  400-class `fc`); checked on a random clip `(2, 3, 4, size, size)`.
- `vit_tiny`, `vit_small`, `vit_base`: timm's state dict as it is (our ViT uses timm's names), for
  `timm.create_model("vit_<size>_patch16_224", pretrained=False, num_classes=0, img_size=...,
  patch_size=...)`, which has no classifier tensors. Needs timm (`pip install -e ".[timm]"`).
- `x3d_xs`, `x3d_s`, `slow_r50`, `r2plus1d_r50`: pytorchvideo's builder state dict (e.g. for
  `pytorchvideo.models.x3d.create_x3d(input_clip_length=4, input_crop_size=160)`), with a zero
  400-class `blocks.5.proj`; checked after `tempssl.models.pytorchvideo_backbones.as_backbone`
  (classifier dropped, pooling global). Needs pytorchvideo (`pip install -e ".[pytorchvideo]"`).
- `small_cnn`, `small_3dcnn`: their own state dict; rebuild with
  `tempssl.models.build_backbone("small_cnn", width=...)` (or `"small_3dcnn"`).

A new backbone gets a function `(backbone, cfg) -> BackboneExport` registered with
`@exporter("<name>")`: it maps the state dict's keys to the target library's, and gives `build` (the
target, randomly initialized) and `features` (the target turned into a feature extractor, e.g. a
classifier replaced by the identity) so that the export is checked like the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import torch
import torchvision
from safetensors.torch import save_file
from torch import nn

from tempssl import __version__
from tempssl.atomic import atomic_path
from tempssl.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from tempssl.eval.checkpoints import checkpoint_state, find_config, load_method
from tempssl.models import build_backbone, input_kind, pytorchvideo_backbones, without_classifier
from tempssl.models.backbones import input_channels, set_input_channels, use_small_stem
from tempssl.models.vit import VisionTransformer
from tempssl.registry import Registry
from tempssl.schema import TrainConfig

__all__ = [
    "EXPORTERS",
    "FORMATS",
    "BackboneExport",
    "ExportError",
    "ExportResult",
    "export_backbone",
    "exporter",
    "prepare_export",
]

FORMATS = {"safetensors": ".safetensors", "pt": ".pt"}
_SUFFIX_FORMATS = {".safetensors": "safetensors", ".pt": "pt", ".pth": "pt", ".bin": "pt"}


class ExportError(ValueError):
    """A backbone that cannot be exported, or an export that does not reproduce the backbone."""


@dataclass
class BackboneExport:
    """What an exporter makes of a trained backbone.

    Attributes:
        state_dict: plain, contiguous CPU tensors, named as the target model expects.
        target: the expression that builds the target model, e.g. `"torchvision.models.resnet18()"`.
        modules: what `target` needs imported (`import <module>`), e.g. `["torchvision"]`.
        build: builds the target model (random initialization), to check the export.
        features: turns a loaded target model into a feature extractor that must give the same
            output as the trained backbone (e.g. ResNet: its classifier replaced by the identity).
        notes: lines for the card (what differs from the trained backbone, what to do about it).
        check_size: input height and width for the feature check (None: `transforms.size` of the
            run's config); a ViT needs its own patch grid's size.
        check_frames: T of the random clip `(2, 3, T, size, size)` that checks a clip backbone
            (`input_kind(backbone) == "clip"`); frame backbones get `(2, 3, size, size)`.
        setup: Python lines the card runs on `model` after building the target and before
            loading (e.g. the small-image ResNet stem's two replacements); `build` does the same.
    """

    state_dict: dict[str, torch.Tensor]
    target: str
    modules: list[str]
    build: Callable[[], nn.Module]
    features: Callable[[nn.Module], nn.Module] = lambda model: model
    notes: list[str] = field(default_factory=list)
    check_size: int | None = None
    check_frames: int = 4
    setup: list[str] = field(default_factory=list)


@dataclass
class ExportResult:
    """What `export_backbone` wrote."""

    path: Path
    card: Path
    format: str
    backbone: str
    method: str
    target: str
    checkpoint: Path
    num_tensors: int
    num_parameters: int
    max_feature_difference: float


Exporter = Callable[[nn.Module, TrainConfig], BackboneExport]
EXPORTERS: Registry[Exporter] = Registry("exporter")


def exporter(name: str) -> Callable[[Exporter], Exporter]:
    """Register `fn(backbone, cfg) -> BackboneExport` as the exporter of backbone `name`
    (`EXPORTERS.register(name)`; a name can be registered once)."""
    return EXPORTERS.register(name)


def _torchvision_resnet(arch: str, package: ModuleType = torchvision.models) -> Exporter:
    """Exporter to `<package>.<arch>()` (e.g. `torchvision.models.video.r3d_18()`): our keys, plus a
    zero classifier (1000 ImageNet classes for images, 400 Kinetics classes for video)."""

    def export(backbone: nn.Module, cfg: TrainConfig) -> BackboneExport:
        state = _plain(backbone.state_dict())
        if "fc.weight" in state:
            raise ExportError(f"{arch} backbone has a classifier (fc.weight); expected fc = Identity")
        with torch.device("meta"):
            fc = getattr(package, arch)().fc
        state["fc.weight"] = torch.zeros(fc.weight.shape)
        state["fc.bias"] = torch.zeros(fc.bias.shape)
        notes = [
            f"The classifier `fc` ({fc.in_features} -> {fc.out_features} classes) is zero: replace "
            f"or train it. The trained part is everything before it: `model.fc = "
            f"torch.nn.Identity()` gives the {fc.in_features}-d features that training learned.",
        ]
        if input_kind(backbone) == "clip":
            notes.append("It takes clips: `float (B, 3, T, H, W)`.")
        small_stem = bool(getattr(backbone, "small_stem", False))
        channels = input_channels(backbone)
        setup = []
        if small_stem:
            width = backbone.conv1.out_channels
            setup = [
                f"model.conv1 = torch.nn.Conv2d({channels}, {width}, 3, stride=1, padding=1, "
                "bias=False)",
                "model.maxpool = torch.nn.Identity()",
            ]
            notes.append(
                "Trained with the small-image stem (3x3 stride-1 conv1, no max-pool, for 28-64 px "
                "images): the two lines after building the model set it up before loading."
            )
        elif channels != 3:
            width = backbone.conv1.out_channels
            setup = [
                f"model.conv1 = torch.nn.Conv2d({channels}, {width}, 7, stride=2, padding=3, bias=False)"
            ]
        if channels != 3:
            notes.append(_channels_note(channels))

        def build() -> nn.Module:
            model = getattr(package, arch)(weights=None)
            if small_stem:
                return use_small_stem(model, channels)
            return set_input_channels(model, channels) if channels != 3 else model

        return BackboneExport(
            state_dict=state,
            target=f"{package.__name__}.{arch}()",
            modules=["torch", "torchvision"] if setup else ["torchvision"],
            build=build,
            features=lambda model: without_classifier(model, input_kind(backbone)),
            notes=notes,
            setup=setup,
        )

    return export


for _arch in ("resnet18", "resnet50"):
    EXPORTERS.register(_arch, _torchvision_resnet(_arch))
for _arch in ("r3d_18", "r2plus1d_18", "mc3_18"):
    EXPORTERS.register(_arch, _torchvision_resnet(_arch, torchvision.models.video))


def _pytorchvideo(name: str) -> Exporter:
    """Exporter to pytorchvideo's builder of `name` (`create_x3d(...)` etc., see
    `tempssl.models.pytorchvideo_backbones`): our keys plus a zero 400-class `blocks.5.proj`."""

    def export(backbone: nn.Module, cfg: TrainConfig) -> BackboneExport:
        try:
            return BackboneExport(**pytorchvideo_backbones.export_fields(name, backbone))
        except (ImportError, ValueError) as error:  # pytorchvideo missing, or another network
            raise ExportError(f"cannot export {name}: {error}") from error

    return export


for _name in pytorchvideo_backbones.BUILDERS:
    EXPORTERS.register(_name, _pytorchvideo(_name))


def _rebuilt_with_tempssl(name: str) -> Exporter:
    """Exporter of tempssl's SmallCNN / Small3DCNN: no torchvision/timm model matches, so the
    target is the same backbone rebuilt with tempssl."""

    def export(backbone: nn.Module, cfg: TrainConfig) -> BackboneExport:
        state = _plain(backbone.state_dict())
        args = {**cfg.model.args, "width": int(state["features.0.weight"].shape[0])}
        shown = ", ".join(f"{key}={value!r}" for key, value in args.items())
        return BackboneExport(
            state_dict=state,
            target=f'tempssl.models.build_backbone("{name}", {shown})',
            modules=["tempssl.models"],
            build=lambda: build_backbone(name, **args),
            notes=[
                "No torchvision or timm model has this architecture: rebuild it with tempssl "
                f'(`tempssl.models.build_backbone("{name}", {shown})`, '
                f"{args['width'] * 8}-d features).",
            ]
            + ([_channels_note(input_channels(backbone))] if input_channels(backbone) != 3 else []),
        )

    return export


for _name in ("small_cnn", "small_3dcnn"):
    EXPORTERS.register(_name, _rebuilt_with_tempssl(_name))


def _tempssl_video_vit(name: str) -> Exporter:
    """Exporter of the video ViTs (VideoMAE's encoder): no timm or torchvision model takes
    tubelets, so the target is the same backbone rebuilt with tempssl from the run's arguments."""

    def export(backbone: nn.Module, cfg: TrainConfig) -> BackboneExport:
        args = {
            "img_size": backbone.img_size,
            "num_frames": backbone.num_frames,
            "patch_size": backbone.patch_size,
            "tubelet": backbone.tubelet,
        }
        shown = ", ".join(f"{key}={value!r}" for key, value in args.items())
        return BackboneExport(
            state_dict=_plain(backbone.state_dict()),
            target=f'tempssl.models.build_backbone("{name}", {shown})',
            modules=["tempssl.models"],
            build=lambda: build_backbone(name, **args),
            check_size=backbone.img_size,
            check_frames=backbone.num_frames,
            notes=[
                "No timm or torchvision model takes tubelets: rebuild it with tempssl "
                f'(`tempssl.models.build_backbone("{name}", {shown})`); inputs are '
                f"{backbone.num_frames}-frame {backbone.img_size} px clips `(B, 3, T, H, W)`, the "
                f"feature the mean of the {backbone.out_dim}-d tokens.",
            ],
        )

    return export


for _name in ("video_vit_tiny", "video_vit_small"):
    EXPORTERS.register(_name, _tempssl_video_vit(_name))


def _timm_vit(size: str) -> Exporter:
    """Exporter to timm's `vit_<size>_patch16_224` at the backbone's image and patch size, without
    classifier (`num_classes=0`): our ViT has timm's parameter names, so the keys stay as they are."""

    def export(backbone: nn.Module, cfg: TrainConfig) -> BackboneExport:
        if not isinstance(backbone, VisionTransformer):
            raise ExportError(
                f"vit_{size} exporter expects a tempssl.models.vit.VisionTransformer, got "
                f"{type(backbone).__name__}"
            )
        timm = _import_timm()
        arch = f"vit_{size}_patch16_224"
        kwargs = {
            "pretrained": False,
            "num_classes": 0,
            "img_size": backbone.img_size,
            "patch_size": backbone.patch_size,
        }
        if backbone.global_pool == "avg":  # mean of the patch tokens after the final norm
            kwargs |= {"global_pool": "avg", "fc_norm": False}
        if input_channels(backbone) != 3:
            kwargs["in_chans"] = input_channels(backbone)
        feature = (
            "the class token after the final norm"
            if backbone.global_pool == "token"
            else "the mean of the patch tokens after the final norm"
        )
        shown = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
        return BackboneExport(
            state_dict=_plain(backbone.state_dict()),
            target=f'timm.create_model("{arch}", {shown})',
            modules=["timm"],
            build=lambda: timm.create_model(arch, **kwargs),
            check_size=backbone.img_size,
            notes=[
                f"With `num_classes=0` the model gives the {backbone.out_dim}-d features that training "
                f"learned ({feature}); `model.reset_classifier(n)` adds an "
                f"untrained n-class head.",
                f"Inputs must be {backbone.img_size}x{backbone.img_size} (one position embedding per "
                f"{backbone.patch_size}x{backbone.patch_size} patch). timm's `pretrained_cfg` for "
                f"`{arch}` (mean, std, input size) describes timm's own weights, not these: preprocess "
                f"as in training (see Input below).",
            ],
        )

    return export


for _size in ("tiny", "small", "base"):
    EXPORTERS.register(f"vit_{_size}", _timm_vit(_size))


def _channels_note(channels: int) -> str:
    if channels == 1:
        return (
            "It takes one input channel, the CIE Lab lightness centred and scaled as "
            "`(L - 50) / 50` (colorization's input; `tempssl.data.color.backbone_input` makes it "
            "from RGB frames): `float (B, 1, H, W)`."
        )
    return f"It takes {channels} input channels: `float (B, {channels}, H, W)`."


def _import_timm() -> ModuleType:
    try:
        import timm  # optional (the timm extra), needed by ViT exports only
    except ImportError as error:
        raise ExportError(
            "ViT exports load into timm, which is not installed: pip install timm "
            '(or pip install -e ".[timm]")'
        ) from error
    return timm


def prepare_export(backbone: nn.Module, name: str, cfg: TrainConfig) -> tuple[BackboneExport, float]:
    """Export `backbone` (registered name `name`) and check it: returns the export and the largest
    absolute difference between the target model's features and the backbone's on a random input.

    Raises:
        ExportError: no exporter for `name` (the message lists the supported ones), the state dict
            does not load with `strict=True` into the target, or the features differ.
    """
    if name not in EXPORTERS:
        # `name` is a registered backbone (the run's), so no "did you mean": it has no exporter yet.
        raise ExportError(
            f"cannot export backbone {name!r}: supported backbones are {', '.join(EXPORTERS.names())} "
            f"(add an exporter to tempssl.eval.export.EXPORTERS)"
        )
    export = EXPORTERS.get(name)(backbone, cfg)
    target = export.build()
    try:
        target.load_state_dict(export.state_dict, strict=True)
    except RuntimeError as error:
        raise ExportError(
            f"exported {name} weights do not load into {export.target}: {error}"
        ) from error
    device = next(backbone.parameters()).device  # the same kernels on both sides (TF32 on GPUs)
    target = export.features(target).eval().to(device)
    size = export.check_size or cfg.transforms.size
    if input_kind(backbone) == "clip":
        frames = export.check_frames
        shape, described = (2, 3, frames, size, size), f"{frames}x{size}x{size} clip"
    else:
        shape, described = (2, input_channels(backbone), size, size), f"{size}x{size} input"
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    was_training = backbone.training
    backbone.eval()
    try:
        with torch.no_grad():
            ours = backbone(x.to(device)).float().cpu()
            theirs = target(x.to(device)).float().cpu()
    finally:
        backbone.train(was_training)
    if ours.shape != theirs.shape:
        raise ExportError(
            f"exported {name} weights loaded into {export.target} give features of shape "
            f"{tuple(theirs.shape)}, the trained backbone {tuple(ours.shape)}"
        )
    difference = (ours - theirs).abs().max().item()
    if not torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4):
        raise ExportError(
            f"exported {name} weights loaded into {export.target} give other features than the "
            f"trained backbone (max |difference| {difference:.3g} on a random {described})"
        )
    return export, difference


def export_backbone(
    checkpoint: str | Path,
    out: str | Path,
    format: str | None = None,
    device: str | torch.device = "cpu",
    config: str | Path | None = None,
) -> ExportResult:
    """Write the backbone of `checkpoint` to `out` as plain weights, with a card `<out>.md`.

    Args:
        checkpoint: a run folder, its checkpoints folder, a step folder or a weights file (see
            `tempssl.eval.checkpoints.resolve_checkpoint`).
        out: the weights file to write. Its suffix chooses the format when `format` is None
            (`.safetensors`, or `.pt`/`.pth`/`.bin` for `torch.save`); without a suffix, the
            format's own is appended.
        format: "safetensors" (default) or "pt" (`torch.save` of a dict of plain tensors).
        device: where the checkpoint is loaded to check the export.
        config: the run's config.yaml, if it is not in the run folder.

    Raises:
        FileNotFoundError, CheckpointError, ConfigError: see `load_method`.
        ExportError: unsupported backbone or format, or an export that does not reproduce the
            backbone. Nothing is written then.
    """
    path, format = _out_path(Path(out), format)
    method, cfg, source = load_method(checkpoint, device=device, config=config)
    name = cfg.model.backbone
    export, difference = prepare_export(method.backbone, name, cfg)
    state = export.state_dict
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "safetensors":
        metadata = {
            "format": "pt",
            "backbone": name,
            "method": cfg.method.name,
            "target": export.target,
            "checkpoint": str(source.resolve()),
        }
        _atomic(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))
    else:
        _atomic(path, lambda tmp: torch.save(state, tmp))
    result = ExportResult(
        path=path,
        card=path.with_name(path.name + ".md"),
        format=format,
        backbone=name,
        method=cfg.method.name,
        target=export.target,
        checkpoint=source,
        num_tensors=len(state),
        num_parameters=sum(p.numel() for p in method.backbone.parameters()),
        max_feature_difference=difference,
    )
    others: dict[str, int] = {}
    for key in method.state_dict():
        if not key.startswith("backbone."):
            others[key.split(".")[0]] = others.get(key.split(".")[0], 0) + 1
    text = model_card(result, cfg, export, others, config)
    _atomic(result.card, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return result


def model_card(
    result: ExportResult,
    cfg: TrainConfig,
    export: BackboneExport,
    others: dict[str, int] | None = None,
    config: str | Path | None = None,
) -> str:
    """The README-style card of an export: what it is, how it was trained, how to load it.

    Args:
        result: what was written.
        cfg: the run's config.
        export: the exporter's output (target model, notes).
        others: tensors of the method that were not exported, counted by top-level module name.
        config: the config's path (default: found next to the checkpoint).
    """
    state = checkpoint_state(result.checkpoint) or {}
    config_path = Path(config) if config is not None else _config_or_none(result.checkpoint)
    t, o, data = cfg.trainer, cfg.optim, cfg.data
    data_text = "built-in toy dataset (`tempssl.data.toy`)" if data.root is None else f"`{data.root}`"
    steps = (
        f"global step {state['global_step']} (trainer_state.json: epoch {state.get('epoch')}, "
        f"step_in_epoch {state.get('step_in_epoch')})"
        if "global_step" in state
        else "an unknown step (no trainer_state.json)"
    )
    processes = _processes(result.checkpoint)
    batch = f"{t.batch_size} per process x {t.grad_accumulation} accumulation"
    if processes:
        batch += (
            f" x {processes} process(es) = global batch {t.batch_size * t.grad_accumulation * processes}"
        )
    else:
        batch += " (number of processes unknown)"
    optim = f"{o.name}, lr {o.lr:g}"
    if o.lr_batch_size:
        optim += f" for batch {o.lr_batch_size} (scaled linearly with the global batch)"
    optim += (
        f", weight decay {o.weight_decay:g}, {o.schedule} schedule, warmup {o.warmup_epochs:g} epochs"
    )
    norm = cfg.transforms.normalization()
    if norm["mean"] is None:
        normalization = "not normalized further"
    elif (tuple(norm["mean"]), tuple(norm["std"])) == (IMAGENET_MEAN, IMAGENET_STD):
        normalization = f"normalized with the ImageNet mean {IMAGENET_MEAN} and std {IMAGENET_STD}"
    else:
        normalization = f"normalized with mean {tuple(norm['mean'])} and std {tuple(norm['std'])}"
    if result.format == "safetensors":
        loader, load = "safetensors.torch", f'safetensors.torch.load_file("{result.path.name}")'
    else:
        loader, load = "torch", f'torch.load("{result.path.name}", weights_only=True)'
    notes = list(export.notes)
    if others:
        shown = ", ".join(f"`{name}.*` ({count} tensors)" for name, count in others.items())
        notes.append(
            f"Only the backbone is exported; the rest of the method stays in the checkpoint: {shown}."
        )
    lines = [
        f"# {result.backbone} backbone trained with {result.method} (tempssl)",
        "",
        f"`{result.path.name}`: {result.format}, {result.num_tensors} tensors, "
        f"{result.num_parameters / 1e6:.2f}M backbone parameters. Loads with `strict=True` into "
        f"`{result.target}` (checked at export: same features as the trained backbone, max "
        f"|difference| {result.max_feature_difference:.2g}).",
        "",
        "```python",
        f"import {', '.join(dict.fromkeys([loader, *export.modules]))}",
        f"model = {result.target}",
        *export.setup,
        f"model.load_state_dict({load}, strict=True)",
        "```",
        "",
        *[f"- {note}" for note in notes],
        "",
        "## Training",
        "",
        f"- Method: `{result.method}`, args {_args(cfg.method.args)}",
        f"- Backbone: `{result.backbone}`, args {_args(cfg.model.args)}",
        f"- Data: {data_text}, layout `{data.layout}`; sampler `{cfg.sampler.name}`, args "
        f"{_args(cfg.sampler.args)}",
        f"- Input: RGB scaled to [0, 1], {normalization}; trained on {cfg.transforms.size}x"
        f"{cfg.transforms.size} crops (transform `{cfg.transforms.name}`)",
        f"- Epochs: {t.epochs} configured"
        + (f" (max_steps {t.max_steps})" if t.max_steps else "")
        + f"; checkpoint at {steps}",
        f"- Batch size: {batch}",
        f"- Optimizer: {optim}",
        f"- Seed: {t.seed}, mixed precision: {t.mixed_precision}",
        "",
        "## Source",
        "",
        f"- Checkpoint: `{Path(result.checkpoint).resolve()}`",
        f"- Config: `{config_path.resolve() if config_path else 'unknown'}`",
        f"- Exported: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} with tempssl "
        f"{_version()}",
        "",
    ]
    return "\n".join(lines)


def _out_path(out: Path, format: str | None) -> tuple[Path, str]:
    """The file to write and its format, from `--out` and `--format`."""
    if format is not None and format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}: expected one of {', '.join(FORMATS)}")
    from_suffix = _SUFFIX_FORMATS.get(out.suffix)
    if not out.suffix:
        format = format or "safetensors"
        return out.with_name(out.name + FORMATS[format]), format
    if from_suffix is None:
        raise ExportError(
            f"export file {out}: unknown suffix {out.suffix!r} (expected "
            f"{', '.join(_SUFFIX_FORMATS)}, or no suffix)"
        )
    if format is not None and format != from_suffix:
        raise ExportError(
            f"export file {out}: format {format!r} asked, but the suffix {out.suffix} means "
            f"{from_suffix!r}"
        )
    return out, from_suffix


def _plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies (no shared storage: safetensors refuses shared tensors)."""
    return {key: value.detach().to("cpu", copy=True).contiguous() for key, value in state.items()}


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` to a temporary file beside `path`, then rename it to `path`."""
    with atomic_path(path) as tmp:
        write(tmp)


def _processes(checkpoint: Path) -> int:
    """How many processes trained: Accelerate writes one `random_states_<rank>.pkl` each."""
    folder = checkpoint.parent if checkpoint.is_file() else checkpoint
    return len(list(folder.glob("random_states_*.pkl")))


def _config_or_none(checkpoint: Path) -> Path | None:
    try:
        return find_config(checkpoint)
    except FileNotFoundError:
        return None


def _args(args: dict) -> str:
    return "(defaults)" if not args else ", ".join(f"{key}={value!r}" for key, value in args.items())


def _version() -> str:
    return __version__
