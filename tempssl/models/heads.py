"""Heads on top of backbone features `(B, D)`."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn


class MLPHead(nn.Module):
    """Projection MLP `(B, in_dim) -> (B, out_dim)`: Linear -> [BN] -> ReLU, repeated, then Linear.

    SimCLR / MoCo v2 use 2 layers (hidden 2048 or in_dim); MoCo v3 / BYOL 2-3 layers with BN.
    """

    def __init__(
        self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2, batch_norm: bool = True
    ):
        super().__init__()
        layers: list[nn.Module] = []
        dims = [in_dim] + [hidden_dim] * (num_layers - 1)
        for d_in, d_out in itertools.pairwise(dims):
            layers += [nn.Linear(d_in, d_out, bias=not batch_norm)]
            layers += [nn.BatchNorm1d(d_out)] if batch_norm else []
            layers += [nn.ReLU(inplace=True)]
        layers.append(nn.Linear(dims[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EmbeddingHead(nn.Module):
    """TCN's embedding: `(B, in_dim) -> (B, dim)` L2-normalized (Sermanet et al. 2017: 32-d).

    An optional hidden layer (the reference code uses fully connected layers after the conv tower).
    """

    def __init__(self, in_dim: int, dim: int = 32, hidden_dim: int = 0, normalize: bool = True):
        super().__init__()
        if hidden_dim:
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, dim)
            )
        else:
            self.net = nn.Linear(in_dim, dim)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)
        return F.normalize(z, dim=-1) if self.normalize else z
