"""Learning-rate schedule, LR scaling with the global batch, and LARS, against hand computation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tempssl.engine.optim import LARS, build_optimizer, build_schedule
from tempssl.schema import OptimConfig


def _lrs(cfg: OptimConfig, total: int, per_epoch: int) -> list[float]:
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = build_schedule(optimizer, cfg, total, per_epoch)
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


def test_linear_warmup_then_cosine():
    lrs = _lrs(OptimConfig(warmup_epochs=1, min_lr_ratio=0.1), total=10, per_epoch=4)
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    for step in range(4, 10):  # cosine from 1 to 0.1 over the 6 remaining steps
        expected = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - 4) / 6))
        assert lrs[step] == pytest.approx(expected)


def test_constant_schedule():
    assert _lrs(OptimConfig(schedule="constant"), total=5, per_epoch=5) == pytest.approx([1.0] * 5)


def test_lr_scales_linearly_with_the_global_batch():
    model = nn.Linear(2, 2)
    optimizer = build_optimizer(model, OptimConfig(lr=0.1, lr_batch_size=256), global_batch=1024)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.4)
    optimizer = build_optimizer(model, OptimConfig(lr=0.1), global_batch=1024)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_no_weight_decay_on_biases_and_norms():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    optimizer = build_optimizer(model, OptimConfig(name="sgd", weight_decay=0.5), global_batch=1)
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.5 and [p.shape for p in decayed["params"]] == [(2, 2)]
    assert plain["weight_decay"] == 0.0 and len(plain["params"]) == 3


def test_decay_bias_and_norm_decays_every_parameter_as_mocos_references():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    cfg = OptimConfig(name="lars", weight_decay=0.5, decay_bias_and_norm=True)
    (group,) = build_optimizer(model, cfg, global_batch=1).param_groups
    assert group["weight_decay"] == 0.5 and len(group["params"]) == 4
    assert not group.get("lars_exclude", False)  # adapted like every other parameter


def test_lars_step_by_hand():
    w = nn.Parameter(torch.tensor([3.0, 4.0]))  # ||w|| = 5
    w.grad = torch.tensor([0.6, 0.8])  # ||g|| = 1
    LARS([{"params": [w], "weight_decay": 0.0}], lr=0.1, momentum=0.9, eta=0.001).step()
    # trust ratio = 0.001 * 5 / 1: update = lr * trust * g
    assert w.detach() == pytest.approx(torch.tensor([3.0, 4.0]) - 0.1 * 0.005 * torch.tensor([0.6, 0.8]))
    b = nn.Parameter(torch.tensor([1.0]))
    b.grad = torch.tensor([2.0])
    LARS([{"params": [b], "lars_exclude": True, "weight_decay": 0.0}], lr=0.1).step()
    assert b.item() == pytest.approx(1.0 - 0.1 * 2.0)  # excluded: plain SGD step
