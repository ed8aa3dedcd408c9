"""DPC (Han et al. 2019): the dense loss against an explicit loop over (block, location), the
feedback of predictions into the aggregator, pre-activation targets, and the context."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tempssl.losses import dpc_loss
from tempssl.methods import build_method
from tempssl.models import build_backbone


def _method(**kwargs):
    torch.manual_seed(0)
    kwargs = {"gather": False, "dropout": 0.0, **kwargs}
    return build_method("dpc", build_backbone("small_3dcnn", width=4), **kwargs).eval()


def _clip(batch: int = 3, blocks: int = 5, seed: int = 0) -> torch.Tensor:
    """`(B, N, L, C, H, W)`: blocks of 4 frames at 32 px -> 32-channel 2x2 maps."""
    return torch.rand(batch, blocks, 4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_dpc_loss_is_a_softmax_over_every_block_and_location():
    torch.manual_seed(0)
    predictions, targets = torch.randn(2, 3, 4, 2, 2), torch.randn(2, 3, 4, 2, 2)
    loss, accuracy, own = dpc_loss(predictions, targets)
    terms, hits, own_hits = [], [], []
    everything = [(b, k, y, x) for b in range(2) for k in range(3) for y in range(2) for x in range(2)]
    for b, k, y, x in everything:
        prediction = predictions[b, k, :, y, x]
        scores = torch.stack([prediction @ targets[c, s, :, v, u] for c, s, v, u in everything])
        positive = everything.index((b, k, y, x))
        terms.append(-F.log_softmax(scores, dim=0)[positive])
        hits.append(int(scores.argmax()) == positive)
        own_scores = scores[b * 12 : (b + 1) * 12]  # the sequence's own 3 steps x 4 locations
        own_hits.append(int(own_scores.argmax()) == positive - b * 12)
    assert loss.item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-5)
    assert accuracy.item() == pytest.approx(sum(hits) / len(hits))
    assert own.item() == pytest.approx(sum(own_hits) / len(own_hits))


def test_dpc_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(B, K, D, h, w\)"):
        dpc_loss(torch.zeros(2, 3, 4, 2, 2), torch.zeros(2, 3, 4, 2, 1))


def test_targets_are_the_pre_activation_maps_averaged_over_time():
    method = _method()
    clip = _clip()
    with torch.no_grad():
        z = method.encode_blocks(clip)
        block = clip[1, 2].transpose(0, 1)[None]  # (1, C, L, H, W)
        pre = method.backbone.forward_features(block, pre_activation=True)
    assert z.shape == (3, 5, 32, 2, 2)
    torch.testing.assert_close(z[1, 2], pre.mean(dim=2)[0], rtol=1e-5, atol=1e-6)
    assert (z < 0).any()  # before the ReLU: targets can be negative


def test_loss_matches_an_explicit_rollout_with_fed_back_predictions():
    """c_t aggregates the first N - K real blocks; each step predicts from the state, then feeds
    ReLU(prediction) back (Eq. 1-3); the loss is `dpc_loss` against the last K real maps."""
    method = _method(pred_steps=2)
    clip = _clip()
    with torch.no_grad():
        out = method({"clip": clip})
        z = method.encode_blocks(clip)
        state = None
        for t in range(3):
            state = method.aggregator.step(z[:, t].relu(), state)
        predictions = []
        for _ in range(2):
            predictions.append(method.predictor(state))
            state = method.aggregator.step(predictions[-1].relu(), state)
        expected = dpc_loss(torch.stack(predictions, 1), z[:, 3:])
    assert out["loss"].item() == pytest.approx(expected[0].item(), rel=1e-5)
    assert out["own_prediction_accuracy"].item() == pytest.approx(expected[2].item())


def test_predictions_never_see_the_blocks_they_predict():
    method = _method(pred_steps=3)
    clip = _clip(blocks=6)
    changed = clip.clone()
    changed[:, 3:] = torch.rand_like(changed[:, 3:])
    with torch.no_grad():
        torch.testing.assert_close(
            method.predict(method.encode_blocks(clip)), method.predict(method.encode_blocks(changed))
        )


def test_later_steps_build_on_earlier_predictions():
    """Step 2 comes from the state updated with step 1's prediction, not from the state alone."""
    method = _method(pred_steps=2)
    with torch.no_grad():
        z = method.encode_blocks(_clip())
        predictions = method.predict(z)
        state = method.aggregator(z[:, :3].relu())
        without_feedback = method.predictor(state)
        with_feedback = method.predictor(method.aggregator.step(predictions[:, 0].relu(), state))
    torch.testing.assert_close(predictions[:, 0], without_feedback)
    torch.testing.assert_close(predictions[:, 1], with_feedback)
    assert not torch.allclose(predictions[:, 1], without_feedback)


def test_context_embedding_is_the_spatially_pooled_state_after_all_blocks():
    method = _method()
    clip = _clip()
    with torch.no_grad():
        state = method.aggregator(method.encode_blocks(clip).relu())
        context = method.context_embedding(clip)
    assert context.shape == (3, 32)
    torch.testing.assert_close(context, state.mean(dim=(2, 3)))


def test_trains_and_logs_both_accuracies():
    method = _method(dropout=0.1).train()
    out = method({"clip": _clip(batch=2)})
    out["loss"].backward()
    assert all(p.grad is not None for p in method.parameters())
    assert 0 <= out["prediction_accuracy"] <= out["own_prediction_accuracy"] <= 1


def test_a_video_resnet_gives_dense_maps():
    torch.manual_seed(0)
    method = build_method("dpc", build_backbone("r3d_18"), gather=False).eval()
    clip = torch.rand(2, 4, 3, 3, 32, 32)  # 4 blocks of 3 frames at 32 px -> 512 x 2 x 2 maps
    with torch.no_grad():
        out = method({"clip": clip})
        assert method.encode_blocks(clip).shape == (2, 4, 512, 2, 2)
    assert torch.isfinite(out["loss"])


def test_bad_arguments_and_too_short_sequences():
    with pytest.raises(ValueError, match="trains clip backbones"):
        build_method("dpc", build_backbone("small_cnn", width=4))
    backbone = build_backbone("small_3dcnn", width=4)
    with pytest.raises(ValueError, match="pred_steps must be >= 1"):
        build_method("dpc", backbone, pred_steps=0)
    with pytest.raises(ValueError, match="kernel_size must be an odd"):
        build_method("dpc", backbone, kernel_size=2)
    method = build_method("dpc", backbone, pred_steps=3)
    with pytest.raises(ValueError, match=r"raise sampler\.args\.num_blocks"):
        method({"clip": _clip(blocks=3)})
