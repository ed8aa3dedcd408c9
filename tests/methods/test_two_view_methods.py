"""SimCLR, MoCo v1/v2, MoCo v3 and BYOL against their papers' definitions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tempssl.engine.optim import build_optimizer
from tempssl.losses import info_nce, normalized_mse, nt_xent
from tempssl.methods import build_method
from tempssl.methods.base import two_views
from tempssl.models import build_backbone
from tempssl.schema import OptimConfig


class Flat(nn.Module):
    """A backbone without BatchNorm, so outputs do not depend on how a batch is split."""

    input_kind = "frame"

    def __init__(self, size: int = 8, out_dim: int = 6):
        super().__init__()
        self.fc = nn.Linear(3 * size * size, out_dim)
        self.out_dim = out_dim

    def forward(self, x):
        return self.fc(x.flatten(1))


def _views(batch=4, frames=1, size=8, seed=0):
    return torch.rand(batch, 2 * frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_two_views_pairs_the_views_of_each_frame():
    views = torch.arange(2 * 4).float().view(2, 4, 1, 1, 1).expand(-1, -1, 3, 2, 2)
    first, second = two_views(views)  # frame j's views are at 2j and 2j + 1
    assert first[:, 0, 0, 0].tolist() == [0, 2, 4, 6] and second[:, 0, 0, 0].tolist() == [1, 3, 5, 7]
    with pytest.raises(ValueError, match="two-view transform"):
        two_views(views[:, :3])
    with pytest.raises(ValueError, match="num_views: 2"):  # 1 frame x 4 views is not 2 frames x 2
        two_views(views, torch.tensor([4, 4]))
    assert two_views(views, torch.tensor([2, 2]))[0].shape == (4, 3, 2, 2)


def test_normalized_mse_by_hand():
    p = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    z = torch.tensor([[0.0, 5.0], [2.0, 0.0]])  # orthogonal: 2; parallel: 0
    assert normalized_mse(p, z).item() == pytest.approx(1.0)
    z.requires_grad_(True)
    normalized_mse(p.requires_grad_(True), z).backward()
    assert z.grad is None  # the target gets no gradient


def test_simclr_loss_is_nt_xent_of_the_projections():
    torch.manual_seed(0)
    method = build_method("simclr", Flat(), proj_hidden_dim=16, proj_dim=4, temperature=0.5).eval()
    views = _views()
    x1, x2 = two_views(views)
    z1, z2 = method.projector(method.backbone(x1)), method.projector(method.backbone(x2))
    expected = nt_xent(z1, z2, 0.5)
    assert method({"views": views})["loss"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_moco_loss_uses_the_queue_then_enqueues_the_keys():
    torch.manual_seed(0)
    method = build_method("moco", Flat(), dim=4, queue_size=8, temperature=0.2, bn_splits=2).train()
    views = _views()
    x_q, x_k = two_views(views)
    before = method.queue.keys.clone()
    with torch.no_grad():
        q = F.normalize(method.projector(method.backbone(x_q)), dim=1)
        k = F.normalize(method.momentum_forward(x_k), dim=1)
    # MoCo Eq. 1 by hand: the positive against the K queue keys, nothing else
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ before.T], dim=1) / 0.2
    expected = -torch.log_softmax(logits, dim=1)[:, 0].mean()
    out = method({"views": views})
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(method.queue.keys[:4], k, atol=1e-6)  # the newest keys, in order
    assert torch.equal(method.queue.keys[4:], before[4:]) and int(method.queue.pointer) == 4
    out["loss"].backward()
    assert all(p.grad is None for p in method.momentum_backbone.parameters())
    assert all(p.grad is None for p in method.momentum_projector.parameters())
    assert method.backbone.fc.weight.grad is not None


def test_moco_v1_and_v2_heads():
    v1 = build_method("moco", Flat(), mlp=False, dim=4, queue_size=8)
    v2 = build_method("moco", Flat(), mlp=True, dim=4, queue_size=8)
    assert isinstance(v1.projector, nn.Linear)
    linears = [m for m in v2.projector.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 6), (6, 4)]  # D -> D -> 128
    assert not any(isinstance(m, nn.BatchNorm1d) for m in v2.projector.modules())


def test_moco_v3_loss_is_symmetric_and_scaled_by_2t():
    torch.manual_seed(0)
    t = 0.2
    method = build_method("moco_v3", Flat(), hidden_dim=16, dim=4, temperature=t).eval()
    views = _views()
    x1, x2 = two_views(views)
    with torch.no_grad():
        q1, q2 = (method.predictor(method.projector(method.backbone(x))) for x in (x1, x2))
        k1, k2 = method.momentum_forward(x1), method.momentum_forward(x2)

    def ctr(q, k):  # moco-v3 builder.py contrastive_loss, one process
        logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / t
        return F.cross_entropy(logits, torch.arange(len(q))) * 2 * t

    expected = ctr(q1, k2) + ctr(q2, k1)
    assert method({"views": views})["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert expected.item() == pytest.approx(2 * t * (info_nce(q1, k2, t) + info_nce(q2, k1, t)).item())


def test_moco_v3_projector_and_predictor_layouts():
    method = build_method("moco_v3", Flat(), hidden_dim=16, dim=4)
    last = list(method.projector.modules())[-1]
    assert isinstance(last, nn.BatchNorm1d) and not last.affine  # BN without affine at the end
    assert all(m.bias is None for m in method.projector.modules() if isinstance(m, nn.Linear))
    assert sum(isinstance(m, nn.Linear) for m in method.projector.modules()) == 3
    assert sum(isinstance(m, nn.Linear) for m in method.predictor.modules()) == 2
    assert not isinstance(list(method.predictor.modules())[-1], nn.BatchNorm1d)


def test_moco_v3_vit_has_fixed_position_embedding_and_frozen_patch_projection():
    vit = build_backbone("vit_tiny", img_size=32, patch_size=8)
    method = build_method("moco_v3", vit, hidden_dim=16, dim=4)
    assert not vit.pos_embed.requires_grad and not vit.patch_embed.proj.weight.requires_grad
    table = vit.pos_embed[0, 1:]
    assert torch.allclose(vit.pos_embed[0, 0], torch.zeros(vit.out_dim))
    quarter = vit.out_dim // 4
    # patch (row 0, col 1): x = 1 at the first frequency (1.0): sin(1), cos(1); y = 0: sin 0, cos 0
    assert table[1, 0].item() == pytest.approx(math.sin(1.0), abs=1e-6)
    assert table[1, quarter].item() == pytest.approx(math.cos(1.0), abs=1e-6)
    assert table[1, 2 * quarter].item() == pytest.approx(0.0, abs=1e-6)
    assert table[1, 3 * quarter].item() == pytest.approx(1.0, abs=1e-6)
    optimizer = build_optimizer(method, OptimConfig(weight_decay=0.1), 8)
    trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
    assert id(vit.patch_embed.proj.weight) not in trained and id(vit.pos_embed) not in trained
    no_decay = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert id(vit.cls_token) in no_decay  # by name (timm's no_weight_decay), not only by shape


def test_byol_loss_and_predictor_learning_rate():
    torch.manual_seed(0)
    method = build_method("byol", Flat(), hidden_dim=16, dim=4, predictor_lr_scale=10.0).eval()
    views = _views()
    x1, x2 = two_views(views)
    with torch.no_grad():
        p1, p2 = (method.predictor(method.projector(method.backbone(x))) for x in (x1, x2))
        z1, z2 = method.momentum_forward(x1), method.momentum_forward(x2)
    cos = F.cosine_similarity
    expected = (2 - 2 * cos(p1, z2, dim=1)).mean() + (2 - 2 * cos(p2, z1, dim=1)).mean()
    assert method({"views": views})["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    optimizer = build_optimizer(method, OptimConfig(lr=0.1), 8)
    predictor = {id(p) for p in method.predictor.parameters()}
    for group in optimizer.param_groups:
        in_predictor = {id(p) in predictor for p in group["params"]}
        assert len(in_predictor) == 1  # a group is all predictor or all not
        assert group["lr"] == pytest.approx(1.0 if in_predictor.pop() else 0.1)


@pytest.mark.parametrize("name", ["moco", "moco_v3", "byol"])
def test_momentum_update_follows_the_schedule(name):
    torch.manual_seed(0)
    method = build_method(name, Flat(), **({"queue_size": 8} if name == "moco" else {"hidden_dim": 8}))
    online, target = method.backbone.fc.weight, method.momentum_backbone.fc.weight
    assert torch.equal(online, target)  # the target starts as a copy
    with torch.no_grad():
        online.add_(1.0)
    before = target.clone()
    method.on_step_end(5, 10)
    m = method.momentum_schedule(5, 10)
    assert m == (0.999 if name == "moco" else pytest.approx(1 - (1 - method.momentum_schedule.base) / 2))
    assert torch.allclose(target, m * before + (1 - m) * online)
