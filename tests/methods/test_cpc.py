"""CPC (van den Oord et al. 2018) / DPC (Han et al. 2019): the loss against an explicit loop over
(sequence, time, step) written from the paper's equations, invariances, and the block encoders."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tempssl.losses import cpc_loss
from tempssl.methods import build_method
from tempssl.models import build_backbone


def test_cpc_loss_by_hand():
    predictions = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    latents = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 1.5]])
    loss, accuracy = cpc_loss(predictions, latents, torch.tensor([0, 1]))
    # scores: row 0 = (1, 0, 0.5), target 0 (top); row 1 = (0, 2, 3), target 1 (not top)
    row0 = -math.log(math.e / (math.e + 1 + math.exp(0.5)))
    row1 = -math.log(math.exp(2) / (1 + math.exp(2) + math.exp(3)))
    assert loss.item() == pytest.approx((row0 + row1) / 2, abs=1e-6)
    assert accuracy.item() == pytest.approx(0.5)


def test_cpc_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="must share D"):
        cpc_loss(torch.zeros(2, 3), torch.zeros(4, 2), torch.zeros(2, dtype=torch.long))


def _method(**kwargs):
    torch.manual_seed(0)
    return build_method("cpc", build_backbone("small_cnn", width=4), context_dim=8, **kwargs).eval()


def test_loss_matches_an_explicit_loop_over_contexts_and_steps():
    method = _method(pred_steps=2, gather=False)
    clip = torch.rand(3, 5, 2, 3, 16, 16)  # 3 sequences of 5 blocks of 2 frames
    with torch.no_grad():
        out = method({"clip": clip})
        z = method.encode_blocks(clip)  # (B, N, D)
        c, _ = method.aggregator(z)
        everything = z.flatten(0, 1)
        terms = []
        for b in range(3):
            for k in (1, 2):
                for t in range(5 - k):  # c_t predicts z_{t+k} (paper Eq. 3-4)
                    scores = everything @ (method.predictors[k - 1].weight @ c[b, t])
                    terms.append(-F.log_softmax(scores, dim=0)[b * 5 + t + k])
    assert out["loss"].item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-5)


def test_loss_does_not_depend_on_the_order_of_the_sequences():
    method = _method(gather=False)
    clip = torch.rand(4, 6, 1, 3, 16, 16)
    with torch.no_grad():
        a = method({"clip": clip})["loss"]
        b = method({"clip": clip[torch.tensor([2, 0, 3, 1])]})["loss"]
    assert a.item() == pytest.approx(b.item(), rel=1e-5)


def test_a_frame_backbone_averages_the_frames_of_a_block():
    method = _method()
    clip = torch.rand(2, 3, 4, 3, 16, 16)
    with torch.no_grad():
        z = method.encode_blocks(clip)
        frames = method.backbone(clip.flatten(0, 2)).unflatten(0, (2, 3, 4))
    torch.testing.assert_close(z, frames.mean(dim=2))


def test_a_clip_backbone_takes_each_block_whole():
    torch.manual_seed(0)
    method = build_method("cpc", build_backbone("small_3dcnn", width=4), context_dim=8).eval()
    clip = torch.rand(2, 3, 4, 3, 16, 16)  # (B, N, L, C, H, W)
    with torch.no_grad():
        z = method.encode_blocks(clip)
        block = method.backbone(clip[1, 2].transpose(0, 1)[None])  # (1, C, L, H, W)
    torch.testing.assert_close(z[1, 2], block[0], rtol=1e-5, atol=1e-6)
    assert method.context_embedding(clip).shape == (2, 8)


def test_context_embedding_is_the_last_context():
    method = _method()
    clip = torch.rand(2, 4, 1, 3, 16, 16)
    with torch.no_grad():
        contexts = method.context(method.encode_blocks(clip))
    torch.testing.assert_close(method.context_embedding(clip), contexts[:, -1])
    # a later block cannot change an earlier context (the GRU only looks back)
    changed = clip.clone()
    changed[:, -1] = torch.rand_like(changed[:, -1])
    with torch.no_grad():
        other = method.context(method.encode_blocks(changed))
    torch.testing.assert_close(other[:, :-1], contexts[:, :-1])


def test_bad_arguments_and_too_short_sequences():
    backbone = build_backbone("small_cnn", width=4)
    with pytest.raises(ValueError, match="pred_steps must be >= 1"):
        build_method("cpc", backbone, pred_steps=0)
    with pytest.raises(ValueError, match="context_dim must be >= 1"):
        build_method("cpc", backbone, context_dim=0)
    method = build_method("cpc", backbone, pred_steps=3)
    with pytest.raises(ValueError, match=r"raise sampler\.args\.num_blocks"):
        method({"clip": torch.rand(2, 3, 1, 3, 16, 16)})
