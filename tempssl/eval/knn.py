"""Weighted k-nearest-neighbour classification of embeddings (Wu et al., 2018, "Unsupervised Feature
Learning via Non-Parametric Instance Discrimination", Sec. 3.5): cosine similarity, the k nearest
training embeddings vote for their class with weight exp(similarity / T)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

QUERY_CHUNK = 1024  # queries scored at once: bounds the (chunk, N) similarity matrix


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


def knn_evaluate(
    train_x: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    test_x: torch.Tensor | np.ndarray,
    test_y: torch.Tensor | np.ndarray,
    ks: Sequence[int] = (20, 200),
    temperature: float = 0.07,
    num_classes: int | None = None,
) -> dict:
    """Weighted kNN classification of a labelled test set against a labelled bank, for several k.

    Each test embedding is compared with every bank embedding by cosine similarity; its k nearest
    vote for their class with weight `exp(similarity / temperature)` (Wu et al. 2018). A k larger
    than the bank is clipped to the bank size. Ties between class scores go to the lower class index.

    Args:
        train_x: bank embeddings `(N, D)`.
        train_y: bank class indices `(N,)`, in `0..num_classes-1`.
        test_x: query embeddings `(Q, D)`.
        test_y: query class indices `(Q,)`.
        ks: the neighbourhood sizes to evaluate.
        temperature: the softmax temperature T of the vote weights.
        num_classes: C; default: the largest label of either set + 1.

    Returns:
        `{"k": {str(k): result}, "num_classes": C, "num_train": N, "num_test": Q}` where each
        result holds `k_used` (after clipping), `top1` and `top5` (fractions 0..1; top-5 counts the
        true class among the 5 best scores, or among all C when C < 5), `per_class` (`C` floats: the
        top-1 accuracy of the queries of each class, None for a class without queries) and
        `confusion` (`C x C` ints, row = true class, column = predicted class).

    Raises:
        ValueError: an empty bank or query set, or embeddings of different dimensions.
    """
    train_x, test_x = torch.as_tensor(train_x).float(), torch.as_tensor(test_x).float()
    train_y, test_y = torch.as_tensor(train_y).long(), torch.as_tensor(test_y).long()
    if len(train_x) == 0 or len(test_x) == 0:
        raise ValueError(f"kNN needs a non-empty bank and query set (got {len(train_x)}, {len(test_x)})")
    if train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"bank embeddings are {train_x.shape[1]}-d, queries {test_x.shape[1]}-d")
    if num_classes is None:
        num_classes = int(max(train_y.max(), test_y.max())) + 1
    used = {k: min(int(k), len(train_x)) for k in ks}
    neighbour_sim, neighbour_labels = _neighbours(train_x, train_y, test_x, max(used.values()))
    results = {}
    for k, k_used in used.items():
        weights = (neighbour_sim[:, :k_used] / temperature).exp()
        votes = F.one_hot(neighbour_labels[:, :k_used], num_classes).float()  # (Q, k, C)
        scores = (votes * weights.unsqueeze(-1)).sum(dim=1)  # (Q, C)
        results[str(k)] = {"k_used": k_used, **classification_metrics(scores, test_y)}
    return {"k": results, "num_classes": num_classes, "num_train": len(train_x), "num_test": len(test_x)}


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor) -> dict:
    """Top-1, top-5, per-class accuracy and confusion matrix of class scores.

    Args:
        scores: `(Q, C)` class scores (higher is better); ties go to the lower class index.
        labels: `(Q,)` true class indices.

    Returns:
        `{"top1", "top5", "per_class", "confusion"}` as described in `knn_evaluate`.
    """
    num_classes = scores.shape[1]
    predicted = scores.argmax(dim=1)
    top5 = scores.topk(min(5, num_classes), dim=1).indices
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    per_class_total = confusion.sum(dim=1)
    per_class = [
        None if total == 0 else float(confusion[c, c] / total) for c, total in enumerate(per_class_total)
    ]
    return {
        "top1": (predicted == labels).float().mean().item(),
        "top5": (top5 == labels[:, None]).any(dim=1).float().mean().item(),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }


def _neighbours(
    train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine similarities `(Q, k)` and labels `(Q, k)` of each query's k nearest bank items."""
    bank = F.normalize(train_x, dim=1)
    sims, labels = [], []
    for start in range(0, len(test_x), QUERY_CHUNK):
        similarity = F.normalize(test_x[start : start + QUERY_CHUNK], dim=1) @ bank.T
        top_sim, top_idx = similarity.topk(k, dim=1)
        sims.append(top_sim)
        labels.append(train_y[top_idx])
    return torch.cat(sims), torch.cat(labels)
