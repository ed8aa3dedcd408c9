"""Self-supervised methods, one file each, registered by name in `METHODS`."""

from tempssl.methods import (  # noqa: F401  (register each method)
    byol,
    colorization,
    context_prediction,
    cpc,
    denoising,
    dpc,
    inpainting,
    jigsaw,
    mae,
    moco,
    moco_v3,
    rotation,
    shuffle_learn,
    simclr,
    tcn,
    videomae,
)
from tempssl.methods.base import METHODS, Method, build_method

__all__ = ["METHODS", "Method", "build_method"]
