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


def test_the_encoder_never_sees_the_dropped_region():
    method = _context_encoder().eval()
    images = torch.rand(2, 3, 32, 32)
    changed = images.clone()
    changed[:, :, 8:24, 8:24] = torch.rand(2, 3, 16, 16) * 10  # the central half
    with torch.no_grad():
        a, b = method.paint(images), method.paint(changed)
    assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1])


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


def test_reconstruction_loss_counts_the_dropped_region_only():
    method = _context_encoder(adversarial=False)
    images = torch.rand(2, 3, 32, 32)
    corners = torch.tensor([[8, 8], [8, 8]])
    painted = images.clone()
    painted[:, :, :8] = 100.0  # wrong outside the square: not counted
    assert method.losses(images, painted, corners, 16)["reconstruction"].item() == 0.0
    painted[:, :, 8:24, 8:24] += 0.5
    assert method.losses(images, painted, corners, 16)["reconstruction"].item() == pytest.approx(0.25)


def test_context_encoder_trains_and_pastes_its_painting_into_the_hole():
    method = _context_encoder()
    out = method({"frames": torch.rand(4, 1, 3, 32, 32)})
    assert {"loss", "reconstruction_loss", "adversarial_loss", "discriminator_loss"} <= set(out)
    out["loss"].backward()
    images = torch.rand(2, 3, 32, 32)
    parts = method.eval().reconstruct(images)
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[8:24, 8:24] = False
    assert torch.equal(parts["output"][:, :, outside], images[:, :, outside])
    assert (parts["masked"][:, :, 8:24, 8:24] == 0).all()
