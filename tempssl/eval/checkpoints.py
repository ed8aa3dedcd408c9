"""Load a trained method back from a run folder or a checkpoint, for evaluation and export.

A training run (see `tempssl.engine.trainer`) is laid out as

    runs/<name>/<time>/config.yaml                    the resolved config
    runs/<name>/<time>/checkpoints/latest             text file: the newest step folder's name
    runs/<name>/<time>/checkpoints/step_00000600/     Accelerate state at global step 600:
        model.safetensors                             state dict of the Method (`backbone.*`, `head.*`)
        trainer_state.json                            loop position (epoch, step_in_epoch, global_step)

    method, cfg, checkpoint = load_method("runs/tcn/20250101-120000")
    features = method.backbone(frames)

Weights are read with `safetensors` (never pickle); a `.pt`/`.pth`/`.bin` file is read with
`torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file

from tempssl.build import build_model
from tempssl.checkpoint import CONFIG_FILE, LATEST, STATE_FILE, latest_checkpoint
from tempssl.config import ConfigError, load_config
from tempssl.methods import Method
from tempssl.models import BACKBONES, build_backbone
from tempssl.schema import TrainConfig

__all__ = [
    "CONFIG_FILE",
    "WEIGHT_FILES",
    "CheckpointError",
    "checkpoint_state",
    "find_config",
    "guess_backbone",
    "load_method",
    "load_weights",
    "resolve_checkpoint",
    "weights_file",
]

# Accelerate's names for the first model's weights: safetensors (default) or pickle.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PICKLE_SUFFIXES = (".pt", ".pth", ".bin")
WEIGHT_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES)
_EXPECTED = (
    "expected a run folder (containing checkpoints/latest), its checkpoints/ folder, a "
    f"checkpoints/step_* folder containing {WEIGHT_FILES[0]}, or a weights file "
    f"({', '.join(WEIGHT_SUFFIXES)})"
)
# Prefixes that wrappers add to every key: DistributedDataParallel, torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(ValueError):
    """A path that is not a usable checkpoint, or weights that do not fit the run's config."""


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint that `path` names: a `step_*` folder, or a weights file given directly.

    Args:
        path: a run folder (`runs/<name>/<time>`, uses `checkpoints/latest`), its `checkpoints/`
            folder (uses `latest`, else the highest step), a `step_*` folder, or a weights file
            (`.safetensors`, `.pt`, `.pth`, `.bin`).

    Raises:
        FileNotFoundError: `path` does not exist, or is a folder without any checkpoint.
        CheckpointError: `path` is a file that is not a weights file, `latest` names a missing
            folder, or the folder is an incomplete (`.partial_*`) checkpoint.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path}: no such file or folder ({_EXPECTED})")
    if path.is_file():
        if path.suffix in WEIGHT_SUFFIXES:
            return path
        raise CheckpointError(
            f"checkpoint {path}: a {path.suffix or 'plain'} file is not a checkpoint ({_EXPECTED})"
        )
    if path.name.startswith(".partial_"):
        raise CheckpointError(
            f"checkpoint {path}: an incomplete checkpoint (still being written, or the run stopped "
            f"while writing it); use a step_* folder instead"
        )
    if _weights_in(path) is not None:
        return path
    checkpoints = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = _newest_in(checkpoints)
    if found is not None:
        return found
    raise FileNotFoundError(f"checkpoint {path}: no checkpoint in this folder ({_EXPECTED})")


def weights_file(checkpoint: str | Path) -> Path:
    """The weights file of a resolved checkpoint (a step folder's `model.safetensors`, or the file)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_file():
        return checkpoint
    found = _weights_in(checkpoint)
    if found is None:
        raise FileNotFoundError(
            f"checkpoint {checkpoint}: no {' or '.join(WEIGHT_FILES)} in this folder"
        )
    return found


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict read from `path` on the CPU: safetensors, or `torch.load(weights_only=True)`.

    Keys prefixed by a wrapper (`module.` from DistributedDataParallel, `_orig_mod.` from
    torch.compile) on every entry are stripped.

    Raises:
        CheckpointError: the file cannot be read as weights, or holds something else than tensors.
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # safetensors and torch raise several unrelated types
        raise CheckpointError(
            f"checkpoint {path}: cannot read weights ({type(error).__name__}: {error})"
        ) from error
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]  # the common {"state_dict": ...} wrapping of .pt files
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"checkpoint {path}: expected a mapping of names to tensors (a state dict)"
        )
    state = dict(state)
    for prefix in _WRAPPER_PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            state = {key.removeprefix(prefix): value for key, value in state.items()}
    return state


def find_config(checkpoint: str | Path) -> Path:
    """The run's `config.yaml` for a checkpoint: two levels above a step folder.

    Raises:
        FileNotFoundError: no `config.yaml` in the run folder (or next to the checkpoint).
    """
    checkpoint = Path(checkpoint)
    folder = checkpoint.parent if checkpoint.is_file() else checkpoint
    candidates = [folder.parent.parent / CONFIG_FILE, folder.parent / CONFIG_FILE, folder / CONFIG_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"checkpoint {checkpoint}: no {CONFIG_FILE} found for it (looked for {candidates[0]}, the "
        f"run folder's config); pass the run's config explicitly"
    )


def checkpoint_state(checkpoint: str | Path) -> dict | None:
    """The loop position saved with a checkpoint (`trainer_state.json`), or None if there is none."""
    checkpoint = Path(checkpoint)
    folder = checkpoint.parent if checkpoint.is_file() else checkpoint
    try:
        return json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def load_method(
    path: str | Path, device: str | torch.device = "cpu", config: str | Path | None = None
) -> tuple[Method, TrainConfig, Path]:
    """Rebuild the trained method of a run from its config and load its weights (strictly).

    Args:
        path: anything `resolve_checkpoint` accepts (run folder, checkpoints folder, step folder,
            weights file).
        device: where to put the method.
        config: the run's `config.yaml`; by default found with `find_config`.

    Returns:
        `(method, cfg, checkpoint)`: the method in eval mode on `device`, the run's config, and the
        resolved checkpoint (step folder, or the weights file given).

    Raises:
        FileNotFoundError: no checkpoint, or no config.
        CheckpointError: unreadable weights, or weights that do not fit the model the config
            builds (the message names the config's backbone, the one the weights look like, and the
            first differing keys).
        ConfigError: the config does not load (message prefixed by its path).
    """
    checkpoint = resolve_checkpoint(path)
    config_path = Path(config) if config is not None else find_config(checkpoint)
    try:
        cfg = load_config(TrainConfig, config_path)
    except ConfigError as error:
        raise ConfigError(f"{config_path}: {error}", key=error.key) from error
    method = build_model(cfg)
    file = weights_file(checkpoint)
    state = load_weights(file)
    problem = _mismatch(method.state_dict(), state)
    if problem:
        guess = guess_backbone(state)
        if guess is None:
            looks = "no registered backbone has the weights' parameter names"
        elif guess == cfg.model.backbone:
            looks = f"the weights are also a {guess!r} backbone (compare model.args and method.args)"
        else:
            looks = f"the weights look like backbone {guess!r}"
        raise CheckpointError(
            f"checkpoint {file} does not fit the model of config {config_path} (model.backbone="
            f"{cfg.model.backbone!r}, model.args={cfg.model.args}, method.name={cfg.method.name!r}): "
            f"{looks}; {problem}"
        )
    method.load_state_dict(state, strict=True)
    return method.to(device).eval(), cfg, checkpoint


def guess_backbone(state: Mapping[str, torch.Tensor], prefix: str = "backbone.") -> str | None:
    """The registered backbone whose parameters match `state[prefix*]`, if any: names and shapes
    at its default arguments, else names and tensor ranks (e.g. a ViT at another image size).

    Backbones are built on the meta device, so this allocates nothing.
    """
    shapes = {k.removeprefix(prefix): tuple(v.shape) for k, v in state.items() if k.startswith(prefix)}
    if not shapes:
        return None
    same_names = []
    for name in BACKBONES.names():
        try:
            with torch.device("meta"):
                reference = build_backbone(name)
        except Exception:  # a backbone that needs arguments cannot be guessed
            continue
        reference_shapes = {key: tuple(v.shape) for key, v in reference.state_dict().items()}
        if reference_shapes == shapes:
            return name
        # same names and tensor ranks (conv2d vs conv3d weights): the same family, other sizes
        if {k: len(v) for k, v in reference_shapes.items()} == {k: len(v) for k, v in shapes.items()}:
            same_shapes = sum(reference_shapes[k] == shapes[k] for k in shapes)
            same_names.append((same_shapes, name))
    return max(same_names)[1] if same_names else None  # the one with most tensors of equal shape


def _mismatch(
    expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], show: int = 3
) -> str:
    """What differs between a model's state dict and loaded weights ('' if they fit)."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [
        f"{key} (weights {tuple(state[key].shape)}, model {tuple(expected[key].shape)})"
        for key in expected
        if key in state and state[key].shape != expected[key].shape
    ]
    parts = []
    for label, items in (
        ("missing from the weights", missing),
        ("in the weights but not the model", unexpected),
        ("of another shape", shapes),
    ):
        if items:
            more = f", ... ({len(items) - show} more)" if len(items) > show else ""
            parts.append(f"{len(items)} keys {label}: {', '.join(items[:show])}{more}")
    return "; ".join(parts)


def _weights_in(folder: Path) -> Path | None:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _newest_in(checkpoints: Path) -> Path | None:
    """The step folder that `checkpoints/latest` names, else the highest complete `step_*` folder."""
    named = latest_checkpoint(checkpoints)
    if named is not None:
        if _weights_in(named) is None:
            raise CheckpointError(
                f"checkpoint {checkpoints}: {checkpoints / LATEST} names {named.name!r}, which is "
                f"missing or has no {WEIGHT_FILES[0]}"
            )
        return named
    steps = [
        folder
        for folder in checkpoints.glob("step_*")
        if re.fullmatch(r"step_\d+", folder.name) and _weights_in(folder) is not None
    ]
    return max(steps, key=lambda folder: int(folder.name.removeprefix("step_")), default=None)
