"""CIE Lab and the quantized ab space of colorization, against the colour-science definitions
and the paper's (Zhang et al. 2016) equations."""

from __future__ import annotations

import math

import pytest
import torch

from tempssl.data.color import (
    ab_bins,
    annealed_mean,
    backbone_input,
    lab_to_rgb,
    rebalancing_weights,
    rgb_to_lab,
    smoothed_prior,
    soft_encode,
)


def _pixel(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(3, 1, 1)


def _srgb_grid(step: int = 5) -> torch.Tensor:
    """Every `step`-th 8-bit sRGB colour as `(3, N, 1)` in [0, 1]."""
    v = torch.arange(0, 256, step, dtype=torch.float64) / 255
    r, g, b = torch.meshgrid(v, v, v, indexing="ij")
    return torch.stack([r.flatten(), g.flatten(), b.flatten()])[:, :, None]


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),  # the D65 white
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),  # sRGB primaries' standard Lab values
        ((0.0, 1.0, 0.0), (87.73, -86.18, 83.18)),
        ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),
        ((0.5, 0.5, 0.5), (53.39, 0.0, 0.0)),  # a neutral grey has no colour
    ],
)
def test_lab_of_reference_colours(rgb, lab):
    assert rgb_to_lab(_pixel(*rgb)).flatten().tolist() == pytest.approx(lab, abs=0.02)


def test_lab_round_trip_is_exact_on_srgb_colours():
    rgb = _srgb_grid()
    assert (lab_to_rgb(rgb_to_lab(rgb)) - rgb).abs().max() < 1e-9
    images = torch.rand(2, 4, 3, 5, 7)  # any leading dimensions, float32
    assert (lab_to_rgb(rgb_to_lab(images)) - images).abs().max() < 1e-4


def test_there_are_313_distinct_bins_on_the_grid_of_10():
    bins = ab_bins()
    assert bins.shape == (313, 2)
    assert len(torch.unique(bins, dim=0)) == 313
    assert torch.equal(bins % 10, torch.zeros_like(bins))


def test_every_srgb_colour_falls_in_the_cell_of_a_bin():
    """The bins cover the sRGB gamut: each colour's ab is within half a grid step (in each
    coordinate) of a bin centre."""
    ab = rgb_to_lab(_srgb_grid(3))[1:, :, 0].T  # (N, 2)
    distance = (ab[:, None, :] - ab_bins().double()[None]).abs().amax(dim=-1).amin(dim=1)
    assert distance.max() <= 5.0 + 1e-9


def test_soft_encoding_weights_the_5_nearest_bins_by_a_gaussian():
    bins = ab_bins()
    # a pixel exactly on the bin (0, 0): its 4 grid neighbours are 10 away
    encoded = soft_encode(torch.zeros(1, 2, 1, 1), bins, neighbours=5, sigma=5.0)[0, :, 0, 0]
    assert encoded.sum() == pytest.approx(1.0)
    assert int((encoded > 0).sum()) == 5
    centre = int(((bins == 0).all(dim=1)).nonzero())
    far = math.exp(-(10.0**2) / (2 * 5.0**2))
    assert float(encoded[centre]) == pytest.approx(1 / (1 + 4 * far))
    nearest = torch.cdist(torch.zeros(1, 2), bins)[0]
    neighbours = (nearest - 10).abs() < 1e-6
    assert encoded[neighbours].tolist() == pytest.approx([far / (1 + 4 * far)] * 4)


def test_soft_encoding_keeps_the_pixel_layout():
    bins = ab_bins()
    ab = torch.tensor([[40.0, -100.0], [-90.0, 50.0]]).T.reshape(1, 2, 1, 2)
    encoded = soft_encode(ab, bins)
    assert encoded.shape == (1, 313, 1, 2)
    for j, (a, b) in enumerate([(40, -100), (-90, 50)]):
        best = int(encoded[0, :, 0, j].argmax())
        assert bins[best].tolist() == [a, b]


def test_rebalancing_weights_have_expectation_one_under_the_prior():
    counts = torch.rand(313, generator=torch.Generator().manual_seed(0)) ** 4 * 1000
    prior = smoothed_prior(counts, ab_bins())
    assert float(prior.sum()) == pytest.approx(1.0)
    for mix in (0.0, 0.5, 0.9):
        weights = rebalancing_weights(prior, mix)
        assert float((prior * weights).sum()) == pytest.approx(1.0)
    # lambda = 1 is no rebalancing; lambda = 0 the inverse of the prior; rare bins weigh more
    assert torch.allclose(rebalancing_weights(prior, 1.0), torch.ones(313))
    inverse = rebalancing_weights(prior, 0.0)
    assert torch.allclose(inverse * prior, (inverse * prior)[0].expand(313))
    half = rebalancing_weights(prior, 0.5)
    assert half[prior.argmin()] > half[prior.argmax()]


def test_smoothing_spreads_one_bin_by_the_gaussian_kernel():
    bins = ab_bins()
    counts = torch.zeros(313)
    centre = int(((bins == 0).all(dim=1)).nonzero())
    counts[centre] = 7.0
    prior = smoothed_prior(counts, bins, sigma=5.0)
    neighbour = int(((bins == torch.tensor([10.0, 0.0])).all(dim=1)).nonzero())
    # K(c_q, c_centre) / sum_j K(c_j, c_centre): the ratio of neighbour to centre is exp(-2)
    assert float(prior[neighbour] / prior[centre]) == pytest.approx(math.exp(-2.0), rel=1e-6)


def test_annealed_mean_interpolates_between_the_mean_and_the_mode():
    bins = ab_bins()
    p = torch.zeros(1, 313, 1, 1)
    p[0, 0], p[0, 100], p[0, 200] = 0.5, 0.3, 0.2
    mean = (0.5 * bins[0] + 0.3 * bins[100] + 0.2 * bins[200]).view(1, 2, 1, 1)
    assert torch.allclose(annealed_mean(p, bins, temperature=1.0), mean, atol=1e-4)
    assert torch.allclose(annealed_mean(p, bins, temperature=0.01), bins[0].view(1, 2, 1, 1), atol=1e-3)
    # T = 0.38: the distribution re-normalized as p ** (1 / T)
    tempered = torch.tensor([0.5, 0.3, 0.2]) ** (1 / 0.38)
    tempered = tempered / tempered.sum()
    expected = tempered[0] * bins[0] + tempered[1] * bins[100] + tempered[2] * bins[200]
    assert torch.allclose(annealed_mean(p, bins).flatten(), expected, atol=1e-3)


def test_backbone_input_undoes_the_normalization_before_taking_lightness():
    rgb = torch.rand(2, 3, 4, 4)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    normalized = (rgb - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    expected = (rgb_to_lab(rgb)[:, :1] - 50) / 50
    assert torch.allclose(backbone_input(normalized, 1, mean, std), expected, atol=1e-4)
    assert torch.allclose(backbone_input(rgb, 1, None, None), expected, atol=1e-5)
    assert backbone_input(rgb, 3, None, None) is rgb
    with pytest.raises(ValueError, match="2 input channels"):
        backbone_input(rgb, 2, None, None)
