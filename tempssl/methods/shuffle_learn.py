"""Shuffle and Learn (Misra et al., 2016, "Shuffle and Learn: Unsupervised Learning using Temporal
Order Verification").

A tuple of three frames of one video is either in temporal order (label 1) or has its middle frame
replaced by one from outside the outer two (label 0; see `tempssl.data.sampling.TupleSampler`).
Each frame goes through the shared backbone (the paper's triplet Siamese network); the three
feature vectors are concatenated in tuple order and a classifier decides "in order or not" with a
softmax cross-entropy loss (paper Sec. 3.1-3.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tempssl.methods.base import METHODS, Method


@METHODS.register("shuffle_learn")
class ShuffleAndLearn(Method):
    """Order verification over a frame backbone.

    Batches (sampler `tuples`): `frames (B, 3, C, H, W)` in tuple order, `label (B,)` with 1 for
    an ordered tuple and 0 for a shuffled one.

    Args:
        backbone: `(B, 3, H, W) -> (B, D)` with an `out_dim` attribute.
        hidden_dim: width of the hidden layer of the classifier on the concatenated `(B, 3 * D)`
            features. The paper's classifier (fc8) is linear on the concatenated fc7 outputs of
            CaffeNet, whose fc6/fc7 are per-frame layers; a pooled modern backbone has none, and a
            linear layer on the concatenation adds up per-frame scores, which cannot compare the
            frames with each other. The hidden layer does that (as the pairwise order heads of
            later work, e.g. VCOP, Xu et al. 2019). 0: the paper's linear classifier. Default 512.
        dropout: dropout on the concatenated features (CaffeNet's fc layers used 0.5). Default 0.5.
    """

    sampler_kind = "tuples"

    def __init__(self, backbone: nn.Module, hidden_dim: int = 512, dropout: float = 0.5):
        super().__init__(backbone)
        if hidden_dim < 0:
            raise ValueError(f"shuffle_learn hidden_dim must be >= 0, got {hidden_dim}")
        if not 0 <= dropout < 1:
            raise ValueError(f"shuffle_learn dropout must be in [0, 1), got {dropout}")
        in_dim = 3 * backbone.out_dim
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden_dim:
            layers += [nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            in_dim = hidden_dim
        self.classifier = nn.Sequential(*layers, nn.Linear(in_dim, 2))

    def order_logits(self, frames: torch.Tensor) -> torch.Tensor:
        """Logits "shuffled" / "in order" `(B, 2)` of tuples `frames (B, 3, C, H, W)`."""
        batch, length = frames.shape[:2]
        features = self.backbone(frames.flatten(0, 1)).unflatten(0, (batch, length))  # (B, 3, D)
        return self.classifier(features.flatten(1))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self.order_logits(batch["frames"])
        label = batch["label"]
        loss = F.cross_entropy(logits, label)
        with torch.no_grad():
            correct = (logits.argmax(dim=1) == label).float()
            # accuracy on each class, averaged: the 1:3 positive:negative sampling makes plain
            # accuracy 0.75 for a classifier that always answers "shuffled"
            recalls = [correct[label == c].mean() for c in (0, 1) if (label == c).any()]
            balanced = torch.stack(recalls).mean()
        return {"loss": loss, "order_accuracy": correct.mean(), "order_balanced_accuracy": balanced}
