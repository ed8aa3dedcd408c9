"""TCN against hand-computed values (Sermanet et al. 2017, Eq. 1; N-pairs and the single-view window
loss as in the reference), and the spatial-softmax embedder's defining property."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from tempssl.methods import build_method
from tempssl.models import build_backbone


class _Flat(nn.Flatten):
    """A "backbone" that passes 2-D points through: inputs (B, 2, 1, 1) -> (B, 2)."""

    out_dim = 2


def _tcn_on_points(**kwargs):
    method = build_method("tcn", _Flat(), **kwargs)
    method.head.net = nn.Identity()  # embeddings are the points themselves
    return method


def _points(*xy):
    return torch.tensor(xy, dtype=torch.float32)[:, :, None, None]


def test_single_view_triplet_loss_by_hand():
    method = _tcn_on_points(mode="single_view_triplets", normalize=False, margin=0.2)
    batch = {
        "anchor": _points((0.0, 0.0), (0.0, 0.0)),
        "positive": _points((0.1, 0.0), (0.1, 0.0)),
        "negative": _points((1.0, 0.0), (0.2, 0.0)),
    }
    out = method(batch)
    # max(0.01 - 1.00 + 0.2, 0) = 0 and max(0.01 - 0.04 + 0.2, 0) = 0.17
    assert out["loss"].item() == pytest.approx((0.0 + 0.17) / 2, abs=1e-6)
    assert out["triplet_accuracy"].item() == 1.0


def test_multiview_npairs_loss_by_hand():
    method = _tcn_on_points(mode="multiview", loss="npairs", npairs_reg=0.002, gather=False)
    views = torch.stack([_points((1.0, 0.0), (0.0, 1.0)), _points((1.0, 0.0), (0.0, 1.0))], dim=1)
    out = method({"views": views})
    # logits = identity: each row's cross-entropy is log(1 + e^-1); reg = 0.002 * 0.25 * (1 + 1)
    assert out["loss"].item() == pytest.approx(math.log(1 + math.exp(-1)) + 0.001, abs=1e-6)
    assert out["view_alignment"].item() == 1.0


def test_multiview_alignment_metric_counts_wrong_matches():
    method = _tcn_on_points(mode="multiview", gather=False)
    view0 = _points((1.0, 0.0), (0.0, 1.0))
    view1 = _points((0.0, 1.0), (1.0, 0.0))  # moments swapped
    assert method({"views": torch.stack([view0, view1], dim=1)})["view_alignment"].item() == 0.0


def test_npairs_alignment_metric_uses_dot_products_like_the_loss():
    method = _tcn_on_points(mode="multiview", loss="npairs", gather=False)
    # view-0 point (1, 0): its Euclidean neighbour in view 1 is (0.9, 0.4) (moment 0), but the
    # loss scores dot products, and (3, 0) (moment 1) has the larger one; (0, 1) prefers moment 0
    view0 = _points((1.0, 0.0), (0.0, 1.0))
    view1 = _points((0.9, 0.4), (3.0, 0.0))
    out = method({"views": torch.stack([view0, view1], dim=1)})
    assert out["view_alignment"].item() == 0.0
    triplet = _tcn_on_points(mode="multiview", loss="triplet", normalize=False, gather=False)
    assert triplet({"views": torch.stack([view0, view1], dim=1)})["view_alignment"].item() == 0.5


def test_embedding_defaults_follow_the_paper():
    method = build_method("tcn", build_backbone("small_cnn", width=4))
    z = method.tcn_embedding(torch.rand(3, 3, 32, 32))
    assert z.shape == (3, 32)  # 32-d embedding
    single = build_method("tcn", build_backbone("small_cnn", width=4), mode="single_view")
    assert single.sampler_kind == "sequences"  # the reference's windows of consecutive frames
    assert torch.allclose(single.tcn_embedding(torch.rand(3, 3, 32, 32)).norm(dim=1), torch.ones(3))
    assert method.embed(torch.rand(2, 3, 32, 32)).shape == (2, 32)  # backbone features (width 4 * 8)


def test_single_view_window_loss_by_hand():
    # one window of 4 frames at 0, 0.1, 0.2, 0.5 s on a line; positives |dt| <= 0.15 s, negatives
    # |dt| > 0.25 s: positive pairs (0,1), (1,0), (1,2), (2,1); negatives of 0, 1 and 2: frame 3
    # (and of 3: frames 0, 1, 2, which have no positive pair with it)
    method = _tcn_on_points(
        mode="single_view", normalize=False, margin=0.2, pos_radius=0.15, neg_radius=0.25, gather=False
    )
    x = torch.tensor([0.0, 0.3, 0.5, 0.6])
    clip = torch.stack([x, torch.zeros(4)], dim=1)[None, :, None, :, None, None]  # (1, 4, 1, 2, 1, 1)
    times = torch.tensor([[0.0, 0.1, 0.2, 0.5]])
    out = method({"clip": clip, "times": times})
    d = (x[:, None] - x[None, :]) ** 2
    # the only negative is frame 3: semi-hard when d(a, 3) > d(a, p), else the farthest = itself
    hinge = [max(d[a, p] - d[a, 3] + 0.2, 0.0) for a, p in [(0, 1), (1, 0), (1, 2), (2, 1)]]
    assert out["loss"].item() == pytest.approx(float(sum(hinge) / 4), abs=1e-6)
    # each frame's nearest other frame: 0 -> 1 (positive), 1 -> 2, 2 -> 3 (0.3 s: not), 3 -> 2
    assert out["nearest_is_positive"].item() == pytest.approx(0.5)


def test_single_view_windows_are_negatives_of_each_other():
    method = _tcn_on_points(mode="single_view", normalize=False, pos_radius=0.15, neg_radius=0.25)
    x = torch.tensor([[0.0, 0.1], [0.05, 0.12]])  # two windows of 2 frames, both at t = 0, 0.1 s
    clip = torch.stack([x, torch.zeros(2, 2)], dim=2)[:, :, None, :, None, None]
    out = method({"clip": clip, "times": torch.tensor([[0.0, 0.1], [0.0, 0.1]])})
    flat = x.flatten()
    d = (flat[:, None] - flat[None, :]) ** 2
    ids = [0, 0, 1, 1]
    hinge = []
    for a, p in [(0, 1), (1, 0), (2, 3), (3, 2)]:
        negatives = [n for n in range(4) if ids[n] != ids[a]]  # only the other window's frames
        semi = [d[a, n] for n in negatives if d[a, n] > d[a, p]]
        d_an = min(semi) if semi else max(d[a, n] for n in negatives)
        hinge.append(max(d[a, p] - d_an + 0.2, 0.0))
    assert out["loss"].item() == pytest.approx(float(sum(hinge) / 4), abs=1e-6)


def test_spatial_head_sees_where_things_are():
    # the same feature moved to another place: global pooling cannot tell the two apart, the
    # spatial soft arg-max (the reference embedder) must
    torch.manual_seed(0)
    backbone = build_backbone("small_cnn", width=4)
    method = build_method("tcn", backbone, head="spatial_softmax", conv_channels=[8], fc_dims=[16])
    method.eval()
    left, right = torch.zeros(1, 32, 8, 8), torch.zeros(1, 32, 8, 8)
    left[..., 2, 1], right[..., 2, 6] = 5.0, 5.0
    pooled = [m.mean(dim=(2, 3)) for m in (left, right)]
    assert torch.equal(pooled[0], pooled[1])
    z_left, z_right = method.head(left), method.head(right)
    assert (z_left - z_right).norm() > 1e-3
    assert method.tcn_embedding(torch.rand(2, 3, 32, 32)).shape == (2, 32)


def test_bad_tcn_arguments():
    with pytest.raises(ValueError, match="mode must be one of 'multiview', 'single_view'"):
        build_method("tcn", _Flat(), mode="both")
    with pytest.raises(ValueError, match="loss must be 'npairs' or 'triplet'"):
        build_method("tcn", _Flat(), loss="hinge")
    with pytest.raises(ValueError, match="head must be 'linear' or 'spatial_softmax'"):
        build_method("tcn", _Flat(), head="attention")
    with pytest.raises(ValueError, match="0 < pos_radius < neg_radius"):
        build_method("tcn", _Flat(), mode="single_view", pos_radius=0.5, neg_radius=0.4)
    with pytest.raises(ValueError, match="has no forward_features"):
        build_method("tcn", _Flat(), head="spatial_softmax").tcn_embedding(torch.rand(2, 2, 1, 1))
