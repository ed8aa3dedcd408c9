"""Shuffle and Learn (Misra et al. 2016): the loss against hand-computed values, and the head can
learn order verification where the features make it possible."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tempssl.methods import build_method
from tempssl.models import build_backbone


class _Flat(nn.Flatten):
    """A "backbone" that passes feature vectors through: (B, D, 1, 1) -> (B, D)."""

    def __init__(self, dim: int):
        super().__init__()
        self.out_dim = dim


def _method_with_linear_head(weight: torch.Tensor) -> nn.Module:
    method = build_method(
        "shuffle_learn",
        _Flat(weight.shape[1] // 3),
        hidden_dim=0,
        dropout=0.0,
        frame_head="pooled",
        fusion="concat",
    )
    linear = method.classifier[-1]
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.zero_()
    return method.eval()


def test_loss_is_cross_entropy_of_the_concatenated_features_by_hand():
    # 1-d features: logits = (0, x_middle) so the "in order" logit is the middle frame's value
    method = _method_with_linear_head(torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    frames = torch.tensor([[0.0, 2.0, 0.0], [0.0, -1.0, 0.0]])[:, :, None, None, None]  # (B, 3, 1, 1, 1)
    label = torch.tensor([1, 1])
    out = method({"frames": frames, "label": label})
    # -log softmax: log(1 + e^-2) and log(1 + e^1)
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(1))) / 2
    assert out["loss"].item() == pytest.approx(expected, abs=1e-6)
    assert out["order_accuracy"].item() == 0.5
    assert out["order_balanced_accuracy"].item() == 0.5  # only class 1 present: its accuracy


def test_balanced_accuracy_is_the_mean_of_the_class_accuracies():
    method = _method_with_linear_head(torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    middles = torch.tensor([1.0, -1.0, -1.0, -1.0])  # predicts 1, 0, 0, 0
    frames = torch.zeros(4, 3)
    frames[:, 1] = middles
    out = method({"frames": frames[:, :, None, None, None], "label": torch.tensor([1, 0, 0, 1])})
    assert out["order_accuracy"].item() == pytest.approx(0.75)
    assert out["order_balanced_accuracy"].item() == pytest.approx((1.0 + 0.5) / 2)


def test_loss_does_not_depend_on_the_order_of_the_batch():
    torch.manual_seed(0)
    method = build_method("shuffle_learn", build_backbone("small_cnn", width=4)).eval()
    frames, label = torch.rand(6, 3, 3, 16, 16), torch.tensor([1, 0, 0, 1, 0, 0])
    order = torch.randperm(6)
    a = method({"frames": frames, "label": label})["loss"]
    b = method({"frames": frames[order], "label": label[order]})["loss"]
    assert a.item() == pytest.approx(b.item(), rel=1e-5)


@pytest.mark.parametrize("hidden_dim", [64, 0])
def test_the_head_learns_betweenness_from_time_features_only_with_a_hidden_layer(hidden_dim):
    """With features that carry the frame's time, order verification is solvable by the head
    with a hidden layer, not by a linear one (`hidden_dim=0`, the paper's fc8 on the concatenated
    vectors): "is the middle frame between the others" is not linearly separable in the three
    times (reversed tuples are positives too)."""
    torch.manual_seed(0)
    method = build_method(
        "shuffle_learn", _Flat(1), hidden_dim=hidden_dim, dropout=0.0, frame_head="pooled",
        fusion="concat",
    )  # fmt: skip
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-2)

    def tuples(n):
        t = torch.rand(n, 5).sort(dim=1).values  # a < b < c < d < e
        positive = torch.rand(n) < 0.5
        odd = torch.where(torch.rand(n) < 0.5, t[:, 0], t[:, 4])
        middle = torch.where(positive, t[:, 2], odd)
        frames = torch.stack([t[:, 1], middle, t[:, 3]], dim=1)
        flip = torch.rand(n) < 0.5
        frames[flip] = frames[flip].flip(1)
        return frames[:, :, None, None, None], positive.long()

    for _ in range(400):
        frames, label = tuples(256)
        loss = method({"frames": frames, "label": label})["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    frames, label = tuples(2000)
    method.eval()
    accuracy = method({"frames": frames, "label": label})["order_balanced_accuracy"].item()
    if hidden_dim:
        assert accuracy > 0.9
    else:
        assert accuracy < 0.6, accuracy  # measured 0.44


def test_shapes_and_sampler_kind():
    method = build_method("shuffle_learn", build_backbone("small_cnn", width=4))
    assert method.sampler_kind == "tuples"
    assert method.order_logits(torch.rand(2, 3, 3, 32, 32)).shape == (2, 2)
    assert method.embed(torch.rand(2, 3, 32, 32)).shape == (2, 32)


@pytest.mark.parametrize(
    ("frame_head", "per_frame"), [("flatten", 64), ("spatial_softmax", 64), ("pooled", 32)]
)
def test_frame_heads_and_position(frame_head, per_frame):
    # small_cnn width 4: a (32, h, w) map; flatten -> frame_dim 64, spatial softmax -> 2 * 32
    method = build_method(
        "shuffle_learn", build_backbone("small_cnn", width=4), frame_head=frame_head, frame_dim=64
    )
    assert method.classifier[-1].in_features == 512
    first = next(m for m in method.classifier if isinstance(m, nn.Linear))
    assert first.in_features == 2 * per_frame  # differences of consecutive frames
    assert method.order_logits(torch.rand(2, 3, 3, 64, 64)).shape == (2, 2)


def test_difference_fusion_reads_only_the_steps_between_frames():
    # [f(y) - f(x), f(z) - f(y)]: shifting all three features by one vector changes nothing, and
    # an ordered tuple and its reverse give opposite steps
    torch.manual_seed(0)
    method = build_method("shuffle_learn", _Flat(4), frame_head="pooled", dropout=0.0).eval()
    frames = torch.rand(5, 3, 4)
    shifted = frames + torch.rand(1, 1, 4)
    a = method.order_logits(frames[..., None, None])
    assert torch.allclose(a, method.order_logits(shifted[..., None, None]), atol=1e-6)
    concat = build_method("shuffle_learn", _Flat(4), frame_head="pooled", fusion="concat").eval()
    assert not torch.allclose(
        concat.order_logits(frames[..., None, None]), concat.order_logits(shifted[..., None, None])
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="hidden_dim must be >= 0"):
        build_method("shuffle_learn", _Flat(2), hidden_dim=-1)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        build_method("shuffle_learn", _Flat(2), dropout=1.0)
    with pytest.raises(ValueError, match="fusion must be one of 'differences', 'concat'"):
        build_method("shuffle_learn", _Flat(2), fusion="sum")
    with pytest.raises(ValueError, match="frame_head must be one of 'flatten'"):
        build_method("shuffle_learn", _Flat(2), frame_head="attention")
    with pytest.raises(ValueError, match="has no forward_features"):
        method = build_method("shuffle_learn", _Flat(2), frame_head="flatten")
        method.order_logits(torch.rand(1, 3, 2, 1, 1))
