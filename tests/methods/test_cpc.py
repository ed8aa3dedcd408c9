"""CPC (van den Oord et al. 2018) / DPC (Han et al. 2019): the loss against an explicit loop over
(sequence, time, step) written from the paper's equations, invariances, and the block encoders."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tempssl.data.transforms import ClipTransform
from tempssl.losses import cpc_loss
from tempssl.methods import build_method
from tempssl.models import build_backbone


def test_cpc_loss_by_hand():
    predictions = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    latents = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 1.5]])
    loss, accuracy, own = cpc_loss(predictions, latents, torch.tensor([0, 1]))
    # scores: row 0 = (1, 0, 0.5), target 0 (top); row 1 = (0, 2, 3), target 1 (not top)
    row0 = -math.log(math.e / (math.e + 1 + math.exp(0.5)))
    row1 = -math.log(math.exp(2) / (1 + math.exp(2) + math.exp(3)))
    assert loss.item() == pytest.approx((row0 + row1) / 2, abs=1e-6)
    assert accuracy.item() == pytest.approx(0.5)
    assert own.item() == pytest.approx(0.5)  # no groups: all latents are one group


def test_own_accuracy_ranks_only_the_targets_own_group():
    predictions = torch.tensor([[0.0, 2.0], [1.0, 0.0]])
    latents = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 1.5], [0.9, 0.0]])
    groups = torch.tensor([0, 0, 1, 1])
    # row 0: target 1 (group 0) loses to latent 2 overall but wins within group 0;
    # row 1: target 3 (group 1) loses to latent 0 overall and wins within group 1 (0.9 > 0.5)
    _, accuracy, own = cpc_loss(predictions, latents, torch.tensor([1, 3]), groups=groups)
    assert accuracy.item() == 0.0 and own.item() == 1.0
    with pytest.raises(ValueError, match="groups must be"):
        cpc_loss(predictions, latents, torch.tensor([1, 3]), groups=groups[:3])


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


def test_own_prediction_accuracy_ranks_the_sequences_own_blocks():
    """Top-1 among the N blocks of the prediction's own sequence (explicit loop)."""
    method = _method(pred_steps=2, gather=False)
    clip = torch.rand(3, 5, 2, 3, 16, 16)
    with torch.no_grad():
        out = method({"clip": clip})
        z = method.encode_blocks(clip)
        c, _ = method.aggregator(z)
        hits, overall = [], []
        for b in range(3):
            for k in (1, 2):
                for t in range(5 - k):
                    prediction = method.predictors[k - 1].weight @ c[b, t]
                    hits.append(int((z[b] @ prediction).argmax()) == t + k)
                    overall.append(int((z.flatten(0, 1) @ prediction).argmax()) == b * 5 + t + k)
    assert out["own_prediction_accuracy"].item() == pytest.approx(sum(hits) / len(hits))
    assert out["prediction_accuracy"].item() == pytest.approx(sum(overall) / len(overall))


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


# --- the sequences' augmentation (DPC: crop and flip per sequence, colour per frame) ---------------


def _texture(frames: int) -> torch.Tensor:
    """The same random uint8 picture in every frame, values in [64, 127] (no clamping at x1.5)."""
    picture = torch.randint(64, 128, (48, 56, 3), generator=torch.Generator().manual_seed(0))
    return picture.to(torch.uint8).expand(frames, -1, -1, -1).contiguous()


def test_per_frame_colour_keeps_one_crop_for_the_sequence():
    """Brightness only (`x * b_t`): every frame is the one crop times its own factor."""
    torch.manual_seed(0)
    tf = ClipTransform(
        32, scale=(0.3, 0.6), color_jitter=(0.5, 0, 0, 0), color_jitter_p=1.0,
        color_per_frame=True, mean=None, std=None,
    )  # fmt: skip
    out = tf(_texture(6))
    ratios = out / out[:1]  # (T, 3, H, W): constant within each frame iff the crop is shared
    per_frame = ratios.flatten(1)
    torch.testing.assert_close(per_frame, per_frame[:, :1].expand_as(per_frame), rtol=1e-4, atol=1e-4)
    assert per_frame[:, 0].unique().numel() == 6  # each frame drew its own brightness


@pytest.mark.parametrize("per_frame", [True, False])
def test_colour_differs_per_frame_only_when_asked(per_frame):
    torch.manual_seed(1)
    tf = ClipTransform(
        32, color_jitter=(0.5, 0.5, 0.5, 0.25), color_jitter_p=1.0, grayscale_p=0.5,
        grayscale_mode="channel", color_per_frame=per_frame,
    )  # fmt: skip
    out = tf(_texture(8))
    differ = [not torch.allclose(out[t], out[0]) for t in range(1, 8)]
    assert all(differ) if per_frame else not any(differ)


def test_channel_grayscale_copies_one_channel():
    torch.manual_seed(0)
    picture = torch.randint(0, 256, (1, 40, 40, 3), dtype=torch.uint8)
    tf = ClipTransform(40, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, grayscale_p=1.0,
                       grayscale_mode="channel", mean=None, std=None)  # fmt: skip
    seen = set()
    for _ in range(20):
        out = tf(picture)[0]
        assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
        (channel,) = [c for c in range(3) if torch.allclose(out[0], picture[0, ..., c] / 255)]
        seen.add(channel)
    assert seen == {0, 1, 2}


def test_bad_augmentation_options():
    with pytest.raises(ValueError, match=r"unknown grayscale_mode 'chanel'; did you mean 'channel'\?"):
        ClipTransform(32, grayscale_mode="chanel")
    with pytest.raises(ValueError, match="color_per_frame must be true or false"):
        ClipTransform(32, color_per_frame="yes")
