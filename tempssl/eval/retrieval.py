"""Video-to-video retrieval by class: rank a gallery by cosine similarity to each query; a gallery
item is relevant when it has the query's class. Reports recall@k and mean average precision."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

QUERY_CHUNK = 512  # queries ranked at once: bounds the (chunk, G) similarity matrix


def retrieval_evaluate(
    query_x: torch.Tensor | np.ndarray,
    query_y: torch.Tensor | np.ndarray,
    gallery_x: torch.Tensor | np.ndarray | None = None,
    gallery_y: torch.Tensor | np.ndarray | None = None,
    ks: Sequence[int] = (1, 5, 10),
    query_groups: np.ndarray | None = None,
    gallery_groups: np.ndarray | None = None,
) -> dict:
    """Recall@k and mAP of class retrieval by cosine similarity.

    Without a gallery, the query set is its own gallery and each query's own item is excluded
    (leave-one-out). With groups (the scene of each video of a multi-view source), gallery items of
    the query's own non-empty group are excluded too: another view of the same scene would be a
    trivial match. Equal similarities keep the gallery order.

    recall@k: the fraction of queries with at least one relevant item among the k most similar.
    AP of a query: the mean, over its relevant items, of the precision at each one's rank; mAP: the
    mean AP. Queries without any relevant item in the gallery are left out of both (and counted).

    Args:
        query_x: query embeddings `(Q, D)`.
        query_y: query class indices `(Q,)`.
        gallery_x: gallery embeddings `(G, D)`; default: the queries (leave-one-out).
        gallery_y: gallery class indices `(G,)`; required with `gallery_x`.
        ks: the cut-offs of recall@k.
        query_groups: optional `(Q,)` str scene names ("" = none).
        gallery_groups: optional `(G,)` str scene names; default: `query_groups` without a gallery.

    Returns:
        `{"recall": {str(k): fraction}, "map": float, "num_queries": Q, "num_gallery": G,
        "queries_without_match": int}`; recall and mAP are None when no query has a match.

    Raises:
        ValueError: embeddings of different dimensions, or a gallery without labels.
    """
    leave_one_out = gallery_x is None
    query_x, query_y = torch.as_tensor(query_x).float(), torch.as_tensor(query_y).long()
    if leave_one_out:
        gallery_x, gallery_y, gallery_groups = query_x, query_y, query_groups
    elif gallery_y is None:
        raise ValueError("gallery_y is required with gallery_x")
    gallery_x, gallery_y = torch.as_tensor(gallery_x).float(), torch.as_tensor(gallery_y).long()
    if query_x.shape[1] != gallery_x.shape[1]:
        raise ValueError(f"query embeddings are {query_x.shape[1]}-d, gallery {gallery_x.shape[1]}-d")
    groups = _group_ids(query_groups, gallery_groups, len(query_x), len(gallery_x))

    gallery = F.normalize(gallery_x, dim=1)
    hits = {int(k): 0 for k in ks}
    ap_sum, answered = 0.0, 0
    for start in range(0, len(query_x), QUERY_CHUNK):
        stop = min(start + QUERY_CHUNK, len(query_x))
        similarity = F.normalize(query_x[start:stop], dim=1) @ gallery.T  # (q, G)
        excluded = torch.zeros_like(similarity, dtype=torch.bool)
        if leave_one_out:
            rows = torch.arange(stop - start)
            excluded[rows, rows + start] = True
        if groups is not None:
            query_group, gallery_group = groups[0][start:stop, None], groups[1][None, :]
            excluded |= (query_group == gallery_group) & (query_group >= 0)
        order = similarity.masked_fill(excluded, -torch.inf).argsort(dim=1, descending=True, stable=True)
        relevant = (gallery_y[order] == query_y[start:stop, None]) & ~excluded.gather(1, order)  # (q, G)
        num_relevant = relevant.sum(dim=1)
        has_match = num_relevant > 0
        answered += int(has_match.sum())
        for k in hits:
            hits[k] += int(relevant[:, :k].any(dim=1).sum())
        precision = relevant.cumsum(dim=1) / torch.arange(1, relevant.shape[1] + 1)
        ap = (precision * relevant).sum(dim=1)[has_match] / num_relevant[has_match]
        ap_sum += float(ap.sum())
    return {
        "recall": {str(k): (hits[k] / answered if answered else None) for k in hits},
        "map": ap_sum / answered if answered else None,
        "num_queries": len(query_x),
        "num_gallery": len(gallery_x),
        "queries_without_match": len(query_x) - answered,
    }


def _group_ids(
    query_groups: np.ndarray | None, gallery_groups: np.ndarray | None, num_query: int, num_gallery: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Integer ids `(Q,)`, `(G,)` of the groups of both sets (-1 = no group); None without groups."""
    if query_groups is None or gallery_groups is None:
        return None
    query_groups, gallery_groups = (
        np.asarray(query_groups).astype(str),
        np.asarray(gallery_groups).astype(str),
    )
    if len(query_groups) != num_query or len(gallery_groups) != num_gallery:
        raise ValueError("groups must have one entry per embedding")
    names = {name: i for i, name in enumerate(sorted(set(query_groups) | set(gallery_groups)))}
    names[""] = -1
    return (
        torch.tensor([names[g] for g in query_groups], dtype=torch.long),
        torch.tensor([names[g] for g in gallery_groups], dtype=torch.long),
    )
