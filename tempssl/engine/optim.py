"""Optimizers (AdamW, SGD, LARS) and the learning-rate schedule (linear warmup, cosine decay)."""

from __future__ import annotations

import math

import torch
from torch import nn

from tempssl.schema import OptimConfig


def build_optimizer(model: nn.Module, cfg: OptimConfig, global_batch: int) -> torch.optim.Optimizer:
    """The configured optimizer over the method's parameter groups.

    Groups come from `model.parameter_groups()` (a method's own, e.g. a predictor at its own
    learning rate; one group otherwise), each at `lr_scale` times the learning rate. Within each,
    biases and norm parameters (ndim <= 1) and the names in `model.no_weight_decay()` (a ViT's
    `cls_token`, `pos_embed`: timm's and MAE's list) take no weight decay and, under LARS, no
    trust-ratio adaptation (SimCLR, BYOL). `cfg.decay_bias_and_norm: true` decays every parameter
    and adapts every one under LARS instead (facebookresearch/moco and moco-v3 decay all; the
    `no_weight_decay()` names stay exempt). Frozen parameters (momentum encoders, a frozen patch
    projection) are left out.

    The learning rate scales linearly with `global_batch / cfg.lr_batch_size` when that is set
    (Goyal et al. 2017), e.g. SimCLR/MoCo v3: lr = base_lr x batch / 256.
    """
    lr = cfg.lr * (global_batch / cfg.lr_batch_size if cfg.lr_batch_size else 1.0)
    specs = getattr(model, "parameter_groups", None)
    specs = specs() if callable(specs) else [{"params": list(model.named_parameters()), "lr_scale": 1.0}]
    listed = getattr(model, "no_weight_decay", None)
    exempt = listed() if callable(listed) else set()
    groups, seen = [], set()
    for spec in specs:
        decay, no_decay = [], []
        for name, param in spec["params"]:
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            by_shape = param.ndim <= 1 and not cfg.decay_bias_and_norm
            (no_decay if by_shape or name in exempt else decay).append(param)
        scaled = lr * spec.get("lr_scale", 1.0)
        groups += [{"params": decay, "weight_decay": cfg.weight_decay, "lr": scaled}] if decay else []
        groups += (
            [{"params": no_decay, "weight_decay": 0.0, "lr": scaled, "lars_exclude": True}]
            if no_decay
            else []
        )
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    if cfg.name == "adamw":
        for group in groups:
            group.pop("lars_exclude", None)
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(cfg.betas))
    if cfg.name == "sgd":
        for group in groups:
            group.pop("lars_exclude", None)
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum)
    return LARS(groups, lr=lr, momentum=cfg.momentum)


class LARS(torch.optim.Optimizer):
    """LARS (You et al. 2017) as used by SimCLR/BYOL/MoCo v3: SGD with momentum where each weight
    matrix's update is scaled by the trust ratio `eta * ||w|| / ||g + wd * w||`; groups with
    `lars_exclude` (biases, norms) take plain SGD steps without decay or adaptation."""

    def __init__(
        self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.001
    ):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if not group.get("lars_exclude", False):
                    grad = grad.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.norm(p), torch.norm(grad)
                    trust = torch.where(
                        (w_norm > 0) & (g_norm > 0),
                        group["eta"] * w_norm / g_norm,
                        torch.ones_like(w_norm),
                    )
                    grad = grad.mul(trust)
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros_like(p)
                buf = state["momentum"].mul_(group["momentum"]).add_(grad)
                p.add_(buf, alpha=-group["lr"])
        return loss


def build_schedule(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-optimizer-step schedule: linear warmup over `warmup_epochs`, then cosine (or constant)."""
    warmup = round(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
