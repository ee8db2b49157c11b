"""Retrieval metrics shared by ``models verify`` and ``catalog eval``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def product_ranks(
    query_vecs: np.ndarray,
    gallery_vecs: np.ndarray,
    gallery_labels: Sequence[str],
    query_labels: Sequence[str],
) -> np.ndarray:
    """1-based rank of each query's true product (0 when the product is not in the gallery).

    Products, not images, are ranked: a product scores the best similarity of its images.
    """
    products = sorted(set(gallery_labels))
    col = {p: j for j, p in enumerate(products)}
    sims = query_vecs @ gallery_vecs.T  # [q, g]
    per_product = np.full((len(query_vecs), len(products)), -np.inf, dtype=np.float32)
    idx = np.array([col[g] for g in gallery_labels])
    for j in range(len(products)):
        cols = np.flatnonzero(idx == j)
        per_product[:, j] = sims[:, cols].max(axis=1)
    ranks = np.zeros(len(query_vecs), dtype=np.int64)
    for i, label in enumerate(query_labels):
        if label in col:
            true = per_product[i, col[label]]
            ranks[i] = 1 + int(np.sum(per_product[i] > true))
    return ranks


@dataclass
class RetrievalScores:
    n: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "recall_at_1": round(self.recall_at_1, 4),
            "recall_at_5": round(self.recall_at_5, 4),
            "recall_at_10": round(self.recall_at_10, 4),
            "mrr": round(self.mrr, 4),
        }


def retrieval_scores(ranks: np.ndarray) -> RetrievalScores:
    """Recall@1/5/10 and mean reciprocal rank from 1-based ranks (0 = not found)."""
    ranks = np.asarray(ranks)
    n = len(ranks)
    if n == 0:
        return RetrievalScores(0, 0.0, 0.0, 0.0, 0.0)
    found = ranks > 0

    def recall(k: int) -> float:
        return float(np.mean(found & (ranks <= k)))

    rr = np.where(found, 1.0 / np.maximum(ranks, 1), 0.0)
    return RetrievalScores(n, recall(1), recall(5), recall(10), float(rr.mean()))
