"""``ProjectedIndex``: an HNSW graph over PCA-projected vectors, re-ranked with the full ones.

A 1280-d float32 vector costs 5 KB in an hnswlib graph; at 100k reference images that is most
of the kiosk's memory. The graph therefore holds the vectors projected onto their first
``index_dim`` principal components (``PcaProjection``, fitted on a sample of the stored
embeddings when the index is built) and L2-normalised. A search asks the graph for an
oversampled candidate set, then re-ranks those candidates exactly with their full vectors read
from the source of truth (SQLite, through ``full_vectors``), so the scores it returns are the
true cosine similarities of the original vectors and the top-k is the exact one whenever the
true neighbours are among the candidates.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .errors import CatalogError, IndexCorruptError
from .index_hnsw import EXACT_FILTER_LIMIT, HnswIndex
from .vector_index import as_queries, top_k

#: ``full_vectors(labels)`` → (labels found, their float32 [n, dim] vectors), in any order;
#: labels no longer stored are left out.
FullVectors = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

#: vectors the projection is fitted on (a random sample when there are more)
FIT_SAMPLE = 20_000
FIT_SEED = 0


def candidates_for(k: int) -> int:
    """How many graph neighbours to re-rank for a top-``k``."""
    return max(4 * k, k + 32)


class PcaProjection:
    """x → normalise((x − mean) · componentsᵀ): float32 mean [dim], components [index_dim, dim]."""

    def __init__(self, mean: np.ndarray, components: np.ndarray) -> None:
        self.mean = np.ascontiguousarray(mean, dtype=np.float32).reshape(-1)
        self.components = np.ascontiguousarray(components, dtype=np.float32)
        if self.components.ndim != 2 or self.components.shape[1] != len(self.mean):
            raise ValueError(
                f"components {self.components.shape} do not match a {len(self.mean)}-d mean"
            )

    @property
    def dim(self) -> int:
        """Width of the original vectors."""
        return len(self.mean)

    @property
    def index_dim(self) -> int:
        """Width of the projected vectors."""
        return int(self.components.shape[0])

    @classmethod
    def fit(
        cls, vectors: np.ndarray, index_dim: int, *, sample: int = FIT_SAMPLE, seed: int = FIT_SEED
    ) -> PcaProjection:
        """Principal components of (a seeded random sample of) ``vectors``.

        By SVD of the [dim, dim] scatter matrix rather than of the [n, dim] data: the same
        components, in a fraction of a second instead of many. Always ``index_dim`` components
        (with fewer sample rows than that, the rest complete an orthonormal basis; only tiny
        test catalogs get there).
        """
        x = np.asarray(vectors, dtype=np.float32)
        if len(x) > sample:
            pick = np.sort(np.random.default_rng(seed).choice(len(x), sample, replace=False))
            x = x[pick]
        mean = x.mean(axis=0, dtype=np.float64)
        centred = x - mean
        _, _, vt = np.linalg.svd(centred.T @ centred, hermitian=True)
        return cls(mean.astype(np.float32), vt[:index_dim].astype(np.float32))

    def project(self, vectors: np.ndarray) -> np.ndarray:
        """L2-normalised float32 [n, index_dim] projections of [n, dim] vectors."""
        p = (as_queries(vectors, self.dim) - self.mean) @ self.components.T
        p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(p, dtype=np.float32)

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, mean=self.mean, components=self.components)

    @classmethod
    def load(cls, path: str | os.PathLike[str], dim: int, index_dim: int) -> PcaProjection:
        """Load a file written by :meth:`save`; raises IndexCorruptError if it is not one of
        a ``dim`` → ``index_dim`` projection."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                projection = cls(data["mean"], data["components"])
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise IndexCorruptError(f"{path}: not a saved projection ({exc})") from exc
        if projection.dim != dim or projection.index_dim != index_dim:
            raise IndexCorruptError(
                f"{path}: projects {projection.dim}-d to {projection.index_dim}-d, "
                f"its metadata says {dim}-d to {index_dim}-d"
            )
        return projection


class ProjectedIndex:
    """``VectorIndex`` over full-width vectors: a projected HNSW graph plus an exact re-rank.

    ``full_vectors`` is needed to search (not to add, delete or save); the finder passes one that
    reads the embeddings table.
    """

    kind = "hnsw"

    def __init__(
        self,
        graph: HnswIndex,
        projection: PcaProjection,
        full_vectors: FullVectors | None = None,
    ) -> None:
        if graph.dim != projection.index_dim:
            raise ValueError(f"a {graph.dim}-d graph for a {projection.index_dim}-d projection")
        self.graph = graph
        self.projection = projection
        self.full_vectors = full_vectors
        self.dim = projection.dim

    @property
    def index_dim(self) -> int:
        return self.graph.dim

    @property
    def m(self) -> int:
        return self.graph.m

    @property
    def ef_construction(self) -> int:
        return self.graph.ef_construction

    def __len__(self) -> int:
        return len(self.graph)

    @property
    def deleted_count(self) -> int:
        return self.graph.deleted_count

    @property
    def deleted(self) -> list[int]:
        return self.graph.deleted

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        """Add full-width vectors; they are projected with the stored projection."""
        self.graph.add(self.projection.project(vectors), labels)

    def mark_deleted(self, labels: Iterable[int]) -> None:
        self.graph.mark_deleted(labels)

    def labels(self) -> np.ndarray:
        return self.graph.labels()

    def save(self, path: str | os.PathLike[str]) -> None:
        """The graph to ``path``, the projection to ``path`` + ``.pca`` (the catalog's index
        files are written by :func:`catalog.index_store.save_index_atomic`)."""
        self.graph.save(path)
        self.projection.save(f"{os.fspath(path)}.pca")

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = as_queries(queries, self.dim)
        if self.full_vectors is None:
            raise CatalogError("a projected index needs the full vectors to search")
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if len(allowed) <= EXACT_FILTER_LIMIT:  # few: all of them are the candidates
                return self._rerank(q, np.broadcast_to(allowed, (len(q), len(allowed))), k)
        want = min(candidates_for(k), len(self) if allowed is None else len(allowed))
        candidates, _ = self.graph.search(self.projection.project(q), want, allowed=allowed)
        return self._rerank(q, candidates, k)

    def _rerank(
        self, q: np.ndarray, candidates: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k of each query among its candidate labels, by their full vectors."""
        assert self.full_vectors is not None
        found, vectors = self.full_vectors(np.unique(candidates))
        found = np.asarray(found, dtype=np.int64)
        empty = np.empty((len(q), 0))
        if not len(found) or not candidates.shape[1]:
            return empty.astype(np.int64), empty.astype(np.float32)
        order = np.argsort(found)
        found, vectors = found[order], np.asarray(vectors, dtype=np.float32)[order]
        out_labels, out_sims = [], []
        for row, query in zip(candidates, q, strict=True):
            pos = np.clip(np.searchsorted(found, row), 0, len(found) - 1)
            pos = pos[found[pos] == row]  # candidates whose vector is gone are dropped
            cols, sims = top_k((query @ vectors[pos].T)[None, :], k)
            out_labels.append(found[pos][cols[0]])
            out_sims.append(sims[0])
        width = min(len(x) for x in out_labels)
        return (
            np.stack([x[:width] for x in out_labels]).astype(np.int64),
            np.stack([x[:width] for x in out_sims]).astype(np.float32),
        )
