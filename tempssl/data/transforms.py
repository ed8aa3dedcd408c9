"""Augment decoded frames and turn them into normalized float tensors (torchvision.transforms.v2).

Frames arrive from `tempssl.video` as `torch.uint8 (T, H, W, 3)` RGB. Two modes:

- `ClipTransform`: one draw of random parameters (crop box, flip, colour jitter, grayscale, blur,
  solarize) for all T frames of a clip or tuple, so that temporal order and motion keep their meaning.
  With `color_per_frame=True` the crop and flip stay one draw for the clip but the colour ops draw
  their parameters for every frame (Dense Predictive Coding, Han et al. 2019: so that colour alone
  cannot tell which sequence a block comes from).
- `MultiViewTransform`: the two-view recipes of SimCLR, MoCo v2 and MoCo v3 / BYOL, where every view
  draws its own parameters (and shares them across its own frames).

Why one call is clip-consistent: a v2 transform called on a `(T, C, H, W)` tensor treats T as a batch
dimension and draws its parameters once per call (`make_params`, and `RandomApply` / `p` draws once).
The one data-dependent exception is contrast, which blends each image toward its own mean grey; our
colour jitter blends toward the clip's mean grey, so a static object keeps its colour in every frame.

Speed: geometric ops run on uint8 (torchvision's native uint8 resize is several times faster than
float) and the clip becomes float once, at its final size; hue and blur, torchvision's slowest colour
ops, are reimplemented (same results to ~1e-6, 3-10x faster: `_adjust_hue`, `_gaussian_blur`).

Randomness comes from torch's global RNG, as in torchvision: `torch.manual_seed(s)` makes calls
reproducible, and the DataLoader seeds each worker differently.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from tempssl.registry import Registry, UnknownNameError

__all__ = [
    "DECODE_RATIO",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RECIPES",
    "TRANSFORMS",
    "ClipTransform",
    "MultiViewTransform",
    "build_transform",
    "decode_size_for",
]

# Decode-time short side per crop side: 256 for 224 and 128 for 112, the resize-then-crop pairs of
# image and video SSL code (DPC decodes at 128 for 112 crops; ImageNet pipelines resize to 256).
DECODE_RATIO = 8 / 7


def decode_size_for(crop: int) -> int:
    """The short side frames are decoded at for crops of `crop` pixels (`data.decode_size: auto`):
    `ceil(crop * 8 / 7)`, e.g. 64 -> 74, 112 -> 128, 224 -> 256. Decoding never enlarges a video."""
    return math.ceil(crop * DECODE_RATIO - 1e-9)


IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# Papers' augmentation settings for `MultiViewTransform`; every recipe also flips with p=0.5,
# crops with aspect ratio (3/4, 4/3) and blurs with sigma in [0.1, 2.0]. A recipe lists one setting
# per view (cycled). Each recipe is also a transform of its own name (see `TRANSFORMS` below).
RECIPES: Registry[tuple[dict[str, Any], ...]] = Registry("recipe")
# Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations",
# Appendix A: colour distortion strength s=1.
RECIPES.register(
    "simclr",
    (
        dict(
            scale=(0.08, 1.0),
            color_jitter=(0.8, 0.8, 0.8, 0.2),
            color_jitter_p=0.8,
            grayscale_p=0.2,
            blur_p=0.5,
            solarize_p=0.0,
        ),
    ),
)
# He, Fan, Wu, Xie, Girshick 2020, "Momentum Contrast for Unsupervised Visual Representation
# Learning" (MoCo v1; facebookresearch/moco main_moco.py without --aug-plus): crop 0.2-1, grayscale
# 0.2, colour jitter 0.4 (hue too) on every image, no blur. (The reference greys before the jitter;
# ClipTransform jitters first, the order of every recipe here.)
RECIPES.register(
    "mocov1",
    (
        dict(
            scale=(0.2, 1.0),
            color_jitter=(0.4, 0.4, 0.4, 0.4),
            color_jitter_p=1.0,
            grayscale_p=0.2,
            blur_p=0.0,
            solarize_p=0.0,
        ),
    ),
)
# Chen, Fan, Girshick, He 2020, "Improved Baselines with Momentum Contrastive Learning" (MoCo v2).
RECIPES.register(
    "mocov2",
    (
        dict(
            scale=(0.2, 1.0),
            color_jitter=(0.4, 0.4, 0.4, 0.1),
            color_jitter_p=0.8,
            grayscale_p=0.2,
            blur_p=0.5,
            solarize_p=0.0,
        ),
    ),
)
# Chen, Xie, He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers"
# (MoCo v3), which adopts Grill et al. 2020, "Bootstrap Your Own Latent" (BYOL), Table 6:
# the two views differ in blur and solarize probabilities.
RECIPES.register(
    "mocov3",
    (
        dict(
            scale=(0.08, 1.0),
            color_jitter=(0.4, 0.4, 0.2, 0.1),
            color_jitter_p=0.8,
            grayscale_p=0.2,
            blur_p=1.0,
            solarize_p=0.0,
        ),
        dict(
            scale=(0.08, 1.0),
            color_jitter=(0.4, 0.4, 0.2, 0.1),
            color_jitter_p=0.8,
            grayscale_p=0.2,
            blur_p=0.1,
            solarize_p=0.2,
        ),
    ),
)

_GRAYSCALE_MODES = ("luma", "channel")

# Keyword arguments of ClipTransform that a MultiViewTransform recipe sets and a caller may override.
_AUGMENTATION_ARGS = (
    "scale",
    "ratio",
    "flip_p",
    "color_jitter",
    "color_jitter_p",
    "grayscale_p",
    "grayscale_mode",
    "color_per_frame",
    "blur_p",
    "blur_sigma",
    "solarize_p",
)


def build_transform(name: str, **kwargs: Any) -> ClipTransform | MultiViewTransform:
    """Build a transform by name.

    Args:
        name: a name in `TRANSFORMS`: "clip" (`ClipTransform`, train mode), "clip_eval"
            (`ClipTransform(train=False)`), or a two-view recipe "simclr", "mocov1", "mocov2", "mocov3"
            (`MultiViewTransform(recipe=name)`).
        **kwargs: passed on to the transform's constructor.

    Returns:
        The transform.

    Raises:
        ValueError: unknown name (`tempssl.registry.UnknownNameError`: a "did you mean" and the
            valid names), or bad arguments.

    Examples:
        >>> clip_tf = build_transform("clip", size=112, color_jitter=(0.4, 0.4, 0.4, 0.1))
        >>> two_views = build_transform("mocov2", size=64)
    """
    return TRANSFORMS.get(name)(**kwargs)


class ClipTransform(nn.Module):
    """Augment the frames of one clip (or tuple) with one set of random parameters for all frames.

    Train mode: RandomResizedCrop(size, scale, ratio) and horizontal flip on uint8, then, on float
    in [0, 1], optional colour jitter (random order of brightness/contrast/saturation/hue, applied
    with probability `color_jitter_p`), grayscale, Gaussian blur and solarize, then normalization.
    The colour ops (jitter, grayscale, blur, solarize) draw once per call, or once per frame with
    `color_per_frame` (each frame then gets its own factors, order and coin flips).
    Eval mode (`train=False`): resize the short side to `resize`, center crop `size`, normalize;
    the augmentation arguments are checked but not used.

    Args:
        size: output height and width in pixels.
        train: random augmentation (True) or deterministic resize + center crop (False).
        scale: (lo, hi) range of the crop's area as a fraction of the frame, 0 < lo <= hi <= 1.
        ratio: (lo, hi) range of the crop's aspect ratio (width / height).
        flip_p: probability of a horizontal flip.
        color_jitter: (brightness, contrast, saturation, hue) strengths as in `v2.ColorJitter`
            (factors drawn from [1 - x, 1 + x], hue from [-h, h] with h <= 0.5), or None for none.
        color_jitter_p: probability of applying the colour jitter.
        grayscale_p: probability of converting to grayscale (kept as 3 channels).
        grayscale_mode: "luma" (torchvision's weighted sum of R, G, B) or "channel" (one of R, G,
            B at random copied to all three: DPC's `RandomGray`, TengdaHan/DPC
            utils/augmentation.py).
        color_per_frame: draw the colour ops' parameters for every frame instead of once for the
            clip (DPC's per-frame `ColorJitter` and `RandomGray`); crop and flip stay clip-wide.
        blur_p: probability of a Gaussian blur; the kernel is about 10% of `size` (odd, >= 3).
        blur_sigma: (lo, hi) range of the blur's standard deviation in pixels.
        solarize_p: probability of solarizing (inverting values >= 0.5, i.e. >= 128 in uint8).
        resize: eval mode: short side before the center crop (None: `size`, >= `size`).
        mean: per-channel mean subtracted after scaling to [0, 1]; None (with `std` None) to only
            scale to [0, 1].
        std: per-channel standard deviation divided by.

    Call:
        frames: `torch.uint8 (T, H, W, 3)` RGB frames, or one frame `(H, W, 3)`.

        Returns `torch.float32 (T, 3, size, size)` (or `(3, size, size)`), contiguous, normalized.

    Raises:
        ValueError: a bad argument (the message names it) or frames of the wrong dtype or shape.

    Examples:
        >>> tf = ClipTransform(size=112, color_jitter=(0.4, 0.4, 0.4, 0.1), grayscale_p=0.2)
        >>> tf(torch.zeros(16, 128, 171, 3, dtype=torch.uint8)).shape
        torch.Size([16, 3, 112, 112])
    """

    def __init__(
        self,
        size: int = 224,
        train: bool = True,
        *,
        scale: Sequence[float] = (0.3, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        flip_p: float = 0.5,
        color_jitter: Sequence[float] | None = None,
        color_jitter_p: float = 0.8,
        grayscale_p: float = 0.0,
        grayscale_mode: str = "luma",
        color_per_frame: bool = False,
        blur_p: float = 0.0,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        solarize_p: float = 0.0,
        resize: int | None = None,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
    ) -> None:
        super().__init__()
        _check_size(size, "size")
        scale = _check_range(scale, "scale", low=0.0, high=1.0)
        ratio = _check_range(ratio, "ratio", low=0.0)
        blur_sigma = _check_range(blur_sigma, "blur_sigma", low=0.0)
        for name, p in [
            ("flip_p", flip_p),
            ("color_jitter_p", color_jitter_p),
            ("grayscale_p", grayscale_p),
            ("blur_p", blur_p),
            ("solarize_p", solarize_p),
        ]:
            _check_probability(p, name)
        color_jitter = _check_color_jitter(color_jitter)
        if grayscale_mode not in _GRAYSCALE_MODES:
            raise UnknownNameError("grayscale_mode", grayscale_mode, _GRAYSCALE_MODES)
        if not isinstance(color_per_frame, bool):
            raise ValueError(f"color_per_frame must be true or false, got {color_per_frame!r}")
        if resize is not None:
            _check_size(resize, "resize")
            if resize < size:
                raise ValueError(f"resize must be >= size ({size}) to center crop, got {resize}")
        _check_mean_std(mean, std)

        self.size = size
        self.train_mode = train  # not `train`: that would shadow nn.Module.train()
        self.flip_p = flip_p if train else 0.0
        self.color_per_frame = color_per_frame
        if train:
            crop = v2.RandomResizedCrop(size, scale=scale, ratio=ratio, antialias=True)
            geometric: list[nn.Module] = [crop]
            color: list[nn.Module] = []
            if color_jitter is not None and color_jitter_p > 0:
                jitter = _ClipColorJitter(*color_jitter)
                color.append(v2.RandomApply(nn.ModuleList([jitter]), p=color_jitter_p))
            if grayscale_p > 0 and grayscale_mode == "channel":
                color.append(_RandomChannelGray(p=grayscale_p))
            elif grayscale_p > 0:
                color.append(v2.RandomGrayscale(p=grayscale_p))
            if blur_p > 0:
                blur = _SeparableGaussianBlur(_blur_kernel_size(size), sigma=blur_sigma)
                color.append(v2.RandomApply(nn.ModuleList([blur]), p=blur_p))
            if solarize_p > 0:
                color.append(v2.RandomSolarize(threshold=0.5, p=solarize_p))
        else:
            geometric = [v2.Resize(resize or size, antialias=True), v2.CenterCrop(size)]
            color = []
        # Sequential, not v2.Compose: Compose does not register its transforms as submodules.
        self.geometric = nn.Sequential(*geometric)
        self.color = nn.Sequential(*color)
        self.normalize = None if mean is None else v2.Normalize(list(mean), list(std), inplace=True)

    def forward(self, frames: torch.Tensor, flip: bool | None = None) -> torch.Tensor:
        """`uint8 (T, H, W, 3)` or `(H, W, 3)` -> `float32 (T, 3, size, size)` or `(3, size, size)`.

        `flip`: whether to flip horizontally, decided by the caller (e.g. one draw for all camera
        views of a moment, `draw_flip`); None draws it here with probability `flip_p`.
        """
        single = _check_frames(frames)
        # (T, H, W, 3) -> (T, 3, H, W) is a free view in channels-last layout, the layout that
        # torchvision's uint8 resize works in.
        clip = frames.unsqueeze(0) if single else frames
        clip = self.geometric(clip.permute(0, 3, 1, 2))
        if flip is None and self.flip_p > 0:
            flip = self.draw_flip()
        if flip:
            clip = clip.flip(-1)
        # Colour ops and normalization are several times faster on a contiguous float tensor.
        clip = clip.to(torch.float32, memory_format=torch.contiguous_format).div_(255)
        if self.color_per_frame and len(self.color):
            clip = torch.cat([self.color(frame) for frame in clip.split(1)])
        else:
            clip = self.color(clip)
        clip = clip.contiguous()  # grayscale returns an expanded view
        if self.normalize is not None:
            clip = self.normalize(clip)  # in place: `clip` is a fresh tensor
        return clip[0] if single else clip

    def draw_flip(self) -> bool:
        """One random flip decision with probability `flip_p` (torch's global RNG)."""
        return bool(torch.rand(1) < self.flip_p)


class MultiViewTransform(nn.Module):
    """Independent augmented views of one image or clip: the SimCLR / MoCo two-view recipes.

    Each view is a train-mode `ClipTransform` and draws its own random parameters; within one view
    the parameters are shared by all T frames. Recipes (crop area `scale`, colour jitter
    (brightness, contrast, saturation, hue) with probability p, grayscale p, blur p, solarize p; all
    flip with p=0.5, blur sigma in [0.1, 2.0] with a kernel of about 10% of `size`):

    - "simclr" (Chen et al. 2020, SimCLR, Appendix A): scale (0.08, 1), jitter (0.8, 0.8, 0.8, 0.2)
      p=0.8, grayscale 0.2, blur 0.5.
    - "mocov1" (He et al. 2020, MoCo v1): scale (0.2, 1), jitter (0.4, 0.4, 0.4, 0.4) p=1,
      grayscale 0.2, no blur.
    - "mocov2" (Chen, Fan, Girshick, He 2020, MoCo v2): scale (0.2, 1), jitter (0.4, 0.4, 0.4, 0.1)
      p=0.8, grayscale 0.2, blur 0.5.
    - "mocov3" (Chen, Xie, He 2021, MoCo v3 = BYOL's recipe, Grill et al. 2020): scale (0.08, 1),
      jitter (0.4, 0.4, 0.2, 0.1) p=0.8, grayscale 0.2; asymmetric views: view 1 blur 1.0 and
      solarize 0.0, view 2 blur 0.1 and solarize 0.2 (views beyond two alternate).

    Args:
        recipe: a name in `RECIPES`: "simclr", "mocov1", "mocov2" or "mocov3".
        size: output height and width in pixels.
        num_views: number of views returned per call (>= 1).
        mean: per-channel normalization mean (None, with `std` None: only scale to [0, 1]).
        std: per-channel normalization standard deviation.
        **overrides: replace a recipe setting in every view: scale, ratio, flip_p, color_jitter,
            color_jitter_p, grayscale_p, blur_p, blur_sigma, solarize_p (see `ClipTransform`).

    Call:
        frames: `torch.uint8 (H, W, 3)` or `(T, H, W, 3)` RGB.

        Returns a list of `num_views` tensors, each `torch.float32 (3, size, size)` or
        `(T, 3, size, size)`.

    Raises:
        ValueError: unknown recipe or override, or a bad argument.

    Examples:
        >>> views = MultiViewTransform("simclr", size=64)(torch.zeros(80, 80, 3, dtype=torch.uint8))
        >>> [v.shape for v in views]
        [torch.Size([3, 64, 64]), torch.Size([3, 64, 64])]
    """

    def __init__(
        self,
        recipe: str = "simclr",
        size: int = 224,
        num_views: int = 2,
        mean: Sequence[float] | None = IMAGENET_MEAN,
        std: Sequence[float] | None = IMAGENET_STD,
        **overrides: Any,
    ) -> None:
        super().__init__()
        settings = RECIPES.get(recipe)
        unknown = sorted(set(overrides) - set(_AUGMENTATION_ARGS))
        if unknown:
            valid = ", ".join(_AUGMENTATION_ARGS)
            raise ValueError(f"unknown override(s) {unknown}; valid overrides: {valid}")
        if isinstance(num_views, bool) or not isinstance(num_views, int) or num_views < 1:
            raise ValueError(f"num_views must be an int >= 1, got {num_views!r}")
        self.recipe = recipe
        self.views = nn.ModuleList(
            ClipTransform(size, mean=mean, std=std, **{**settings[i % len(settings)], **overrides})
            for i in range(num_views)
        )

    def forward(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Return `num_views` independently augmented float32 views of `frames` (see the class doc)."""
        return [view(frames) for view in self.views]


# name -> transform builder (`**kwargs -> transform`); `transforms.name` in a config is one of these.
TRANSFORMS: Registry[Callable[..., ClipTransform | MultiViewTransform]] = Registry("transform")
TRANSFORMS.register("clip", ClipTransform)


@TRANSFORMS.register("clip_eval")
def _clip_eval(**kwargs: Any) -> ClipTransform:
    """`ClipTransform(train=False)`: resize, center crop, normalize."""
    return ClipTransform(train=False, **kwargs)


for _recipe in RECIPES.names():
    TRANSFORMS.register(_recipe, functools.partial(MultiViewTransform, _recipe))


class _RandomChannelGray(nn.Module):
    """With probability `p`, one of R, G, B (drawn uniformly) copied to all three channels of
    float `(..., 3, H, W)`: DPC's "grayscale", which its code calls channel splitting."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        if torch.rand(1) >= self.p:
            return clip
        channel = int(torch.randint(3, (1,)))
        return clip[..., channel : channel + 1, :, :].expand_as(clip)


class _ClipColorJitter(v2.ColorJitter):
    """`v2.ColorJitter` (same parameters, drawn once per call, same random order) for clips.

    Two differences from torchvision's ops, both on float RGB in [0, 1]: contrast blends toward the
    mean grey of the whole clip rather than of each frame, so that a pixel value maps to the same
    output in every frame; hue uses a closed-form HSV rotation, equal to `F.adjust_hue` to ~1e-6 and
    3-4x faster (torchvision's is the slowest step of the data path).
    """

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        out = inpt
        for fn_id in params["fn_idx"].tolist():
            if fn_id == 0 and params["brightness_factor"] is not None:
                out = F.adjust_brightness(out, params["brightness_factor"])
            elif fn_id == 1 and params["contrast_factor"] is not None:
                out = _adjust_clip_contrast(out, params["contrast_factor"])
            elif fn_id == 2 and params["saturation_factor"] is not None:
                out = F.adjust_saturation(out, params["saturation_factor"])
            elif fn_id == 3 and params["hue_factor"] is not None:
                out = _adjust_hue(out, params["hue_factor"])
        return out


def _adjust_clip_contrast(clip: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend float `(..., 3, H, W)` in [0, 1] toward its overall mean grey (torchvision's weights)."""
    channel_means = clip.reshape(-1, 3, clip.shape[-2] * clip.shape[-1]).mean(dim=(0, 2))
    grey = channel_means @ channel_means.new_tensor([0.2989, 0.587, 0.114])
    return clip.mul(factor).add_((1 - factor) * grey).clamp_(0, 1)


def _adjust_hue(image: torch.Tensor, hue_factor: float) -> torch.Tensor:
    """Rotate the hue of float RGB `(..., 3, H, W)` in [0, 1] by `hue_factor` turns (in [-0.5, 0.5])."""
    r, g, b = image.unbind(dim=-3)
    # Elementwise max/min: a reduction over the 3-channel dim is several times slower.
    value = torch.maximum(torch.maximum(r, g), b)
    chroma = value - torch.minimum(torch.minimum(r, g), b)
    # Hue in sextants (60 degrees), with torchvision's precedence when two channels tie for max.
    hue = torch.where(
        value == r,
        g - b,
        torch.where(value == g, (b - r).add_(chroma, alpha=2), (r - g).add_(chroma, alpha=4)),
    )
    hue = hue.div_(torch.where(chroma > 0, chroma, 1.0)).add_(6 * hue_factor)
    # HSV -> RGB: channel = V - C * clamp(min(k, 4 - k), 0, 1), k = (n + hue) mod 6; n = 5, 3, 1 (RGB).
    k = torch.stack([hue + 5, hue + 3, hue + 1], dim=-3).remainder_(6)
    weight = torch.minimum(k, 4 - k).clamp_(0, 1)
    return value.unsqueeze(-3) - weight.mul_(chroma.unsqueeze(-3))


class _SeparableGaussianBlur(v2.GaussianBlur):
    """`v2.GaussianBlur` (square kernel, reflect padding) as two 1-D passes of shifted adds.

    Same output as torchvision's 2-D depthwise convolution to ~1e-6, and 5-10x faster on CPU.
    """

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return _gaussian_blur(inpt, self.kernel_size[0], params["sigma"][0])


def _gaussian_blur(image: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Blur float `(..., H, W)` with a normalized Gaussian of `kernel_size` taps, reflect-padded."""
    half = (kernel_size - 1) / 2
    taps = [math.exp(-0.5 * ((i - half) / sigma) ** 2) for i in range(kernel_size)]
    weights = [tap / math.fsum(taps) for tap in taps]
    *batch, h, w = image.shape
    pad = kernel_size // 2
    padded = nn.functional.pad(image.reshape(-1, 1, h, w), [pad] * 4, mode="reflect")[:, 0]
    rows = padded[:, :, :w] * weights[0]
    for i in range(1, kernel_size):
        rows.add_(padded[:, :, i : i + w], alpha=weights[i])
    out = rows[:, :h] * weights[0]
    for i in range(1, kernel_size):
        out.add_(rows[:, i : i + h], alpha=weights[i])
    return out.reshape(*batch, h, w)


def _blur_kernel_size(size: int) -> int:
    """Odd kernel of about 10% of the image size, at least 3 (SimCLR: 23 for 224 px)."""
    k = int(0.1 * size)
    return max(3, k + 1 - k % 2)


def _check_frames(frames: Any) -> bool:
    """Raise unless `frames` is `uint8 (T, H, W, 3)` or `(H, W, 3)`; return whether it is one frame."""
    expected = "a torch.uint8 tensor of shape (T, H, W, 3) or (H, W, 3) (RGB, channels last)"
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"frames must be {expected}, got {type(frames).__name__}")
    if frames.dtype != torch.uint8 or frames.ndim not in (3, 4) or frames.shape[-1] != 3:
        raise ValueError(f"frames must be {expected}, got {frames.dtype} {tuple(frames.shape)}")
    if frames.numel() == 0:
        raise ValueError(f"frames must be {expected} with T, H, W >= 1, got {tuple(frames.shape)}")
    return frames.ndim == 3


def _check_size(size: Any, name: str) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"{name} must be a positive int (pixels), got {size!r}")


def _check_probability(p: Any, name: str) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")


def _check_range(value: Any, name: str, low: float, high: float = float("inf")) -> tuple[float, float]:
    """Return `value` as a (lo, hi) pair with low < lo <= hi <= high, or raise naming `name`."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (lo, hi) pair of numbers, got {value!r}") from None
    if not low < lo <= hi <= high:
        bound = f"{low:g} < lo <= hi" + ("" if high == float("inf") else f" <= {high:g}")
        raise ValueError(f"{name} must be a (lo, hi) pair with {bound}, got {value!r}")
    return lo, hi


def _check_color_jitter(value: Any) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        strengths = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        strengths = ()
    if len(strengths) != 4 or min(strengths) < 0 or strengths[3] > 0.5:
        raise ValueError(
            "color_jitter must be None or (brightness, contrast, saturation, hue) with all >= 0 and "
            f"hue <= 0.5, got {value!r}"
        )
    return strengths


def _check_mean_std(mean: Any, std: Any) -> None:
    if mean is None and std is None:
        return
    if mean is None or std is None:
        raise ValueError("mean and std must both be given (3 values each) or both be None")
    for name, value in [("mean", mean), ("std", std)]:
        if not isinstance(value, Sequence) or len(value) != 3:
            raise ValueError(f"{name} must be 3 values (R, G, B) or None, got {value!r}")
    if min(std) <= 0:
        raise ValueError(f"std values must be > 0, got {std!r}")
