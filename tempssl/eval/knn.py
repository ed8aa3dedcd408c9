"""Weighted k-nearest-neighbour classification of embeddings (Wu et al., 2018, "Unsupervised Feature
Learning via Non-Parametric Instance Discrimination", Sec. 3.5): cosine similarity, the k nearest
training embeddings vote for their class with weight exp(similarity / T)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def knn_predict(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    query: torch.Tensor,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
) -> torch.Tensor:
    """Class scores `(Q, num_classes)` for queries `(Q, D)` from a labelled bank `(N, D)`, `(N,)`."""
    if len(train) == 0:
        raise ValueError("kNN needs at least one labelled training embedding")
    similarity = F.normalize(query.float(), dim=1) @ F.normalize(train.float(), dim=1).T  # (Q, N)
    top_sim, top_idx = similarity.topk(min(k, len(train)), dim=1)
    weights = (top_sim / temperature).exp()
    votes = F.one_hot(train_labels[top_idx].long(), num_classes).float()  # (Q, k, C)
    return (votes * weights.unsqueeze(-1)).sum(dim=1)


def knn_accuracy(
    train: torch.Tensor,
    train_labels: torch.Tensor,
    query: torch.Tensor,
    query_labels: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
) -> float:
    """Top-1 accuracy (0..1) of `knn_predict` on labelled queries."""
    num_classes = int(max(train_labels.max(), query_labels.max())) + 1
    scores = knn_predict(train, train_labels, query, num_classes, k, temperature)
    return (scores.argmax(dim=1) == query_labels).float().mean().item()
