"""TCN losses against hand-computed values (Sermanet et al. 2017, Eq. 1; N-pairs as in the reference)."""

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
    method = _tcn_on_points(mode="single_view", normalize=False, margin=0.2)
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
    assert torch.allclose(single.tcn_embedding(torch.rand(3, 3, 32, 32)).norm(dim=1), torch.ones(3))
    assert method.embed(torch.rand(2, 3, 32, 32)).shape == (2, 32)  # backbone features (width 4 * 8)


def test_bad_tcn_arguments():
    with pytest.raises(ValueError, match="mode must be 'multiview' or 'single_view'"):
        build_method("tcn", _Flat(), mode="both")
    with pytest.raises(ValueError, match="loss must be 'npairs' or 'triplet'"):
        build_method("tcn", _Flat(), loss="hinge")
