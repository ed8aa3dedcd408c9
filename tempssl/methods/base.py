"""The `Method` interface shared by every self-supervised method."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tempssl.models import input_kind
from tempssl.models.momentum import MomentumSchedule, ema_update, momentum_copy
from tempssl.registry import Registry

METHODS: Registry = Registry("method")


def build_method(name: str, backbone: nn.Module, **kwargs) -> Method:
    """The method registered as `name`, around `backbone`, with its own hyper-parameters."""
    return METHODS.get(name)(backbone, **kwargs)


class Method(nn.Module):
    """A self-supervised method: a backbone (what users keep), its heads, and its loss.

    Subclasses set `sampler_kind` (the batch structure they train on, see `tempssl.data.dataset`)
    and implement `forward(batch) -> {"loss": scalar, <metric>: scalar, ...}`.
    """

    sampler_kind: str = ""
    # the backbones it can train: "frame" `(B, C, H, W)` and/or "clip" `(B, C, T, H, W)` ones
    backbone_kinds: tuple[str, ...] = ("frame",)

    def __init__(self, backbone: nn.Module):
        super().__init__()
        kind = input_kind(backbone)
        if kind not in self.backbone_kinds:
            raise ValueError(
                f"{type(self).__name__} trains {' or '.join(self.backbone_kinds)} backbones, got a "
                f"{kind} backbone ({type(backbone).__name__}): choose another model.backbone"
            )
        self.backbone = backbone

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's features `(B, D)` of frames `(B, C, H, W)` (frame backbones) or clips
        `(B, C, T, H, W)` (clip backbones)."""
        return self.backbone(x)

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimizer step: `step` steps of `total_steps` are done (0-based index
        of the step just taken). Momentum encoders update here."""

    def parameter_groups(self) -> list[dict]:
        """The optimizer's parameter groups: `[{"params": [(name, param), ...], "lr_scale": s}]`,
        each group at `s` times the configured learning rate (e.g. a predictor's own rate).
        Default: one group of every parameter. Frozen parameters are dropped by the optimizer."""
        return [{"params": list(self.named_parameters()), "lr_scale": 1.0}]

    def no_weight_decay(self) -> set[str]:
        """Names of parameters exempt from weight decay besides biases and norms (which every
        method exempts by shape): what submodules list in their own `no_weight_decay()` (as timm's
        models do, e.g. a ViT's `cls_token` and `pos_embed`), prefixed by the submodule's name."""
        names: set[str] = set()
        for prefix, module in self.named_modules():
            listed = getattr(module, "no_weight_decay", None)
            if module is not self and callable(listed):
                names |= {f"{prefix}.{name}" if prefix else name for name in listed()}
        return names


def frames_of(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """A `frames` batch's images as one batch: `frames` (or `views`) `(B, K, C, H, W)` ->
    `(B*K, C, H, W)`."""
    images = batch["frames"] if "frames" in batch else batch["views"]
    return images.flatten(0, 1)


def groups_with_own_rate(method: nn.Module, prefix: str, lr_scale: float) -> list[dict]:
    """`Method.parameter_groups` with the parameters under `prefix.` (e.g. a predictor) at
    `lr_scale` times the learning rate and all others at 1."""
    named = list(method.named_parameters())
    own = [(n, p) for n, p in named if n.startswith(f"{prefix}.")]
    rest = [(n, p) for n, p in named if not n.startswith(f"{prefix}.")]
    return [{"params": rest, "lr_scale": 1.0}, {"params": own, "lr_scale": lr_scale}]


def two_views(
    views: torch.Tensor, views_per_frame: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two augmented views of each frame: `views (B, 2K, C, H, W)` (frame sampler with a
    two-view transform; frame j's views at 2j and 2j + 1) -> two `(B * K, C, H, W)` batches, the
    first and the second view of every frame in the same order. `views_per_frame` (the batch's
    key of that name) must then be 2: with more, views of one frame would be paired as negatives.
    """
    if views_per_frame is not None and bool((views_per_frame != 2).any()):
        raise ValueError(
            f"this method pairs two views of each frame, but the transform makes "
            f"{int(views_per_frame.flatten()[0])}: set transforms.args.num_views: 2"
        )
    if views.ndim != 5 or views.shape[1] % 2:
        raise ValueError(
            f"expected views (B, 2K, C, H, W) from a two-view transform (transforms.name: simclr, "
            f"mocov2, ... with num_views: 2), got {tuple(views.shape)}"
        )
    return views[:, 0::2].flatten(0, 1), views[:, 1::2].flatten(0, 1)


@torch.no_grad()
def pair_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """How often a first view's most similar second view (cosine, this process's batch) is its
    own partner: `(N, d), (N, d) -> ()`; chance 1 / N."""
    sim = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T
    return (sim.argmax(dim=1) == torch.arange(len(z1), device=z1.device)).float().mean()


class MomentumMethod(Method):
    """A method with a momentum (target / key) network, as MoCo and BYOL have (solo-learn's
    `BaseMomentumMethod`): frozen copies of the backbone and projector, moved towards the online
    ones by an exponential moving average after every optimizer step, with a momentum that follows
    `MomentumSchedule` over training. The copies are submodules, so checkpoints hold them and a
    resumed run continues from them; `backbone` stays the online network (what users keep).

    Args:
        backbone: the online backbone.
        projector: the online projection head `(B, D) -> (B, d)`.
        momentum: the momentum at step 0 (MoCo v1/v2: 0.999, BYOL: 0.996, MoCo v3: 0.99).
        momentum_schedule: "constant" or "cosine" (to 1 at the end of training).
    """

    def __init__(
        self,
        backbone: nn.Module,
        projector: nn.Module,
        momentum: float,
        momentum_schedule: str = "constant",
    ):
        super().__init__(backbone)
        self.projector = projector
        self.momentum_backbone = momentum_copy(backbone)
        self.momentum_projector = momentum_copy(projector)
        self.momentum_schedule = MomentumSchedule(momentum, momentum_schedule)
        self.register_buffer("momentum", torch.tensor(float(momentum)), persistent=False)

    @torch.no_grad()
    def momentum_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The target network's projection of `x (B, C, H, W)`: `(B, d)`, no gradient."""
        return self.momentum_projector(self.momentum_backbone(x))

    def on_step_end(self, step: int, total_steps: int) -> None:
        m = self.momentum_schedule(step, total_steps)
        ema_update(self.momentum_backbone, self.backbone, m)
        ema_update(self.momentum_projector, self.projector, m)
        self.momentum.fill_(m)
