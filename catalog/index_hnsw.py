"""``HnswIndex``: approximate cosine search with hnswlib (the only module that imports it).

Deletions are marks (``mark_deleted``) whose slots later additions reuse
(``replace_deleted``); hnswlib keeps the marks in its file, this class keeps the set of deleted
labels (saved in the index metadata by :mod:`catalog.index_store`). hnswlib's ``load_index``
resets ``ef``, so it is set again after every load. ``ef=0`` chooses it from the graph's size
at each search (:func:`ef_for_size`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

import hnswlib
import numpy as np

from .vector_index import ExactIndex, as_queries

#: With a filter that allows at most this many items, search them exactly (faster and exact).
EXACT_FILTER_LIMIT = 4096


def ef_for_size(n: int) -> int:
    """The search ``ef`` for a graph of ``n`` vectors: 64 up to 100,000, then growing to 256 at
    1,000,000 (and no further), the smallest values reaching recall@10 >= 0.99 at 100,000 and
    >= 0.98 at 1,000,000 in the sweep of ``bench/bench_index.py`` (BENCHMARKS.md)."""
    if n <= 100_000:
        return 64
    return min(256, round(64 * (n / 100_000) ** math.log10(4)))


class HnswIndex:
    """hnswlib graph over L2-normalised vectors (cosine space)."""

    kind = "hnsw"

    def __init__(
        self,
        dim: int,
        *,
        m: int = 32,
        ef_construction: int = 200,
        ef: int = 128,
        capacity: int = 1024,
        threads: int = 0,
        _index: hnswlib.Index | None = None,
    ) -> None:
        self.dim = dim
        self.ef = ef
        self.threads = threads if threads > 0 else -1
        if _index is None:
            _index = hnswlib.Index(space="cosine", dim=dim)
            _index.init_index(
                max_elements=max(1, capacity),
                ef_construction=ef_construction,
                M=m,
                allow_replace_deleted=True,
            )
        self._index = _index
        self._deleted: set[int] = set()
        self._index.set_ef(ef or ef_for_size(len(self)))

    @property
    def m(self) -> int:
        return int(self._index.M)

    @property
    def ef_construction(self) -> int:
        return int(self._index.ef_construction)

    def __len__(self) -> int:
        return int(self._index.get_current_count()) - len(self._deleted)

    @property
    def deleted_count(self) -> int:
        return len(self._deleted)

    @property
    def deleted(self) -> list[int]:
        return sorted(self._deleted)

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        v = as_queries(vectors, self.dim)
        lab = np.asarray(labels, dtype=np.int64).reshape(-1)
        if len(lab) != len(v):
            raise ValueError(f"{len(v)} vectors but {len(lab)} labels")
        if not len(lab):
            return
        reusable = len(self._deleted)  # replace_deleted fills marked slots first
        need = int(self._index.get_current_count()) + max(0, len(lab) - reusable)
        if need > self._index.get_max_elements():
            self._index.resize_index(need)
        self._index.add_items(
            v, lab.astype(np.uint64), num_threads=self.threads, replace_deleted=bool(self._deleted)
        )
        if self._deleted:  # replaced slots are gone from the label table
            self._deleted &= set(self._index.get_ids_list())

    def mark_deleted(self, labels: Iterable[int]) -> None:
        for label in labels:
            label = int(label)
            if label not in self._deleted:
                self._index.mark_deleted(label)
                self._deleted.add(label)

    def labels(self) -> np.ndarray:
        ids = np.asarray(self._index.get_ids_list(), dtype=np.int64)
        if self._deleted:
            ids = ids[~np.isin(ids, np.fromiter(self._deleted, dtype=np.int64))]
        return ids

    def vectors(self, labels: np.ndarray) -> np.ndarray:
        """The stored (normalised) vectors of ``labels``."""
        if not len(labels):
            return np.empty((0, self.dim), dtype=np.float32)
        return np.asarray(self._index.get_items([int(x) for x in labels]), dtype=np.float32)

    def search(
        self, queries: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = as_queries(queries, self.dim)
        live = len(self)
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if len(allowed) <= EXACT_FILTER_LIMIT:
                exact = ExactIndex(self.dim)
                exact.add(self.vectors(allowed), allowed)
                return exact.search(q, k)
            live = min(live, len(allowed))
        k = min(k, live)
        if k <= 0:
            empty = np.empty((len(q), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        ef = max(self.ef or ef_for_size(len(self)), k)
        if self._index.ef != ef:
            self._index.set_ef(ef)
        allowed_set = set(allowed.tolist()) if allowed is not None else None
        flt = allowed_set.__contains__ if allowed_set is not None else None
        while True:
            try:
                labels, dist = self._index.knn_query(q, k=k, num_threads=1, filter=flt)
                break
            except RuntimeError:  # fewer than k reachable (filters, heavy deletion): ask less
                if k == 1:
                    empty = np.empty((len(q), 0))
                    return empty.astype(np.int64), empty.astype(np.float32)
                k = max(1, k // 2)
        return labels.astype(np.int64), (1.0 - dist).astype(np.float32)

    def save(self, path: str | os.PathLike[str]) -> None:
        self._index.save_index(str(path))

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        dim: int,
        *,
        deleted: Iterable[int] = (),
        ef: int = 128,
        threads: int = 0,
    ) -> HnswIndex:
        """Load a file written by :meth:`save`. Only call this on a file whose checksum was
        verified: hnswlib can crash the process on a corrupt one."""
        raw = hnswlib.Index(space="cosine", dim=dim)
        raw.load_index(str(path), allow_replace_deleted=True)
        index = cls(dim, ef=ef, threads=threads, _index=raw)  # sets ef again after loading
        index._deleted = {int(x) for x in deleted}
        return index
