"""Clip backbones from pytorchvideo's model builders: `float (B, 3, T, H, W) -> float (B, 2048)`.

Needs the optional extra (`pip install -e ".[pytorchvideo]"`); importing tempssl does not: the
names are always registered, and building one without pytorchvideo raises `ImportError` with the
install command.

Each is built as `pytorchvideo.models.hub` builds the published model of that name:

    x3d_xs        x3d.create_x3d(input_clip_length=4, input_crop_size=160)
    x3d_s         x3d.create_x3d(input_clip_length=13, input_crop_size=160)
    slow_r50      resnet.create_resnet(model_depth=50, stem_conv_kernel_size=(1, 7, 7),
                                       head_pool_kernel_size=(8, 7, 7))
    r2plus1d_r50  r2plus1d.create_r2plus1d(dropout_rate=0.5)

Randomly initialized by the builder itself (nothing is downloaded). A backbone is the builder's
network without its classification projection: the same modules under the same names
(`blocks.0` stem ... `blocks.5` head), with the head's `proj` (Linear to 400 classes), the dropout
before it and the softmax after it removed, and the head's fixed-size average pooling (sized for
the published input, e.g. 8x224x224 for Slow-R50) replaced by global average pooling, so any clip
works; at the published input size the two are the same. The state dict is the builder's minus
`blocks.5.proj.weight` / `.bias`: `builder_state_dict` adds them back (zero) and the result loads
with `strict=True` into the builder; `as_backbone(builder_model)` turns that model into the same
feature extractor. X3D-XS and X3D-S are one network (the clip length only sized the head's
pooling); they differ in the clips they were designed for.

`forward_features(x, pre_activation=False)` is the map before global pooling,
`(B, 2048, t, h, w)`:

- Slow-R50, R(2+1)D-R50: the last residual stage's output; its (t, h, w) average is `forward(x)`.
  `pre_activation=True`: the last block's residual sum before its ReLU.
- X3D: its head pools *between* two 1x1x1 convolutions (conv5 192 -> 432 with BatchNorm and ReLU,
  then fc1 432 -> 2048, no bias, and ReLU), so the map is fc1 applied at every position. fc1 is
  linear, so the average of the `pre_activation=True` map (before fc1's ReLU) is exactly the
  pooled embedding before its ReLU: `forward(x) == relu(mean(forward_features(x,
  pre_activation=True)))`. The average of the rectified map is not `forward(x)`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import torch
from torch import nn

from tempssl.models.backbones import BACKBONES

__all__ = [
    "BUILDERS",
    "INSTALL",
    "PytorchvideoBackbone",
    "as_backbone",
    "build_pytorchvideo_model",
    "builder_expression",
    "builder_state_dict",
    "export_fields",
    "import_pytorchvideo_models",
]

INSTALL = 'pip install -e ".[pytorchvideo]"'

# name -> (pytorchvideo module, builder function, the published model's arguments).
BUILDERS: dict[str, tuple[str, str, dict]] = {
    "x3d_xs": ("x3d", "create_x3d", {"input_clip_length": 4, "input_crop_size": 160}),
    "x3d_s": ("x3d", "create_x3d", {"input_clip_length": 13, "input_crop_size": 160}),
    "slow_r50": (
        "resnet",
        "create_resnet",
        {"model_depth": 50, "stem_conv_kernel_size": (1, 7, 7), "head_pool_kernel_size": (8, 7, 7)},
    ),
    "r2plus1d_r50": ("r2plus1d", "create_r2plus1d", {"dropout_rate": 0.5}),
}


def import_pytorchvideo_models() -> ModuleType:
    """`pytorchvideo.models` (with `x3d`, `resnet`, `r2plus1d` imported).

    Raises:
        ImportError: pytorchvideo is not installed or does not import; the message says how to
            install it and gives the original error.
    """
    try:
        with warnings.catch_warnings():
            # fvcore (a pytorchvideo dependency) calls torch.jit.script at import time, which
            # torch >= 2.10 deprecates with a FutureWarning; nothing of ours uses TorchScript.
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script", category=FutureWarning)
            import pytorchvideo.models.r2plus1d
            import pytorchvideo.models.resnet
            import pytorchvideo.models.x3d
    except ImportError as error:
        raise ImportError(
            f"the pytorchvideo backbones ({', '.join(BUILDERS)}) need pytorchvideo: {INSTALL} "
            f"(or pip install pytorchvideo); importing it failed with {type(error).__name__}: {error}"
        ) from error
    return pytorchvideo.models


def build_pytorchvideo_model(name: str) -> nn.Module:
    """pytorchvideo's own model for backbone `name`, classifier included (random initialization):
    the target that `builder_state_dict` loads into."""
    module, builder, kwargs = BUILDERS[name]
    models = import_pytorchvideo_models()
    return getattr(getattr(models, module), builder)(**kwargs)


def builder_expression(name: str) -> str:
    """The Python expression that builds `name`'s pytorchvideo model, e.g.
    `"pytorchvideo.models.x3d.create_x3d(input_clip_length=4, input_crop_size=160)"`."""
    module, builder, kwargs = BUILDERS[name]
    shown = ", ".join(f"{key}={value!r}" for key, value in kwargs.items())
    return f"pytorchvideo.models.{module}.{builder}({shown})"


class PytorchvideoBackbone(nn.Module):
    """A pytorchvideo `Net` without its classification projection: `(B, 3, T, H, W) -> (B, 2048)`.

    Holds the builder's `blocks` (stem, four residual stages, head) under the builder's names, so
    `state_dict()` has the builder's keys except the head's `proj`. Build it with
    `build_backbone("x3d_xs")` (etc.) or `as_backbone(model)` from a pytorchvideo model.

    Attributes:
        blocks: the builder's `nn.ModuleList`; `blocks[-1]` is the head without `proj`.
        arch: `"x3d"` or `"resnet"` (Slow-R50 and R(2+1)D: a head that only pools).
        out_dim: 2048.
    """

    input_kind = "clip"

    def __init__(self, blocks: nn.ModuleList, arch: str):
        super().__init__()
        self.blocks = blocks
        self.arch = arch
        self.out_dim = 2048

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """pytorchvideo's `Net.forward`: every block in turn, the head ending in global pooling."""
        for block in self.blocks:
            x = block(x)
        return x

    def forward_features(self, x: torch.Tensor, pre_activation: bool = False) -> torch.Tensor:
        """`(B, 3, T, H, W) -> (B, 2048, t, h, w)`, after or (`pre_activation`) before the final
        ReLU. X3D: its head's convolutions applied at every position (see the module docstring)."""
        *stages, last = self.blocks[:-1]
        for block in stages:
            x = block(x)
        if self.arch == "resnet":
            *blocks, final = last.res_blocks
            for block in blocks:
                x = block(x)
            return _residual_sum(final, x) if pre_activation else final(x)
        head = self.blocks[-1].pool  # X3D's ProjectedPool
        x = head.post_conv(head.pre_act(head.pre_norm(head.pre_conv(last(x)))))
        return x if pre_activation else head.post_act(x)


def _residual_sum(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A pytorchvideo `ResBlock` without its final activation: `shortcut(x) + branch2(x)`."""
    shortcut = x
    if block.branch1_conv is not None:
        shortcut = block.branch1_conv(x)
        if block.branch1_norm is not None:
            shortcut = block.branch1_norm(shortcut)
    return block.branch_fusion(shortcut, block.branch2(x))


def as_backbone(model: nn.Module) -> PytorchvideoBackbone:
    """A pytorchvideo X3D / ResNet / R(2+1)D model (from its builder, e.g. with weights loaded) as
    a backbone: the head's `proj`, dropout and activation removed, its pooling made global. The
    model's blocks are reused, not copied."""
    head = model.blocks[-1]
    if getattr(head, "proj", None) is None or head.proj.in_features != 2048:
        raise ValueError(
            f"expected a pytorchvideo model whose head projects 2048 features, got {type(head).__name__}"
        )
    projected = hasattr(head.pool, "post_conv")  # X3D's ProjectedPool: conv5, pool, fc1
    if projected:
        head.pool.pool = nn.AdaptiveAvgPool3d(1)
    else:
        head.pool = nn.AdaptiveAvgPool3d(1)
    head.proj = head.dropout = head.activation = None
    return PytorchvideoBackbone(model.blocks, "x3d" if projected else "resnet")


def builder_state_dict(backbone: PytorchvideoBackbone) -> dict[str, torch.Tensor]:
    """`backbone`'s weights as its pytorchvideo builder names them, with the classifier it lacks
    added as zeros (`blocks.5.proj`, 2048 -> 400): loads with `strict=True` into
    `build_pytorchvideo_model(name)`. Tensors are detached CPU copies."""
    state = {
        key: value.detach().to("cpu", copy=True).contiguous()
        for key, value in backbone.state_dict().items()
    }
    head = f"blocks.{len(backbone.blocks) - 1}.proj"
    state[f"{head}.weight"] = torch.zeros(400, backbone.out_dim)
    state[f"{head}.bias"] = torch.zeros(400)
    return state


def export_fields(name: str, backbone: PytorchvideoBackbone) -> dict:
    """What `tempssl.eval.export` needs to export backbone `name` (the fields of its
    `BackboneExport`): the builder's state dict, the builder call as text, a builder to check the
    export with and the conversion of the loaded builder model into this backbone."""
    if not isinstance(backbone, PytorchvideoBackbone):
        raise ValueError(f"{name} export expects a PytorchvideoBackbone, got {type(backbone).__name__}")
    import_pytorchvideo_models()  # the check builds the target: fail early with the install hint
    pool = "model.blocks[-1].pool" + (".pool" if backbone.arch == "x3d" else "")
    return {
        "state_dict": builder_state_dict(backbone),
        "target": builder_expression(name),
        "modules": [f"pytorchvideo.models.{BUILDERS[name][0]}"],
        "build": lambda: build_pytorchvideo_model(name),
        "features": as_backbone,
        "notes": [
            "The classifier `blocks.5.proj` (2048 -> 400 classes) is zero: replace or train it. The "
            "trained part is everything before it: "
            "`tempssl.models.pytorchvideo_backbones.as_backbone(model)` gives the 2048-d features "
            "that training learned, or without tempssl: `model.blocks[-1].proj = None`, "
            "`model.blocks[-1].dropout = None`, `model.blocks[-1].activation = None`.",
            "It takes clips: `float (B, 3, T, H, W)`. The builder's head pools over a fixed window "
            "sized for the published input; training pooled globally (the same at that size). For "
            f"other clip sizes set `{pool} = torch.nn.AdaptiveAvgPool3d(1)` (as `as_backbone` does).",
        ],
    }


def _register(name: str, doc: str) -> Callable[[], PytorchvideoBackbone]:
    def build() -> PytorchvideoBackbone:
        return as_backbone(build_pytorchvideo_model(name))

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"{doc} without its classifier: `(B, 3, T, H, W) -> (B, 2048)`. {INSTALL}."
    return BACKBONES.register(name, build)


x3d_xs = _register("x3d_xs", "pytorchvideo X3D-XS (designed for 4x160x160 clips)")
x3d_s = _register("x3d_s", "pytorchvideo X3D-S (the X3D-XS network, designed for 13x160x160 clips)")
slow_r50 = _register("slow_r50", "pytorchvideo Slow-R50 (8x8 setting, designed for 8x224x224 clips)")
r2plus1d_r50 = _register(
    "r2plus1d_r50", "pytorchvideo R(2+1)D-R50 (16x4 setting, designed for 16x224x224 clips)"
)
