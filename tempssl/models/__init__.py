"""Networks, built by name from registries: backbones and heads.

- Frame backbones `(B, 3, H, W) -> (B, D)`: torchvision ResNets and `small_cnn`
  (`tempssl.models.backbones`); ViTs `vit_tiny`/`vit_small`/`vit_base` with timm's parameter names
  and the token-level entry points MAE and MoCo v3 need (`tempssl.models.vit`).
- Clip backbones `(B, 3, T, H, W) -> (B, D)`: torchvision's `r3d_18`, `r2plus1d_18`, `mc3_18` and
  `small_3dcnn` (`tempssl.models.video`).

Every backbone has `out_dim` (D); `input_kind(backbone)` says whether it takes frames or clips.
"""

from tempssl.models import pytorchvideo_backbones, video, vit  # noqa: F401  (register "x3d_xs", ...)
from tempssl.models.backbones import BACKBONES, build_backbone, input_kind, without_classifier
from tempssl.models.heads import EmbeddingHead, MLPHead

__all__ = [
    "BACKBONES",
    "EmbeddingHead",
    "MLPHead",
    "build_backbone",
    "input_kind",
    "without_classifier",
]
