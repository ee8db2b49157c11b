"""The ``VectorIndex`` interface, and ``ExactIndex``: brute-force cosine search with numpy.

Labels are int64 ids chosen by the caller (the catalog uses ``embeddings.id``, never reused).
Vectors are L2-normalised, so cosine similarity is a dot product. ``ExactIndex`` serves small
catalogs, is the fallback when an HNSW file is unusable, and is the recall oracle in tests and
benchmarks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from .errors import BundleMismatchError, IndexCorruptError


@runtime_checkable
class VectorIndex(Protocol):
    """Add / search / mark_deleted / save: what the catalog needs from a nearest-neighbour index.

    Never add to an index while another thread searches it: build a new object and swap.
    """

    kind: str
    dim: int

    def __len__(self) -> int:
        """Live (not deleted) items."""
        ...

    @property
    def deleted_count(self) -> int: ...

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None: ...

    def mark_deleted(self, labels: Iterable[int]) -> None: ...

    def labels(self) -> np.ndarray:
        """Live labels (int64), in no particular order."""
        ...

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels int64 [q, k'], cosine similarities float32 [q, k']), best first.

        ``k' = min(k, items searched)``; ``allowed``: only these labels may be returned.
        """
        ...

    def save(self, path: str | os.PathLike[str]) -> None: ...


def as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """Queries as a contiguous float32 [q, dim] array; a wrong width is a bundle mismatch."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise BundleMismatchError(
            f"query vectors have shape {list(np.shape(queries))}, the index holds {dim}-d "
            "vectors (made by a different model bundle?)"
        )
    return q


def top_k(sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the k largest entries of each row, best first."""
    n = sims.shape[1]
    k = min(k, n)
    if k <= 0:
        empty = np.empty((sims.shape[0], 0))
        return empty.astype(np.int64), empty.astype(np.float32)
    if k < n:
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), sims.shape).copy()
    vals = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


class ExactIndex:
    """Exact cosine search over all vectors with one matrix product."""

    kind = "exact"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.empty((0, dim), dtype=np.float32)
        self._labels = np.empty(0, dtype=np.int64)

    @classmethod
    def from_arrays(cls, vectors: np.ndarray, labels: np.ndarray) -> ExactIndex:
        """Wrap existing arrays without copying them (the caller must not modify them)."""
        index = cls(vectors.shape[1])
        index._vectors = as_queries(vectors, vectors.shape[1])
        index._labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(index._labels) != len(index._vectors):
            raise ValueError(f"{len(vectors)} vectors but {len(index._labels)} labels")
        return index

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def deleted_count(self) -> int:
        return 0  # deletions are applied at once

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        v = as_queries(vectors, self.dim)
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(lab) != len(v):
            raise ValueError(f"{len(v)} vectors but {len(lab)} labels")
        self._vectors = np.concatenate([self._vectors, v]) if len(self._labels) else v.copy()
        self._labels = np.concatenate([self._labels, lab])

    def mark_deleted(self, labels: Iterable[int]) -> None:
        gone = np.fromiter(labels, dtype=np.int64)
        keep = ~np.isin(self._labels, gone)
        self._vectors, self._labels = self._vectors[keep], self._labels[keep]

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def vectors(self, labels: np.ndarray) -> np.ndarray:
        """The stored vectors of ``labels`` (in that order)."""
        order = np.argsort(self._labels)
        pos = order[np.searchsorted(self._labels, labels, sorter=order)]
        return self._vectors[pos]

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = as_queries(queries, self.dim)
        vectors, labels = self._vectors, self._labels
        if allowed is not None:
            cols = np.flatnonzero(np.isin(labels, allowed))
            vectors, labels = vectors[cols], labels[cols]
        cols, sims = top_k(q @ vectors.T, k)
        return labels[cols], sims.astype(np.float32)

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, vectors=self._vectors, labels=self._labels)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ExactIndex:
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                vectors, labels = data["vectors"], data["labels"]
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"{path}: not a saved exact index ({exc})") from exc
        index = cls(vectors.shape[1])
        index._vectors, index._labels = vectors.astype(np.float32), labels.astype(np.int64)
        return index
