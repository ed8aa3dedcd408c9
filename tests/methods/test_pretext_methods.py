"""MAE and rotation prediction against their papers' definitions."""

from __future__ import annotations

import math

import pytest
import torch

from tempssl.methods import build_method
from tempssl.methods.rotation import rotate_all
from tempssl.models import build_backbone
from tempssl.models.patches import patchify, random_masking, unpatchify


def _mae(**kwargs):
    torch.manual_seed(0)
    vit = build_backbone("vit_tiny", img_size=32, patch_size=8)
    args = dict(decoder_dim=32, decoder_depth=1, decoder_heads=2) | kwargs
    return build_method("mae", vit, **args).eval()


def test_masked_patches_never_reach_the_encoder():
    mae = _mae()
    images = torch.randn(2, 3, 32, 32)
    keep, mask = random_masking(2, 16, 0.75, generator=torch.Generator().manual_seed(0))
    changed = images.clone()
    hidden = patchify(changed, 8)
    hidden[mask] = torch.randn_like(hidden[mask]) * 10  # scramble every masked patch
    changed = unpatchify(hidden, 8, (4, 4))
    assert not torch.equal(changed, images)
    with torch.no_grad():
        assert torch.allclose(mae.encode(images, keep), mae.encode(changed, keep))
        assert mae.encode(images, keep).shape == (2, 1 + 4, 192)  # class token + 25 % of 16


def test_mae_loss_is_the_mse_of_masked_patches_only():
    mae = _mae(norm_pix_loss=False)
    images = torch.randn(2, 3, 32, 32)
    target = patchify(images, 8)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[0, :3] = mask[1, 5] = True
    predicted = target.clone()
    predicted[~mask] += 100.0  # visible patches are wrong: must not count
    predicted[0, 0] += 2.0  # one masked patch off by 2 everywhere: squared error 4
    assert mae.loss(images, predicted, mask).item() == pytest.approx(4.0 / 4)


def test_norm_pix_loss_normalizes_each_target_patch():
    mae = _mae(norm_pix_loss=True)
    images = torch.randn(1, 3, 32, 32) * 5 + 3
    target = patchify(images, 8)
    normalized = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    mask = torch.ones(1, 16, dtype=torch.bool)
    assert mae.loss(images, normalized, mask).item() == pytest.approx(0.0, abs=1e-8)
    assert mae.loss(images, torch.zeros_like(target), mask).item() == pytest.approx(1.0, rel=0.05)


def test_mae_masks_three_quarters_and_pastes_the_visible_patches():
    mae = _mae()
    images = torch.randn(3, 3, 32, 32)
    out = mae.reconstruct(images, generator=torch.Generator().manual_seed(0))
    assert (out["mask"].sum(dim=1) == 12).all()
    visible = ~out["mask"]
    assert torch.allclose(patchify(out["output"], 8)[visible], patchify(images, 8)[visible])
    assert (patchify(out["masked"], 8)[out["mask"]] == 0).all()
    assert {k: v.shape for k, v in out.items() if k != "mask"} == {
        k: images.shape for k in ("masked", "output", "target")
    }


def test_mae_trains_and_the_encoder_keeps_fixed_position_embeddings():
    mae = _mae().train()
    frames = torch.randn(4, 1, 3, 32, 32)
    loss = mae({"frames": frames})["loss"]
    loss.backward()
    assert not mae.backbone.pos_embed.requires_grad
    assert mae.backbone.patch_embed.proj.weight.grad is not None
    assert mae.decoder.mask_token.grad is not None


def test_mae_refuses_a_non_vit_backbone():
    with pytest.raises(ValueError, match="ViT backbone"):
        build_method("mae", build_backbone("small_cnn"))


def test_rotate_all_makes_every_rotation_of_every_image_with_its_label():
    image = torch.zeros(1, 1, 4, 4)
    image[..., 0, 3] = 1.0  # a mark in the top-right corner
    rotated, labels = rotate_all(torch.cat([image, 2 * image]))
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # counter-clockwise quarter turns carry top-right to top-left, bottom-left, bottom-right
    corners = [(0, 3), (0, 0), (3, 0), (3, 3)]
    for r, (y, x) in enumerate(corners):
        for b in range(2):
            assert rotated[2 * r + b, 0, y, x] == b + 1
            assert rotated[2 * r + b].sum() == b + 1


def test_rotation_refuses_non_square_frames():
    with pytest.raises(ValueError, match="square"):
        rotate_all(torch.zeros(2, 3, 4, 6))


def test_rotation_classifies_four_rotations_per_frame():
    torch.manual_seed(0)
    method = build_method("rotation", build_backbone("small_cnn"))
    out = method({"frames": torch.rand(3, 2, 3, 32, 32)})
    assert set(out) == {"loss", "rotation_accuracy"}
    assert out["loss"].item() == pytest.approx(torch.log(torch.tensor(4.0)).item(), rel=0.3)


def _hamming(perms):
    import numpy as np

    d = (perms[:, None, :] != perms[None, :, :]).sum(-1)
    np.fill_diagonal(d, perms.shape[1] + 1)
    return d


def test_permutation_set_is_distinct_deterministic_and_far_apart(tmp_path, monkeypatch):
    import numpy as np

    from tempssl.methods.jigsaw import hamming_permutations

    monkeypatch.setenv("TEMPSSL_CACHE", str(tmp_path))
    perms = hamming_permutations(100, seed=3)
    assert perms.shape == (100, 9) and len({tuple(p) for p in perms}) == 100
    assert all(sorted(p) == list(range(9)) for p in perms.tolist())
    assert _hamming(perms).min() >= 6  # a random set of 100 has pairs 2-3 apart
    rng = np.random.default_rng(0)
    assert _hamming(np.array([rng.permutation(9) for _ in range(100)])).min() < 6
    assert (tmp_path / "jigsaw" / "hamming_9_100_seed3.npy").is_file()  # cached ...
    assert np.array_equal(hamming_permutations(100, seed=3), perms)  # ... and the same
    monkeypatch.setenv("TEMPSSL_CACHE", str(tmp_path / "fresh"))
    assert np.array_equal(hamming_permutations(100, seed=3), perms)  # recomputed: deterministic


def test_greedy_choice_is_the_farthest_at_every_step():
    # 4 tiles: 24 orders, checked by brute force against the definition
    import itertools

    import numpy as np

    from tempssl.methods.jigsaw import hamming_permutations

    perms = hamming_permutations(8, tiles=4, seed=0)
    every = np.array(list(itertools.permutations(range(4))))
    for n in range(1, 8):
        dist = (every[:, None, :] != perms[None, :n]).sum(-1)  # (24, n)
        best = max((d.min(), d.sum()) for d in dist)  # farthest: min distance, then mean
        picked = dist[every.tolist().index(perms[n].tolist())]
        assert (picked.min(), picked.sum()) == best


def test_tiles_lie_inside_their_cells_at_random_offsets():
    from tempssl.methods.jigsaw import cut_tiles

    rows = torch.arange(30.0).view(30, 1).expand(30, 30)
    cols = torch.arange(30.0).view(1, 30).expand(30, 30)
    images = torch.stack([rows, cols]).expand(64, 2, 30, 30).contiguous()  # pixel = (row, col)
    tiles = cut_tiles(images, 0.8, generator=torch.Generator().manual_seed(0), normalize=False)
    assert tiles.shape == (64, 9, 2, 8, 8)  # floor(10 * 0.8)
    top, left = tiles[:, :, 0, 0, 0], tiles[:, :, 1, 0, 0]  # (64, 9) tile origins
    cell_row, cell_col = torch.arange(9) // 3 * 10, torch.arange(9) % 3 * 10
    assert ((top >= cell_row) & (top + 8 <= cell_row + 10)).all()  # inside its own cell
    assert ((left >= cell_col) & (left + 8 <= cell_col + 10)).all()
    assert len(set((top - cell_row).flatten().tolist())) == 3  # offsets 0, 1, 2 all drawn
    torch.testing.assert_close(tiles[:, :, 0, :, 0] - top[..., None], torch.arange(8.0).expand(64, 9, 8))


def test_each_tile_is_normalized_on_its_own():
    from tempssl.methods.jigsaw import cut_tiles

    images = torch.rand(4, 3, 30, 30) * torch.rand(4, 3, 1, 1) * 5 + torch.rand(4, 3, 1, 1) * 10
    tiles = cut_tiles(images, 0.8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(tiles.mean(dim=(-2, -1)), torch.zeros(4, 9, 3), atol=1e-4, rtol=0)
    torch.testing.assert_close(tiles.std(dim=(-2, -1)), torch.ones(4, 9, 3), atol=1e-3, rtol=0)


def test_jigsaw_classifies_the_permutation_of_shuffled_tiles(tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPSSL_CACHE", str(tmp_path))
    torch.manual_seed(0)
    method = build_method("jigsaw", build_backbone("small_cnn"), num_permutations=10, hidden_dim=16)
    out = method({"frames": torch.rand(4, 1, 3, 48, 48)})
    assert set(out) == {"loss", "permutation_accuracy"}
    assert out["loss"].item() == pytest.approx(math.log(10), rel=0.3)
    out["loss"].backward()
    assert all(p.grad is not None for p in method.backbone.parameters())


def _denoiser(**kwargs):
    torch.manual_seed(0)
    return build_method("denoising", build_backbone("small_cnn"), decoder_width=32, **kwargs)


def test_masking_noise_zeroes_the_given_fraction_and_gaussian_noise_has_its_std():
    images = torch.randn(8, 3, 32, 32) + 5.0  # no zeros of its own
    masked = _denoiser(mask_fraction=0.25).corrupt(images, torch.Generator().manual_seed(0))
    assert (masked == 0).float().mean().item() == pytest.approx(0.25, abs=0.01)
    kept = masked != 0
    assert torch.equal(masked[kept], images[kept])
    noisy = _denoiser(noise="gaussian", noise_std=0.5).corrupt(images, torch.Generator().manual_seed(0))
    assert (noisy - images).std().item() == pytest.approx(0.5, rel=0.02)


def test_denoising_restores_to_the_input_size_and_scores_against_the_clean_frame():
    method = _denoiser()
    frames = torch.rand(2, 1, 3, 48, 48)
    out = method({"frames": frames})
    out["loss"].backward()
    assert method.decoder.net[0].weight.grad is not None
    with torch.no_grad():
        parts = method.eval().reconstruct(frames[:, 0], torch.Generator().manual_seed(0))
    assert {k: v.shape for k, v in parts.items()} == {
        k: (2, 3, 48, 48) for k in ("input", "output", "target")
    }
    l1 = _denoiser(loss="l1")
    assert l1({"frames": frames})["loss"].item() > 0


def test_denoising_refuses_unknown_noise():
    with pytest.raises(ValueError, match="noise"):
        _denoiser(noise="salt")


def test_dropped_squares_are_cropped_and_masked_where_they_are():
    from tempssl.methods.inpainting import region_corners, square_masks
    from tempssl.models.patches import crop_squares

    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    corners = torch.tensor([[1, 2], [4, 0]])
    crops = crop_squares(images, corners[:, None], 3)[:, 0]
    assert torch.equal(crops[0], images[0, :, 1:4, 2:5]) and torch.equal(
        crops[1], images[1, :, 4:7, 0:3]
    )
    masks = square_masks(images.shape, corners, 3)
    assert masks.shape == (2, 1, 8, 8) and masks.sum().item() == 2 * 9
    assert masks[0, 0, 1:4, 2:5].all() and masks[1, 0, 4:7, 0:3].all()
    assert region_corners(3, 64, 32, "center").tolist() == [[16, 16]] * 3
    random = region_corners(100, 64, 32, "random", torch.Generator().manual_seed(0))
    assert random.min() >= 0 and random.max() <= 32 and len({tuple(c) for c in random.tolist()}) > 50


def _context_encoder(**kwargs):
    torch.manual_seed(0)
    return build_method("inpainting", build_backbone("small_cnn"), decoder_width=32, **kwargs)


def test_the_encoder_never_sees_the_dropped_region_but_sees_the_overlap_border():
    method = _context_encoder().eval()
    assert method.geometry(32) == (16, 1)  # the central half; 4/128 of 32 px overlaps
    images = torch.rand(2, 3, 32, 32)
    changed = images.clone()
    changed[:, :, 9:23, 9:23] = torch.rand(2, 3, 14, 14) * 10  # the hole: painted minus border
    with torch.no_grad():
        a, b = method.paint(images), method.paint(changed)
    assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1])
    border = images.clone()
    border[:, :, 8, 8:24] = 5.0  # the painted square's top row is context the encoder sees
    with torch.no_grad():
        assert not torch.equal(method.paint(border)[0], a[0])


def test_adversarial_gradients_reach_each_player_only_through_its_own_loss():
    method = _context_encoder(adversarial=True)
    images = torch.rand(4, 3, 32, 32)
    _, painted, corners, side = method.paint(images)
    parts = method.losses(images, painted, corners, side)
    painter = [p for n, p in method.named_parameters() if not n.startswith("discriminator.")]
    judge = list(method.discriminator.parameters())

    def grads(loss, params):
        return [g for g in torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)]

    # the painter's adversarial loss moves the painter (through D's verdict), never D
    assert all(g is None for g in grads(parts["adversarial"], judge))
    assert any(g is not None and g.abs().sum() > 0 for g in grads(parts["adversarial"], painter))
    # D's loss moves D only; the reconstruction moves the painter only
    assert all(g is None for g in grads(parts["discriminator"], painter))
    assert any(g is not None and g.abs().sum() > 0 for g in grads(parts["discriminator"], judge))
    assert all(g is None for g in grads(parts["reconstruction"], judge))


def test_reconstruction_loss_counts_the_painted_square_with_its_border_weighted():
    images = torch.rand(2, 3, 32, 32)
    corners = torch.tensor([[8, 8], [8, 8]])
    painted = images.clone()
    painted[:, :, :8] = 100.0  # wrong outside the square: not counted
    method = _context_encoder(adversarial=False)
    assert method.losses(images, painted, corners, 16)["reconstruction"].item() == 0.0
    painted[:, :, 8:24, 8:24] += 0.5
    # 16 x 16 square: its 14 x 14 inside at weight 1, the 1 px border (60 pixels) at 10
    expected = 0.25 * (14 * 14 + 10 * 60) / 256
    assert method.losses(images, painted, corners, 16)["reconstruction"].item() == pytest.approx(
        expected
    )
    plain = _context_encoder(adversarial=False, overlap_fraction=0.0)
    assert plain.losses(images, painted, corners, 16)["reconstruction"].item() == pytest.approx(0.25)
    painted[:, :, 9:23, 9:23] -= 0.5  # right inside, wrong on the border only
    assert method.losses(images, painted, corners, 16)["reconstruction"].item() == pytest.approx(
        0.25 * 10 * 60 / 256
    )


def test_context_encoder_trains_and_pastes_its_painting_into_the_hole():
    method = _context_encoder()
    out = method({"frames": torch.rand(4, 1, 3, 32, 32)})
    assert {"loss", "reconstruction_loss", "adversarial_loss", "discriminator_loss"} <= set(out)
    out["loss"].backward()
    images = torch.rand(2, 3, 32, 32)
    parts = method.eval().reconstruct(images)
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[9:23, 9:23] = False
    assert torch.equal(parts["output"][:, :, outside], images[:, :, outside])
    assert (parts["masked"][:, :, 9:23, 9:23] == 0).all()


def _colorizer(**kwargs):
    torch.manual_seed(0)
    backbone = build_backbone("small_cnn", width=8, in_chans=1)
    return build_method("colorization", backbone, **kwargs)


def test_colorization_loss_is_the_rebalanced_cross_entropy_of_soft_targets():
    """Paper Eq. 2: -sum_hw v(Z_hw) sum_q Z_hwq log Zhat_hwq, v the rebalancing weight of the
    target's most likely bin; computed here pixel by pixel from the definitions."""
    from tempssl.data.color import rebalancing_weights, rgb_to_lab, smoothed_prior, soft_encode

    method = _colorizer().eval()  # eval: the batch does not add to the bin counts
    method.bin_counts.copy_(torch.rand(313, generator=torch.Generator().manual_seed(1)) * 100)
    images = torch.rand(2, 1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    loss = method({"frames": images})["loss"]
    lab = rgb_to_lab(images[:, 0])
    logits = method.logits(lab)  # (2, 313, 8, 8): a quarter of 32 px
    assert logits.shape == (2, 313, 8, 8)
    weights = rebalancing_weights(smoothed_prior(method.bin_counts, method.bins), 0.5)
    total, pixels = 0.0, 0
    logits = logits.detach()
    for b in range(2):
        for y in range(8):
            for x in range(8):
                ab = lab[b, 1:, 4 * y : 4 * y + 4, 4 * x : 4 * x + 4].mean(dim=(1, 2))
                target = soft_encode(ab.view(1, 2, 1, 1), method.bins)[0, :, 0, 0]
                log_p = torch.log_softmax(logits[b, :, y, x], dim=0)
                total += float(weights[target.argmax()] * -(target * log_p).sum())
                pixels += 1
    assert loss.item() == pytest.approx(total / pixels, rel=1e-4)


def test_colorization_counts_the_target_bins_of_training_batches_only():
    method = _colorizer()
    images = torch.rand(3, 1, 3, 32, 32)
    method({"frames": images})
    assert float(method.bin_counts.sum()) == 3 * 8 * 8  # one target bin per output pixel
    assert "bin_counts" in method.state_dict()  # saved in checkpoints, restored on resume
    method.eval()({"frames": images})
    assert float(method.bin_counts.sum()) == 3 * 8 * 8


def test_colorization_sees_only_lightness():
    """Frames of the same L and different colours give the same prediction."""
    from tempssl.data.color import lab_to_rgb, rgb_to_lab

    method = _colorizer().eval()
    lab = rgb_to_lab(torch.rand(2, 3, 32, 32) * 0.5 + 0.25)
    recoloured = lab.clone()
    recoloured[:, 1:] *= 0.3  # another colour, the same lightness (still inside the gamut)
    a, b = lab_to_rgb(lab), lab_to_rgb(recoloured)
    torch.testing.assert_close(method.colorize(a), method.colorize(b), atol=1e-4, rtol=0)


def test_colorization_reconstructs_grey_input_and_coloured_output_with_the_frames_lightness():
    from tempssl.data.color import rgb_to_lab

    method = _colorizer().eval()
    images = torch.rand(2, 3, 32, 32)
    parts = method.reconstruct(images)
    assert {k: v.shape for k, v in parts.items()} == {k: (2, 3, 32, 32) for k in parts}
    grey = parts["input"]
    assert (grey.amax(dim=1) - grey.amin(dim=1)).max() < 1e-3  # R = G = B
    assert torch.equal(parts["target"], images)
    # the recoloured frame keeps each pixel's lightness (up to gamut clipping)
    lightness = rgb_to_lab(parts["output"])[:, 0] - rgb_to_lab(images)[:, 0]
    assert lightness.abs().median() < 1.0


def test_colorization_refuses_rgb_backbones_and_normalized_frames():
    with pytest.raises(ValueError, match="in_chans: 1"):
        build_method("colorization", build_backbone("small_cnn", width=8))
    with pytest.raises(ValueError, match=r"transforms.args.mean: null"):
        _colorizer()({"frames": torch.randn(2, 1, 3, 32, 32) * 2})


def test_context_patches_are_the_centre_and_a_neighbour_apart_by_the_gap_inside_the_frame():
    from tempssl.methods.context_prediction import NEIGHBOUR_CELLS, pair_corners, patch_geometry

    side = 128
    patch, gap, jitter = patch_geometry(side)
    assert (patch, gap) == (30, 15) and 3 * patch + 2 * gap + 2 * jitter <= side
    corners, labels = pair_corners(4000, side, patch, gap, jitter, torch.Generator().manual_seed(0))
    assert corners.min() >= 0 and corners.max() <= side - patch  # inside the frame
    assert torch.bincount(labels, minlength=8).min() > 400  # all 8 positions, about uniformly
    offset = corners[:, 1] - corners[:, 0]  # neighbour minus centre, (row, col)
    step = patch + gap
    cells = torch.tensor(NEIGHBOUR_CELLS)[labels] - 1  # (-1, 0, 1) per axis
    # the neighbour lies in its cell's direction, one grid step away up to the two jitters
    assert ((offset - cells * step).abs() <= 2 * jitter).all()
    # patches never touch: along an axis where they are neighbours, at least gap - 2 jitter apart
    separated = (offset.abs() - patch).amax(dim=1)
    assert separated.min() >= gap - 2 * jitter > 0


def test_color_dropping_keeps_one_channel_and_fills_the_others_with_faint_noise():
    from tempssl.methods.context_prediction import drop_colors

    patches = torch.randn(64, 3, 10, 10) * 2 + 1
    dropped = drop_colors(patches, torch.Generator().manual_seed(0))
    kept = (dropped == patches).flatten(2).all(dim=2)  # (64, 3) which channels are unchanged
    assert torch.equal(kept.sum(dim=1), torch.ones(64, dtype=torch.long))
    kept_std = patches[kept].flatten(1).std(dim=1)
    noise_std = dropped[~kept].view(64, 2, -1).std(dim=2)  # (64, 2)
    ratio = noise_std / kept_std[:, None]
    assert 0.007 < float(ratio.mean()) < 0.013  # 1/100 of the kept channel's std


def test_context_prediction_classifies_eight_positions_from_both_patches():
    torch.manual_seed(0)
    method = build_method("context_prediction", build_backbone("small_cnn", width=4), hidden_dim=16)
    out = method({"frames": torch.randn(6, 1, 3, 64, 64)})
    assert method.classifier[-1].out_features == 8 and method.classifier[0].in_features == 2 * 32
    assert 0 <= float(out["position_accuracy"]) <= 1
    out["loss"].backward()
    assert method.backbone.features[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="too small"):
        method({"frames": torch.randn(2, 1, 3, 2, 2)})
