"""``CatalogFinder``: the kiosk's read-only search over a catalog, and ``open_finder``.

A finder is a snapshot: the vector index and the map from vectors to products are loaded once
and never modified, so searches from any thread are safe. When the catalog changes
(``catalog_version_on_disk`` differs from ``finder.catalog_version``) the kiosk opens a new
finder and swaps it in whole.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Concatenate, ParamSpec, Protocol, TypeVar

import numpy as np
from sqlite_utils import Database

from .adapter import StoredAdaptation, load_adaptation, load_proto_graph, load_prototypes
from .consistency import shared_photo_products
from .db import get_meta, index_paths, open_catalog_readonly, reading, revisions
from .decisions import DEFAULT_THRESHOLDS, DecisionThresholds
from .errors import BundleMismatchError, IndexFileError
from .index_store import IndexMeta, catalog_dim, iter_db_vectors, load_index_checked
from .products import (
    browse,
    categories,
    product_by_sku,
    product_thumbnail,
    products_by_id,
    products_by_sku,
)
from .settings import CatalogSettings
from .textsearch import Vocabulary, find_text
from .types import CatalogSummary, Match, MatchKind, Product, SearchResult, TextHit
from .vector_index import ExactIndex, VectorIndex, as_queries

log = logging.getLogger(__name__)

#: how far behind the first product a candidate sharing one of its photos (the same bytes) may
#: score and still make the result "not sure": wider than any calibrated confident margin
SHARED_NEAR = 0.25


class TextEncoder(Protocol):
    """A bundle's text tower (``models.text.TextEmbedder``): text into the image vector space."""

    def embed_text(self, texts: list[str]) -> np.ndarray: ...


def _version(db_path: Path, db: Database) -> str:
    """Products, images, embeddings, adaptation and index file: a change to any changes it."""
    catalog_rev, embeddings_rev = revisions(db)
    adaptation_rev = get_meta(db, "adaptation_revision", "0")
    try:
        tag = IndexMeta.read(index_paths(db_path)[1]).checksum[:12]
    except IndexFileError:
        tag = "none"
    return f"{catalog_rev}.{embeddings_rev}.{adaptation_rev}.{tag}"


def catalog_version_on_disk(db_path: str | os.PathLike[str]) -> str:
    """The version a finder opened now would have: poll it to know when to reopen."""
    db = open_catalog_readonly(db_path)
    try:
        return _version(Path(db_path), db)
    finally:
        db.close()


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reads(
    method: Callable[Concatenate[CatalogFinder, _P], _R],
) -> Callable[Concatenate[CatalogFinder, _P], _R]:
    """A damaged database page met while reading is a CatalogDamagedError, not SQLite's own."""

    @wraps(method)
    def run(self: CatalogFinder, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with reading(self.db_path):
            return method(self, *args, **kwargs)

    return run


class CatalogFinder:
    """Implements :class:`catalog.types.ProductFinder` over one catalog database."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        bundle_id: str | None = None,
        settings: CatalogSettings | None = None,
        text_embedder: TextEncoder | None = None,
    ) -> None:
        settings = settings or CatalogSettings()
        self.text_embedder = text_embedder
        self.db_path = Path(db_path)
        self._db = open_catalog_readonly(self.db_path)
        self._lock = threading.RLock()
        conn = self._db.conn
        conn.execute("BEGIN")  # one consistent snapshot of everything loaded below
        try:
            stored = get_meta(self._db, "bundle_id") or ""
            if bundle_id and stored and stored != bundle_id:
                raise BundleMismatchError(
                    f"{self.db_path}: the catalog's vectors were made by {stored}, this kiosk "
                    f"runs {bundle_id}; re-index the catalog with that bundle "
                    "(aislelens catalog index --bundle … --rebuild)"
                )
            self.bundle_id = stored or (bundle_id or "")
            #: product id → sha256 of its embedded photos another product has too
            self._shared = shared_photo_products(self._db)
            _, embeddings_rev = revisions(self._db)
            self.catalog_version = _version(self.db_path, self._db)
            self.dim = catalog_dim(self._db) or 0
            self.index_note = ""
            #: the store adaptation, when the catalog has a current one: scans are then
            #: compared with one prototype per product in the adapted space
            self.adaptation: StoredAdaptation | None = load_adaptation(self._db, self.bundle_id)
            #: the thresholds that turn a search result into "found", "not sure", "no match"
            self.decision_thresholds: DecisionThresholds = (
                self.adaptation.thresholds if self.adaptation else DEFAULT_THRESHOLDS
            )
            if self.adaptation is not None:
                self._index = self._load_prototypes(settings, self.adaptation)
                self._labels = np.sort(self._index.labels())  # product ids: a prototype each
                self._label_product = self._labels
            else:
                rows = conn.execute(
                    "SELECT e.id, i.product_id FROM embeddings e "
                    "JOIN images i ON i.id = e.image_id ORDER BY e.id"
                ).fetchall()
                self._labels = np.array([r[0] for r in rows], dtype=np.int64)
                self._label_product = np.array([r[1] for r in rows], dtype=np.int64)
                self._index = self._load_index(settings, len(rows), embeddings_rev)
        except BaseException:
            conn.execute("ROLLBACK")
            self._db.close()
            raise
        conn.execute("ROLLBACK")
        self._filters: dict[tuple[str | None, bool], np.ndarray] = {}
        self._summary: CatalogSummary | None = None
        #: the words misspellings are matched against, and the catalog revision they are of
        #: (products are read live, so it is rebuilt when they change)
        self._vocabulary: tuple[int, Vocabulary] | None = None
        if not len(self._labels):
            log.info(
                "%s: no embeddings yet, image search finds nothing (run `aislelens catalog index`)",
                self.db_path,
            )

    def _load_index(self, settings: CatalogSettings, n: int, revision: int) -> VectorIndex:
        if n >= settings.exact_threshold:
            try:
                index, _ = load_index_checked(
                    self.db_path,
                    bundle_id=self.bundle_id,
                    dim=self.dim,
                    embeddings_revision=revision,
                    settings=settings,
                    full_vectors=self._full_vectors,
                )
                return index
            except IndexFileError as exc:
                self.index_note = f"{exc}; searching exactly until it is rebuilt"
                log.warning("%s", self.index_note)
        exact = ExactIndex(self.dim or 1)
        for labels, vectors in iter_db_vectors(self._db, self.dim):
            exact.add(vectors, labels)
        return exact

    def _load_prototypes(self, settings: CatalogSettings, stored: StoredAdaptation) -> VectorIndex:
        """The prototypes' HNSW graph when the catalog has a checked one, else all of them
        searched exactly (labels: product ids)."""
        graph = load_proto_graph(self.db_path, stored, settings, self._full_prototypes)
        if graph is not None:
            return graph
        ids, vectors = load_prototypes(self._db, stored.adaptation.out_dim)
        if stored.graph_sha256:
            self.index_note = "prototype graph unusable; searching the prototypes exactly"
        return ExactIndex.from_arrays(vectors, ids)

    def _query(self, vector: np.ndarray) -> np.ndarray:
        """The query as the index wants it: in the adapted space when there is one."""
        query = as_queries(vector, self.dim or np.shape(vector)[-1])
        if self.adaptation is not None:
            return self.adaptation.adaptation.transform(query)
        return query

    def _full_vectors(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stored vectors of ``labels`` (a projected index re-ranks its candidates with them).

        Called from whichever thread searches, so it takes the connection's lock."""
        found, vectors = [], []
        with self._lock:
            for lab, vec in iter_db_vectors(self._db, self.dim, labels):
                found.append(lab)
                vectors.append(vec)
        if not found:
            return np.empty(0, np.int64), np.empty((0, self.dim), np.float32)
        return np.concatenate(found), np.concatenate(vectors)

    def _full_prototypes(self, product_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stored prototypes of ``product_ids`` (a narrowed prototype graph re-ranks with them)."""
        assert self.adaptation is not None
        with self._lock:
            return load_prototypes(self._db, self.adaptation.adaptation.out_dim, product_ids)

    @property
    def index_kind(self) -> str:
        if self.adaptation is not None:
            return f"adapted prototypes ({self._index.kind})"
        return self._index.kind

    def __len__(self) -> int:
        """Reference vectors searched."""
        return len(self._labels)

    @property
    def searchable_products(self) -> int:
        """Products with at least one reference vector."""
        return len(np.unique(self._label_product))

    def _products_of(self, labels: np.ndarray) -> np.ndarray:
        pos = np.clip(np.searchsorted(self._labels, labels), 0, max(0, len(self._labels) - 1))
        return self._label_product[pos]

    def _allowed(self, category: str | None, in_stock_only: bool) -> np.ndarray | None:
        if category is None and not in_stock_only:
            return None
        key = (category, in_stock_only)
        if key not in self._filters:
            sql, args = "SELECT id FROM products WHERE 1", []
            if category is not None:
                sql, args = sql + " AND category = ?", [category]
            if in_stock_only:
                sql += " AND in_stock = 1"
            with self._lock:
                ids = np.array([r[0] for r in self._db.conn.execute(sql, args)], dtype=np.int64)
            self._filters[key] = self._labels[np.isin(self._label_product, ids)]
        return self._filters[key]

    def _rank_products(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, exclude: int | None = None
    ) -> list[tuple[int, float]]:
        """Best (product id, similarity) pairs over all query vectors, best first."""
        available = len(self._labels) if allowed is None else len(allowed)
        want = k + (1 if exclude is not None else 0)
        # prototypes are one vector per product: no more are needed than products wanted
        n_img = min(available, want if self.adaptation is not None else want * 3 + 8)
        best: dict[int, float] = {}
        while n_img > 0:
            labels, sims = self._index.search(queries, n_img, allowed=allowed)
            best = {}
            for pid, sim in zip(
                self._products_of(labels.ravel()).tolist(), sims.ravel().tolist(), strict=True
            ):
                if pid != exclude and sim > best.get(pid, -np.inf):
                    best[pid] = sim
            if len(best) >= k or n_img >= available:
                break
            n_img = min(available, n_img * 4)
        return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def _shared_photo_tie(self, ranked: list[tuple[int, float]]) -> list[int]:
        """The first product and the candidates close behind it that have a photo of the same
        bytes ([] when there are none). Scored by one vector they tie exactly; with the store
        adaptation (synthetic views, prototypes) they may differ a little, so "close" is a
        window wider than any margin that makes "We found it" (:data:`SHARED_NEAR`)."""
        if len(ranked) < 2:
            return []
        first, top = self._shared.get(ranked[0][0], frozenset()), ranked[0][1]
        if not first:
            return []
        tied = [
            pid
            for pid, sim in ranked[1:]
            if top - sim <= SHARED_NEAR and first & self._shared.get(pid, frozenset())
        ]
        return [ranked[0][0], *tied] if tied else []

    def _matches(self, ranked: list[tuple[int, float]]) -> list[Match]:
        with self._lock:
            products = products_by_id(self._db, [pid for pid, _ in ranked])
        return [Match(products[pid], float(s)) for pid, s in ranked if pid in products]

    @_reads
    def search_vector(
        self,
        vector: np.ndarray,
        k: int = 5,
        *,
        category: str | None = None,
        in_stock_only: bool = False,
    ) -> SearchResult:
        """Top-k products for an L2-normalised query embedding, with the top-2 margin."""
        t0 = time.perf_counter()
        query = self._query(vector)[:1]
        allowed = self._allowed(category, in_stock_only)
        # the runner-up is always looked for: the margin to it decides "We found it", also
        # when only one product is asked for
        ranked = self._rank_products(query, max(k, 2), allowed) if len(self._labels) else []
        t1 = time.perf_counter()
        margin = 0.0 if not ranked else 1.0  # one product: no runner-up
        if len(ranked) >= 2:
            margin = ranked[0][1] - ranked[1][1]
        matches = self._matches(ranked[:k])
        tied = self._shared_photo_tie(ranked)
        # by SKU: which twin a float's last bits put first must not change the reason shown
        # ("S2 and S6 have the same photo"); the candidates stay in score order
        shared = tuple(
            sorted(m.product.sku for m in self._matches([r for r in ranked if r[0] in tied]))
        )
        t2 = time.perf_counter()
        return SearchResult(
            matches,
            float(margin),
            {"search": (t1 - t0) * 1e3, "lookup": (t2 - t1) * 1e3},
            shared,
        )

    @_reads
    def search_text(self, query: str, k: int = 20) -> list[Product]:
        """The products of :meth:`find_text`, best first."""
        return [hit.product for hit in self.find_text(query, k)]

    @_reads
    def find_text(self, query: str, k: int = 20) -> list[TextHit]:
        """Products matching the words typed (:func:`catalog.textsearch.find_text`: word,
        inner-word and misspelt-word matches, in that order), then, when the bundle has a text
        tower, the products whose images are nearest to the text."""
        with self._lock:
            found = find_text(self._db, query, k, vocabulary=self._words)
        if self.text_embedder is not None and query.strip() and len(found) < k:
            vector = self.text_embedder.embed_text([query])[0]
            seen = {hit.product.sku for hit in found}
            for match in self.search_vector(vector, k).matches:
                if match.product.sku not in seen and len(found) < k:
                    found.append(TextHit(match.product, MatchKind.LOOKS))
                    seen.add(match.product.sku)
        return found

    def _words(self) -> Vocabulary:
        """The catalog's vocabulary for the revision on disk (the caller holds the lock)."""
        revision, _ = revisions(self._db)
        if self._vocabulary is None or self._vocabulary[0] != revision:
            self._vocabulary = (revision, Vocabulary.load(self._db))
        return self._vocabulary[1]

    @_reads
    def product(self, sku: str) -> Product | None:
        with self._lock:
            return product_by_sku(self._db, sku)

    @_reads
    def similar(self, sku: str, k: int = 6) -> list[Match]:
        """Products of the same kind that look most like ``sku`` (itself excluded): its own
        subcategory first, then the rest of its category, then any product, each by how
        close the reference images are. A carrot's neighbours are vegetables, not the orange
        juice of the same colour."""
        with self._lock:
            row = self._db.conn.execute(
                "SELECT id, category, subcategory FROM products WHERE sku = ?", [sku]
            ).fetchone()
        if row is None or not len(self._labels):
            return []
        pid, category, subcategory = row
        own = self._labels[self._label_product == pid]
        if not len(own):
            return []
        with self._lock:
            if self.adaptation is not None:
                _, vectors = load_prototypes(
                    self._db, self.adaptation.adaptation.out_dim, np.array([pid])
                )
            else:
                vectors = np.concatenate([v for _, v in iter_db_vectors(self._db, self.dim, own)])
        if not category:
            return self._matches(self._rank_products(vectors, k, None, exclude=pid))
        # the whole category by looks, then its own subcategory first (a stable sort)
        kind = self._matches(
            self._rank_products(vectors, 10 * k, self._allowed(category, False), exclude=pid)
        )
        kind.sort(key=lambda m: m.product.subcategory != subcategory)
        if len(kind) >= k:
            return kind[:k]
        seen = {m.product.sku for m in kind}
        rest = self._matches(self._rank_products(vectors, k + len(kind), None, exclude=pid))
        return kind + [m for m in rest if m.product.sku not in seen][: k - len(kind)]

    @_reads
    def goes_well_with(self, sku: str) -> list[Product]:
        product = self.product(sku)
        if product is None or not product.related:
            return []
        with self._lock:
            found = products_by_sku(self._db, product.related)
        return [found[s] for s in product.related if s in found]

    @_reads
    def categories(self) -> list[str]:
        with self._lock:
            return categories(self._db)

    @_reads
    def browse(self, category: str, limit: int = 60) -> list[Product]:
        with self._lock:
            return browse(self._db, category, limit)

    @_reads
    def thumbnail(self, sku: str) -> bytes | None:
        with self._lock:
            return product_thumbnail(self._db, sku)

    @_reads
    def summary(self) -> CatalogSummary:
        """Counted once per finder (a finder is a snapshot; a changed catalog is a new one)."""
        if self._summary is not None:
            return self._summary
        with self._lock:
            q = self._db.conn.execute
            products = q("SELECT count(*) FROM products").fetchone()[0]
            kinds = dict(q("SELECT kind, count(*) FROM images GROUP BY kind").fetchall())
        try:
            mtime = self.db_path.stat().st_mtime
            wal = self.db_path.with_name(self.db_path.name + "-wal")
            if wal.exists():
                mtime = max(mtime, wal.stat().st_mtime)
            updated = datetime.fromtimestamp(mtime).astimezone().isoformat(timespec="minutes")
        except OSError:
            updated = ""
        self._summary = CatalogSummary(
            self.db_path.name,
            products,
            kinds.get("catalog", 0),
            kinds.get("enrolled", 0),
            updated,
        )
        return self._summary

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_finder(
    db_path: str | os.PathLike[str],
    *,
    bundle_id: str | None = None,
    settings: CatalogSettings | None = None,
    text_embedder: TextEncoder | None = None,
) -> CatalogFinder:
    """Open a catalog read-only for searching.

    Loads the HNSW index after checking it (checksum, bundle, revision) or, for small catalogs
    or an unusable index file, searches exactly. Raises :class:`BundleMismatchError` when the
    catalog's vectors were made by a different bundle than ``bundle_id``. ``text_embedder``: the
    bundle's text tower (``models.text.TextEmbedder``), when it has one, for ``search_text``.
    """
    with reading(db_path):
        return CatalogFinder(
            db_path, bundle_id=bundle_id, settings=settings, text_embedder=text_embedder
        )
