"""Momentum machinery: EMA values, schedules, the key queue, frozen copies, shuffling BN."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tempssl.models.momentum import (
    KeyQueue,
    MomentumSchedule,
    ema_update,
    momentum_copy,
    shuffled_forward,
    split_forward,
)


def test_ema_update_by_hand():
    online, target = nn.Linear(2, 1), nn.Linear(2, 1)
    for module, value in [(online, 1.0), (target, 0.0)]:
        for p in module.parameters():
            p.data.fill_(value)
    ema_update(target, online, 0.9)
    assert torch.allclose(target.weight, torch.full((1, 2), 0.1))
    ema_update(target, online, 0.9)  # 0.9 * 0.1 + 0.1 * 1
    assert torch.allclose(target.bias, torch.tensor([0.19]))
    with pytest.raises(ValueError, match="momentum"):
        ema_update(target, online, 1.5)
    with pytest.raises(ValueError, match="same parameters"):
        ema_update(nn.Linear(3, 1), online, 0.5)


def test_momentum_schedules():
    constant = MomentumSchedule(0.999)
    assert constant(0, 100) == constant(77, 100) == 0.999
    cosine = MomentumSchedule(0.996, "cosine")  # BYOL Sec. 3.2
    assert cosine(0, 100) == pytest.approx(0.996)
    assert cosine(50, 100) == pytest.approx(1 - 0.004 * (math.cos(math.pi / 2) + 1) / 2)
    assert cosine(25, 100) == pytest.approx(1 - 0.004 * (math.cos(math.pi / 4) + 1) / 2)
    assert cosine(100, 100) == pytest.approx(1.0)
    values = [cosine(s, 100) for s in range(101)]
    assert values == sorted(values)
    with pytest.raises(ValueError, match="schedule"):
        MomentumSchedule(0.99, "linear")


def test_momentum_copy_is_frozen_and_independent():
    online = nn.Linear(3, 2)
    target = momentum_copy(online)
    assert not any(p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    online.weight.data.add_(1.0)
    assert not torch.equal(online.weight, target.weight)


def test_queue_is_first_in_first_out():
    queue = KeyQueue(6, 2)
    assert queue.keys.shape == (6, 2) and int(queue.pointer) == 0
    assert torch.allclose(queue.keys.norm(dim=1), torch.ones(6))  # random unit keys at first
    batches = [torch.full((2, 2), float(i)) for i in range(1, 5)]
    for batch in batches[:3]:
        queue.enqueue(batch)
    assert queue.keys[:, 0].tolist() == [1, 1, 2, 2, 3, 3] and int(queue.pointer) == 0
    queue.enqueue(batches[3])  # the oldest keys (batch 1) are replaced
    assert queue.keys[:, 0].tolist() == [4, 4, 2, 2, 3, 3] and int(queue.pointer) == 2
    with pytest.raises(ValueError, match="multiple"):
        queue.enqueue(torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        queue.enqueue(torch.zeros(2, 3))
    state = queue.state_dict()
    assert set(state) == {"keys", "pointer"}  # saved with the method, restored on resume
    restored = KeyQueue(6, 2)
    restored.load_state_dict(state)
    assert torch.equal(restored.keys, queue.keys) and int(restored.pointer) == 2


def test_shuffled_forward_returns_keys_in_input_order():
    torch.manual_seed(0)
    encoder = nn.Linear(5, 3)  # no interaction between samples: shuffling must be invisible
    x = torch.randn(8, 5)
    with torch.no_grad():
        expected = encoder(x)
    for splits in (1, 2, 4):
        assert torch.allclose(shuffled_forward(encoder, x, splits), expected, atol=1e-6)


def test_split_forward_normalizes_each_sub_batch_on_its_own():
    bn = nn.BatchNorm1d(1, affine=False)
    x = torch.tensor([[0.0], [2.0], [10.0], [14.0]])
    out = split_forward(bn, x, splits=2)  # halves [0, 2] and [10, 14], each to [-1, 1]
    assert torch.allclose(out.flatten(), torch.tensor([-1.0, 1.0, -1.0, 1.0]), atol=1e-4)
    assert torch.allclose(split_forward(bn, x, splits=1), bn(x))
