"""Networks, built by name from registries: backbones and heads.

- Frame backbones `(B, 3, H, W) -> (B, D)`: torchvision ResNets and `small_cnn`
  (`tempssl.models.backbones`); ViTs `vit_tiny`/`vit_small`/`vit_base` with timm's parameter names
  and the token-level entry points MAE and MoCo v3 need (`tempssl.models.vit`).
- Clip backbones `(B, 3, T, H, W) -> (B, D)`: torchvision's `r3d_18`, `r2plus1d_18`, `mc3_18` and
  `small_3dcnn` (`tempssl.models.video`); video ViTs `video_vit_tiny` / `video_vit_small`
  (`tempssl.models.video_vit`, VideoMAE's encoder).

Every backbone has `out_dim` (D); `input_kind(backbone)` says whether it takes frames or clips.
"""

from tempssl.models import pytorchvideo_backbones, video, video_vit, vit  # noqa: F401  (register them)
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
