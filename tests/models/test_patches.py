"""Patchify / masking / sin-cos tables against their definitions (facebookresearch/mae)."""

from __future__ import annotations

import math

import pytest
import torch

from tempssl.models.patches import (
    keep_tokens,
    patchify,
    random_masking,
    sincos_1d,
    sincos_2d,
    sincos_3d,
    tube_masking,
    unpatchify,
)


def test_patchify_matches_a_literal_loop_and_round_trips():
    images = torch.randn(2, 3, 8, 12)
    patches = patchify(images, 4)
    assert patches.shape == (2, 6, 4 * 4 * 3)
    # patch n = row-major (i, j); inside, pixels in (p, q, c) order as MAE's einsum 'nhwpqc'
    for n, (i, j) in enumerate((i, j) for i in range(2) for j in range(3)):
        block = images[:, :, 4 * i : 4 * i + 4, 4 * j : 4 * j + 4]  # (B, C, p, q)
        assert torch.equal(patches[:, n], block.permute(0, 2, 3, 1).reshape(2, -1))
    assert torch.equal(unpatchify(patches, 4, (2, 3)), images)


def test_tubelets_round_trip_and_are_time_slowest():
    clip = torch.randn(2, 3, 4, 8, 8)  # (B, C, T, H, W)
    tubes = patchify(clip, 4, tubelet=2)
    assert tubes.shape == (2, 2 * 2 * 2, 2 * 4 * 4 * 3)
    assert torch.equal(unpatchify(tubes, 4, (2, 2, 2), tubelet=2), clip)
    # token 4 is time step 1 (frames 2-3), top-left patch
    expected = clip[:, :, 2:4, :4, :4].permute(0, 2, 3, 4, 1).reshape(2, -1)
    assert torch.equal(tubes[:, 4], expected)


def test_patchify_refuses_sizes_that_do_not_split():
    with pytest.raises(ValueError, match="does not split"):
        patchify(torch.zeros(1, 3, 10, 8), 4)


@pytest.mark.parametrize("ratio", [0.75, 0.9, 0.5])
def test_random_masking_keeps_the_ratio_per_sample_with_different_subsets(ratio):
    keep, mask = random_masking(16, 64, ratio, generator=torch.Generator().manual_seed(0))
    kept = round(64 * (1 - ratio))
    assert keep.shape == (16, kept)
    assert (mask.sum(dim=1) == 64 - kept).all()  # exactly the ratio, for every sample
    assert not mask.gather(1, keep).any()  # kept = not masked
    assert (keep.diff(dim=1) > 0).all()  # ascending, no repeats
    assert len({tuple(row.tolist()) for row in keep}) == 16  # per-sample subsets


def test_random_masking_is_uniform_over_positions():
    _, mask = random_masking(4000, 16, 0.75, generator=torch.Generator().manual_seed(1))
    rate = mask.float().mean(dim=0)
    assert torch.allclose(rate, torch.full((16,), 0.75), atol=0.03)


def test_tube_mask_is_constant_over_a_tubelets_time_steps():
    keep, mask = tube_masking(8, (4, 3, 3), 2 / 3, generator=torch.Generator().manual_seed(0))
    per_step = mask.view(8, 4, 9)
    assert (per_step == per_step[:, :1]).all()  # same spatial mask at every time step
    assert (per_step[:, 0].sum(dim=1) == 6).all()
    assert keep.shape == (8, 4 * 3)
    assert not mask.gather(1, keep).any()


def test_keep_tokens_gathers_each_samples_rows():
    tokens = torch.arange(2 * 5).float().view(2, 5, 1).expand(-1, -1, 3)
    kept = keep_tokens(tokens, torch.tensor([[0, 3], [1, 4]]))
    assert kept[:, :, 0].tolist() == [[0.0, 3.0], [6.0, 9.0]]


def test_sincos_tables_follow_the_formula():
    table = sincos_1d(torch.tensor([0.0, 3.0]), 8)
    omega = [1 / 10000 ** (i / 4) for i in range(4)]
    expected = [math.sin(3 * w) for w in omega] + [math.cos(3 * w) for w in omega]
    assert torch.allclose(table[1], torch.tensor(expected, dtype=torch.float64))
    grid = sincos_2d(4, 16)
    assert grid.shape == (16, 16)
    # token (row 1, col 2): first half embeds the column, second half the row
    assert torch.allclose(grid[1 * 4 + 2, :8], sincos_1d(torch.tensor([2.0]), 8)[0].float())
    assert torch.allclose(grid[1 * 4 + 2, 8:], sincos_1d(torch.tensor([1.0]), 8)[0].float())
    cube = sincos_3d((2, 3, 3), 24)
    assert cube.shape == (18, 24)
    assert len({tuple(row.tolist()) for row in cube}) == 18  # every (t, y, x) distinct
