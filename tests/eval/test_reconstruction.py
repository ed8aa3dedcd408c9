"""PSNR, SSIM and the reconstruction grid against their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tempssl.eval.reconstruction import image_grid, psnr, ssim


def test_psnr_of_known_errors():
    x = torch.rand(2, 3, 16, 16) * 0.8
    assert torch.isinf(psnr(x, x)).all()
    assert psnr(x, x + 0.1).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)  # MSE 0.01
    noise = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 0.05
    assert psnr(x[:1].repeat(1, 1, 16, 16), x[:1].repeat(1, 1, 16, 16) + noise).item() == pytest.approx(
        -20 * math.log10(0.05), abs=0.05
    )  # 26.02 dB for noise of std 0.05
    assert psnr(x * 255, (x + 0.1) * 255, data_range=255).tolist() == pytest.approx(
        [20.0, 20.0], abs=1e-4
    )


def test_ssim_of_identical_and_constant_images():
    x = torch.rand(2, 3, 20, 20)
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    # constant images a and b: no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    a, b, c1 = 0.3, 0.6, 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert ssim(torch.full((1, 1, 16, 16), a), torch.full((1, 1, 16, 16), b)).item() == pytest.approx(
        expected
    )


def test_ssim_drops_with_noise_and_is_symmetric():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 32, 32, generator=gen)
    scores = [
        ssim(x, (x + s * torch.randn(x.shape, generator=gen)).clamp(0, 1)).item()
        for s in (0.02, 0.1, 0.3)
    ]
    assert scores[0] > scores[1] > scores[2]
    y = (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
    assert ssim(x, y).item() == pytest.approx(ssim(y, x).item(), abs=1e-7)


def test_ssim_matches_a_direct_computation_at_one_window():
    # an 11x11 image has exactly one valid window: SSIM from Gaussian-weighted global statistics
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(1, 1, 11, 11, generator=gen), torch.rand(1, 1, 11, 11, generator=gen)
    c = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(c**2) / (2 * 1.5**2))
    w = (g[:, None] * g[None]) / (g.sum() ** 2)
    xd, yd = x[0, 0].double(), y[0, 0].double()
    mx, my = (w * xd).sum(), (w * yd).sum()
    vx, vy = (w * xd * xd).sum() - mx**2, (w * yd * yd).sum() - my**2
    cov = (w * xd * yd).sum() - mx * my
    c1, c2 = 0.01**2, 0.03**2
    expected = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(x, y).item() == pytest.approx(expected.item(), rel=1e-5)


def test_image_grid_places_each_column():
    black, white = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    grid = image_grid([black, white], pad=2)
    assert grid.shape == (2 * 6, 2 * 6, 3) and grid.dtype == np.uint8
    assert (grid[:4, :4] == 0).all() and (grid[:4, 6:10] == 255).all() and (grid[6:10, :4] == 0).all()
