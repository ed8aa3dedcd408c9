"""Properties of tempssl.data.transforms: clip consistency, view independence, recipes, errors."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from tempssl.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RECIPES,
    TRANSFORMS,
    ClipTransform,
    MultiViewTransform,
    build_transform,
)

# Every augmentation on, at probability 1 (grayscale_p=0 in a second case keeps hue/saturation visible).
ALL_ON = dict(
    scale=(0.2, 1.0),
    flip_p=1.0,
    color_jitter=(0.4, 0.4, 0.4, 0.1),
    color_jitter_p=1.0,
    grayscale_p=1.0,
    blur_p=1.0,
    solarize_p=1.0,
)
GEOMETRY_ONLY = dict(color_jitter=None, grayscale_p=0.0, blur_p=0.0, solarize_p=0.0)


def random_frames(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def find_op(tf: ClipTransform, op_type: type) -> tuple[object | None, float]:
    """The op of `op_type` in a built pipeline and the probability it is applied (0 when absent)."""
    for step in [*tf.geometric, *tf.color]:
        op, p = step, getattr(step, "p", 1.0)
        if isinstance(step, v2.RandomApply):
            op = step.transforms[0]
        if isinstance(op, op_type):
            return op, p
    return None, 0.0


# --- clip consistency -------------------------------------------------------------------------


@pytest.mark.parametrize("grayscale_p", [1.0, 0.0])
def test_identical_frames_stay_identical_with_every_augmentation(grayscale_p):
    image = random_frames(40, 56, 3)
    clip = image.expand(6, -1, -1, -1)
    tf = ClipTransform(size=32, **{**ALL_ON, "grayscale_p": grayscale_p})
    outputs = []
    for seed in range(15):
        torch.manual_seed(seed)
        out = tf(clip)
        assert torch.equal(out, out[:1].expand_as(out)), (
            f"seed {seed}: frames were augmented differently"
        )
        outputs.append(out[0])
    assert not all(torch.equal(o, outputs[0]) for o in outputs[1:]), "the augmentation is not random"


def test_frame_by_frame_calls_would_differ():
    # Control for the test above: the same transform called once per frame draws new parameters.
    image = random_frames(40, 56, 3)
    tf = ClipTransform(size=32, **ALL_ON)
    torch.manual_seed(0)
    per_frame = [tf(image) for _ in range(4)]
    assert not all(torch.equal(f, per_frame[0]) for f in per_frame[1:])


def test_contrast_uses_the_clip_mean_so_a_static_patch_keeps_its_value():
    # Two frames with different backgrounds and the same grey patch: per-frame contrast (blend
    # toward each frame's mean) would give the patch two values; the clip's mean gives one.
    clip = torch.full((2, 32, 32, 3), 30, dtype=torch.uint8)
    clip[1] = 220
    clip[:, 12:20, 12:20] = 128
    tf = ClipTransform(
        size=32, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, color_jitter=(0, 0.8, 0, 0),
        color_jitter_p=1.0, mean=None, std=None,
    )  # fmt: skip
    for seed in range(5):
        torch.manual_seed(seed)
        out = tf(clip)
        torch.testing.assert_close(out[0, :, 12:20, 12:20], out[1, :, 12:20, 12:20])
    per_frame = F.adjust_contrast(clip.permute(0, 3, 1, 2).float() / 255, 1.5)
    assert not torch.allclose(per_frame[0, :, 12:20, 12:20], per_frame[1, :, 12:20, 12:20])


@pytest.mark.parametrize("jitter", [(0.4, 0.4, 0.4, 0.1), (0.0, 0.0, 0.0, 0.5), (0.8, 0.8, 0.8, 0.2)])
def test_color_jitter_of_one_image_matches_torchvision(jitter):
    # On one image (T=1) the clip's mean grey is the image's: the same result as v2.ColorJitter.
    image = torch.rand(3, 24, 20, generator=torch.Generator().manual_seed(0))
    image[:, :4, :4] = 0.5  # grey pixels (hue undefined)
    image[:, 4:8, :4] = torch.tensor([1.0, 1.0, 0.0]).view(3, 1, 1)  # two channels tie for max
    ours, _ = find_op(ClipTransform(size=24, color_jitter=jitter), v2.ColorJitter)
    for seed in range(8):
        torch.manual_seed(seed)
        result = ours(image)
        torch.manual_seed(seed)
        torch.testing.assert_close(result, v2.ColorJitter(*jitter)(image), atol=1e-5, rtol=0)


def moving_square_clip(num_frames: int = 8, step: tuple[int, int] = (2, 3)) -> torch.Tensor:
    """A 64x64 black clip with a white 10x10 square moving down by step[0] and right by step[1]."""
    clip = torch.zeros(num_frames, 64, 64, 3, dtype=torch.uint8)
    for t in range(num_frames):
        y, x = 12 + step[0] * t, 12 + step[1] * t
        clip[t, y : y + 10, x : x + 10] = 255
    return clip


def centroids(clip: torch.Tensor) -> torch.Tensor:
    """(T, 2) intensity-weighted (y, x) centre of a (T, C, H, W) clip."""
    weight = clip.mean(dim=1)
    weight = weight / weight.sum(dim=(1, 2), keepdim=True)
    ys = torch.arange(clip.shape[-2], dtype=torch.float32)
    xs = torch.arange(clip.shape[-1], dtype=torch.float32)
    return torch.stack([(weight.sum(2) * ys).sum(1), (weight.sum(1) * xs).sum(1)], dim=1)


def test_motion_direction_is_kept_and_flip_flips_all_frames():
    clip = moving_square_clip()
    # The crop keeps at least 60x60 of the 64x64 frame, so the square (rows/cols 12..43) stays in view.
    tf = ClipTransform(
        size=48, scale=(0.88, 1.0), ratio=(1.0, 1.0), mean=None, std=None, **GEOMETRY_ONLY
    )
    directions = set()
    for seed in range(12):
        torch.manual_seed(seed)
        moves = centroids(tf(clip)).diff(dim=0)
        assert (moves[:, 0] > 0).all(), f"seed {seed}: the square no longer moves down: {moves[:, 0]}"
        signs = torch.sign(moves[:, 1])
        assert (signs == signs[0]).all() and signs[0] != 0, (
            f"seed {seed}: horizontal motion {moves[:, 1]}"
        )
        directions.add(int(signs[0]))
    assert directions == {-1, 1}, "flip_p=0.5 should flip some clips and not others"


# --- per-view independence --------------------------------------------------------------------


def test_views_draw_their_own_parameters_and_share_them_across_frames():
    clip = random_frames(48, 48, 3).expand(4, -1, -1, -1)
    mvt = MultiViewTransform("simclr", size=32, num_views=3)
    for seed in range(5):
        torch.manual_seed(seed)
        views = mvt(clip)
        for view in views:
            assert torch.equal(view, view[:1].expand_as(view))
        assert not torch.equal(views[0], views[1]) and not torch.equal(views[1], views[2])


def test_crop_boxes_differ_between_views():
    image = random_frames(48, 48, 3)
    mvt = MultiViewTransform("mocov2", size=32, mean=None, std=None, flip_p=0.0, **GEOMETRY_ONLY)
    for seed in range(10):
        torch.manual_seed(seed)
        first, second = mvt(image)
        assert not torch.equal(first, second), f"seed {seed}: two views with the same crop"


def test_seeding_makes_calls_reproducible():
    clip = random_frames(3, 40, 40, 3)
    tf = build_transform("mocov3", size=32)
    torch.manual_seed(7)
    first = tf(clip)
    torch.manual_seed(7)
    second = tf(clip)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


# --- shapes, dtypes, normalization, eval ---------------------------------------------------------


@pytest.mark.parametrize("name", TRANSFORMS.names())
@pytest.mark.parametrize("frames_shape", [(5, 36, 50, 3), (36, 50, 3)])
def test_output_shapes_and_dtypes(name, frames_shape):
    out = build_transform(name, size=24)(random_frames(*frames_shape))
    views = out if isinstance(out, list) else [out]
    assert len(views) == (2 if name in RECIPES.names() else 1)
    for view in views:
        assert view.shape == (*frames_shape[:-3], 3, 24, 24)
        assert view.dtype == torch.float32 and view.is_contiguous()


def test_num_views():
    views = MultiViewTransform("mocov3", size=16, num_views=5)(random_frames(20, 20, 3))
    assert len(views) == 5


@pytest.mark.parametrize(
    ("mean", "std"), [(IMAGENET_MEAN, IMAGENET_STD), ((0.5, 0.5, 0.5), (0.25, 0.5, 1.0)), (None, None)]
)
@pytest.mark.parametrize("train", [True, False])
def test_normalization_of_a_constant_image(mean, std, train):
    rgb = torch.tensor([200, 100, 50], dtype=torch.uint8)
    clip = rgb.expand(2, 30, 40, 3)
    out = ClipTransform(size=16, train=train, mean=mean, std=std, **GEOMETRY_ONLY)(clip)
    expected = rgb.float() / 255
    if mean is not None:
        expected = (expected - torch.tensor(mean)) / torch.tensor(std)
    torch.testing.assert_close(out, expected.view(1, 3, 1, 1).expand_as(out), atol=1e-5, rtol=0)


def test_eval_is_deterministic_and_center_crops():
    clip = random_frames(3, 20, 30, 3)
    tf = build_transform("clip_eval", size=20, mean=None, std=None)
    torch.manual_seed(0)
    first = tf(clip)
    torch.manual_seed(1)
    assert torch.equal(tf(clip), first)
    # The short side is already 20: nothing is resized and the middle 20 of 30 columns are kept.
    torch.testing.assert_close(first, clip[:, :, 5:25].permute(0, 3, 1, 2).float() / 255)


def test_eval_resizes_the_short_side_before_cropping():
    # Left half black, right half white: the center crop of the resized frame shows both halves.
    clip = torch.zeros(1, 40, 80, 3, dtype=torch.uint8)
    clip[:, :, 40:] = 255
    out = ClipTransform(size=16, train=False, resize=20, mean=None, std=None)(clip)
    assert out.shape == (1, 3, 16, 16)
    assert out[..., :6].max() < 0.05 and out[..., -6:].min() > 0.95


# --- recipes -----------------------------------------------------------------------------------


def check_view(tf: ClipTransform, *, scale, jitter, blur_p, solarize_p, size=224):
    crop, _ = find_op(tf, v2.RandomResizedCrop)
    assert crop.scale == pytest.approx(scale) and crop.ratio == pytest.approx((3 / 4, 4 / 3))
    assert tf.flip_p == 0.5  # the flip is drawn in forward (callers may share one: draw_flip)
    color, color_p = find_op(tf, v2.ColorJitter)
    brightness, contrast, saturation, hue = jitter
    assert color.brightness == pytest.approx((1 - brightness, 1 + brightness))
    assert color.contrast == pytest.approx((1 - contrast, 1 + contrast))
    assert color.saturation == pytest.approx((1 - saturation, 1 + saturation))
    assert color.hue == pytest.approx((-hue, hue))
    assert color_p == 0.8
    assert find_op(tf, v2.RandomGrayscale)[1] == 0.2
    blur, p = find_op(tf, v2.GaussianBlur)
    assert p == blur_p
    assert list(blur.sigma) == pytest.approx([0.1, 2.0]) and blur.kernel_size == (23, 23)
    solarize, p = find_op(tf, v2.RandomSolarize)
    assert p == solarize_p
    if solarize is not None:
        assert solarize.threshold == 0.5


def test_simclr_recipe():
    (view, other) = MultiViewTransform("simclr").views
    for tf in (view, other):
        check_view(tf, scale=(0.08, 1.0), jitter=(0.8, 0.8, 0.8, 0.2), blur_p=0.5, solarize_p=0.0)


def test_mocov2_recipe():
    for tf in MultiViewTransform("mocov2").views:
        check_view(tf, scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1), blur_p=0.5, solarize_p=0.0)


def test_mocov3_recipe_is_asymmetric():
    views = MultiViewTransform("mocov3", num_views=4).views
    for i, tf in enumerate(views):
        blur_p, solarize_p = (1.0, 0.0) if i % 2 == 0 else (0.1, 0.2)
        check_view(
            tf, scale=(0.08, 1.0), jitter=(0.4, 0.4, 0.2, 0.1), blur_p=blur_p, solarize_p=solarize_p
        )


def test_overrides_apply_to_every_view():
    views = MultiViewTransform("mocov3", size=64, blur_p=0.3, scale=(0.5, 1.0)).views
    assert [find_op(tf, v2.GaussianBlur)[1] for tf in views] == [0.3, 0.3]
    assert all(find_op(tf, v2.RandomResizedCrop)[0].scale == (0.5, 1.0) for tf in views)


def test_blur_kernel_is_odd_and_scales_with_size():
    kernels = []
    for size in (8, 16, 32, 64, 112, 224, 320):
        blur, _ = find_op(ClipTransform(size=size, blur_p=1.0), v2.GaussianBlur)
        k, k2 = blur.kernel_size
        assert k == k2 and k % 2 == 1 and k >= 3
        assert k == 3 or abs(k - 0.1 * size) <= 1
        kernels.append(k)
    assert kernels == sorted(kernels) and kernels[-1] > kernels[0]


@pytest.mark.parametrize(("size", "shape"), [(224, (3, 40, 56)), (112, (4, 3, 24, 20)), (16, (3, 8, 8))])
def test_blur_matches_torchvision(size, shape):
    blur, _ = find_op(ClipTransform(size=size, blur_p=1.0), v2.GaussianBlur)
    image = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    for seed in range(3):
        torch.manual_seed(seed)
        ours = blur(image)
        torch.manual_seed(seed)
        reference = v2.GaussianBlur(blur.kernel_size, blur.sigma)(image)
        torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)


def test_small_images_work_with_every_recipe():
    for name in RECIPES.names():
        torch.manual_seed(0)
        for view in build_transform(name, size=16, blur_p=1.0)(random_frames(16, 16, 3)):
            assert view.shape == (3, 16, 16) and torch.isfinite(view).all()


# --- errors ------------------------------------------------------------------------------------


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(
        ValueError,
        match=r"^unknown transform 'simclrr'; did you mean 'simclr'\? valid choices: clip, "
        r"clip_eval, mocov1, mocov2, mocov3, simclr$",
    ):
        build_transform("simclrr")
    with pytest.raises(ValueError, match=r"unknown recipe 'byol'.*mocov2, mocov3, simclr"):
        MultiViewTransform("byol")
    with pytest.raises(ValueError, match=r"unknown override.*'blur'.*blur_p"):
        MultiViewTransform("simclr", blur=0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(size=0), "size must be a positive int"),
        (dict(size=-3), "size must be a positive int"),
        (dict(size=2.5), "size must be a positive int"),
        (dict(scale=(0.9, 0.1)), r"scale must be a \(lo, hi\) pair with 0 < lo <= hi <= 1"),
        (dict(scale=(0.0, 1.0)), "scale must be"),
        (dict(scale=0.5), r"scale must be a \(lo, hi\) pair of numbers"),
        (dict(ratio=(2.0, 1.0)), "ratio must be"),
        (dict(blur_sigma=(0.0, 1.0)), "blur_sigma must be"),
        (dict(flip_p=1.5), r"flip_p must be a probability in \[0, 1\]"),
        (dict(solarize_p=True), "solarize_p must be a probability"),
        (dict(color_jitter=(0.4, 0.4)), r"color_jitter must be None or \(brightness"),
        (dict(color_jitter=(0.4, 0.4, 0.4, 0.7)), "hue <= 0.5"),
        (dict(size=32, resize=20, train=False), r"resize must be >= size \(32\)"),
        (dict(mean=(0.5, 0.5, 0.5), std=None), "mean and std must both be given"),
        (dict(std=(0.2, 0.0, 0.2)), "std values must be > 0"),
        (dict(mean=(0.5, 0.5)), "mean must be 3 values"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClipTransform(**kwargs)


def test_bad_num_views():
    with pytest.raises(ValueError, match="num_views must be an int >= 1"):
        MultiViewTransform("simclr", num_views=0)


@pytest.mark.parametrize(
    "frames",
    [
        torch.zeros(2, 16, 16, 3),  # float
        torch.zeros(2, 3, 16, 16, dtype=torch.uint8),  # channels first
        torch.zeros(16, 16, dtype=torch.uint8),  # no channel dim
        torch.zeros(1, 2, 16, 16, 3, dtype=torch.uint8),  # 5-D
        torch.zeros(0, 16, 16, 3, dtype=torch.uint8),  # no frames
        [[0, 0, 0]],  # not a tensor
    ],
)
def test_bad_frames_name_the_expected_shape(frames):
    with pytest.raises(ValueError, match=r"torch.uint8 tensor of shape \(T, H, W, 3\) or \(H, W, 3\)"):
        ClipTransform(size=8)(frames)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        MultiViewTransform("simclr", size=8)(frames)


def test_decode_size_rule_is_the_resize_then_crop_ratio():
    from tempssl.data.transforms import decode_size_for

    assert [decode_size_for(c) for c in (224, 112, 64, 96, 160)] == [256, 128, 74, 110, 183]
