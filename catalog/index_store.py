"""The HNSW index file beside the database: atomic save, checked load, and keeping it in step.

The index is derived from the ``embeddings`` table and can always be rebuilt. It is written to a
temporary file, fsynced and swapped in with ``os.replace``; a JSON file beside it records the
bundle, the item count, the database's ``embeddings_revision`` it matches, and the sha256 and
size of the index file. A truncated or altered file is caught by size and checksum *before*
hnswlib reads it (hnswlib can crash the process on a corrupt file), and a stale one by the
revision; either is rebuilt by :func:`sync_index`, never crashed on.

When ``settings.index_dim`` is below the vectors' width the graph holds PCA-projected vectors
(:mod:`catalog.index_projected`); the projection is a third file (``<db>.hnsw.pca``), part of
the same artefact: written and swapped in with the index, its sha256 and size in the same JSON,
checked before use. A missing or damaged projection makes the whole index unusable, like a
damaged graph.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from .atomic import fsync_path, write_atomic
from .db import get_meta, index_paths, revisions, utc_now
from .errors import CatalogError, IndexCorruptError, IndexFileError, IndexStaleError
from .imagefiles import sha256_file
from .index_hnsw import HnswIndex
from .index_projected import FIT_SAMPLE, FIT_SEED, FullVectors, PcaProjection, ProjectedIndex
from .progress import ProgressBar, ProgressFactory, start_progress
from .settings import CatalogSettings

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ADD_CHUNK = 10_000


@dataclass
class IndexMeta:
    """What the JSON beside an index file says about it."""

    bundle_id: str
    dim: int
    count: int  # live items
    embeddings_revision: int
    checksum: str  # sha256 of the index file
    bytes: int
    m: int
    ef_construction: int
    deleted: list[int] = field(default_factory=list)
    built_at: str = ""
    kind: str = "hnsw"
    format_version: int = FORMAT_VERSION
    index_dim: int = 0  # width of the graph's (projected) vectors; 0: not projected
    projection_checksum: str = ""  # sha256 of the projection file
    projection_bytes: int = 0

    @classmethod
    def read(cls, path: Path) -> IndexMeta:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            meta = cls(**data)
        except FileNotFoundError:
            raise IndexFileError(f"{path}: no index metadata") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
            raise IndexCorruptError(f"{path}: unreadable index metadata ({exc})") from exc
        if meta.format_version != FORMAT_VERSION or meta.kind != "hnsw":
            raise IndexCorruptError(
                f"{path}: unknown index format {meta.format_version}/{meta.kind}"
            )
        return meta


@dataclass
class IndexSyncReport:
    """What :func:`sync_index` did: ``action`` is one of exact, unchanged, updated, rebuilt."""

    action: str
    kind: str  # "exact" (numpy, no file) or "hnsw"
    count: int
    added: int = 0
    deleted: int = 0
    reason: str = ""
    seconds: float = 0.0

    @property
    def vectors_per_s(self) -> float:
        return self.added / self.seconds if self.seconds > 0 else 0.0


#: an index the catalog can search: a plain graph of full vectors, or a projected one
CatalogIndex = HnswIndex | ProjectedIndex


def projection_path(db_path: str | os.PathLike[str]) -> Path:
    """The PCA projection file of a projected index, beside the index file."""
    idx_path, _ = index_paths(db_path)
    return idx_path.with_name(idx_path.name + ".pca")


def index_files(db_path: str | os.PathLike[str]) -> tuple[Path, Path, Path]:
    """(index file, its metadata JSON, its projection) beside the database."""
    return (*index_paths(db_path), projection_path(db_path))


def _write_json_atomic(path: Path, data: dict) -> None:
    write_atomic(path, (json.dumps(data) + "\n").encode())


def save_index_atomic(
    index: CatalogIndex,
    db_path: str | os.PathLike[str],
    *,
    bundle_id: str,
    embeddings_revision: int,
) -> IndexMeta:
    """Write the index (and its projection) to temporary files, fsync, then swap them and their
    metadata in. Until the metadata is swapped in last, the checksums in the old one no longer
    match, so a run killed half-way leaves an index that is detected as damaged, never used."""
    idx_path, meta_path, pca_path = index_files(db_path)
    tmp = idx_path.with_name(f"{idx_path.name}.tmp{os.getpid()}")
    pca_tmp = idx_path.with_name(f"{idx_path.name}.tmp{os.getpid()}.pca")
    graph = index.graph if isinstance(index, ProjectedIndex) else index
    try:
        graph.save(tmp)
        fsync_path(tmp)
        meta = IndexMeta(
            bundle_id=bundle_id,
            dim=index.dim,
            count=len(index),
            embeddings_revision=embeddings_revision,
            checksum=sha256_file(tmp),
            bytes=tmp.stat().st_size,
            m=index.m,
            ef_construction=index.ef_construction,
            deleted=index.deleted,
            built_at=utc_now(),
        )
        if isinstance(index, ProjectedIndex):
            index.projection.save(pca_tmp)
            fsync_path(pca_tmp)
            meta.index_dim = index.index_dim
            meta.projection_checksum = sha256_file(pca_tmp)
            meta.projection_bytes = pca_tmp.stat().st_size
            os.replace(pca_tmp, pca_path)
        else:
            pca_path.unlink(missing_ok=True)
        os.replace(tmp, idx_path)
    finally:
        tmp.unlink(missing_ok=True)
        pca_tmp.unlink(missing_ok=True)
    _write_json_atomic(meta_path, asdict(meta))
    fsync_path(idx_path.parent)
    return meta


def load_index_checked(
    db_path: str | os.PathLike[str],
    *,
    bundle_id: str,
    dim: int,
    embeddings_revision: int | None,
    settings: CatalogSettings,
    full_vectors: FullVectors | None = None,
) -> tuple[CatalogIndex, IndexMeta]:
    """Load the index after checking metadata, sizes and checksums; raises IndexFileError.

    A projected index comes back as a :class:`ProjectedIndex` that re-ranks with
    ``full_vectors`` (needed only to search it)."""
    idx_path, meta_path, pca_path = index_files(db_path)
    meta = IndexMeta.read(meta_path)
    if meta.bundle_id != bundle_id or meta.dim != dim:
        raise IndexStaleError(
            f"{idx_path}: built from {meta.bundle_id} vectors, the catalog holds {bundle_id}"
        )
    if embeddings_revision is not None and meta.embeddings_revision != embeddings_revision:
        raise IndexStaleError(
            f"{idx_path}: built at embeddings revision {meta.embeddings_revision}, the database "
            f"is at {embeddings_revision} (run `aislelens catalog index`)"
        )
    try:
        size = idx_path.stat().st_size
    except FileNotFoundError:
        raise IndexCorruptError(f"{idx_path}: index file missing") from None
    if size != meta.bytes:
        raise IndexCorruptError(
            f"{idx_path}: {size} bytes, its metadata says {meta.bytes} (truncated or replaced)"
        )
    if sha256_file(idx_path) != meta.checksum:
        raise IndexCorruptError(f"{idx_path}: checksum does not match its metadata (altered)")
    projection = _load_projection_checked(pca_path, meta) if meta.index_dim else None
    try:
        graph = HnswIndex.load(
            idx_path,
            meta.index_dim or dim,
            deleted=meta.deleted,
            ef=settings.hnsw_ef,
            threads=settings.build_threads,
        )
    except (RuntimeError, ValueError, MemoryError) as exc:
        raise IndexCorruptError(f"{idx_path}: hnswlib cannot read it ({exc})") from exc
    index: CatalogIndex = (
        graph if projection is None else ProjectedIndex(graph, projection, full_vectors)
    )
    if len(index) != meta.count:
        raise IndexCorruptError(f"{idx_path}: holds {len(index)} items, metadata says {meta.count}")
    return index, meta


def _load_projection_checked(path: Path, meta: IndexMeta) -> PcaProjection:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise IndexCorruptError(f"{path}: projection file missing") from None
    if size != meta.projection_bytes:
        raise IndexCorruptError(
            f"{path}: {size} bytes, its metadata says {meta.projection_bytes} "
            "(truncated or replaced)"
        )
    if sha256_file(path) != meta.projection_checksum:
        raise IndexCorruptError(f"{path}: checksum does not match its metadata (altered)")
    return PcaProjection.load(path, meta.dim, meta.index_dim)


def remove_index_files(db_path: str | os.PathLike[str]) -> None:
    for p in index_files(db_path):
        p.unlink(missing_ok=True)


def _remove_temp_files(db_path: str | os.PathLike[str]) -> None:
    """Temporary files left by a killed run."""
    idx_path, meta_path = index_paths(db_path)
    for stem in (idx_path, meta_path):
        for p in stem.parent.glob(f"{stem.name}.tmp*"):
            p.unlink(missing_ok=True)


def iter_db_vectors(
    db: Database, dim: int, ids: np.ndarray | None = None, chunk: int = 8192
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(labels int64, vectors float32 [n, dim]) chunks of the embeddings table."""

    def pack(rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        if any(len(blob) != 4 * dim for _, blob in rows):
            raise CatalogError(
                f"embeddings table holds a vector that is not {dim}-d "
                "(run `aislelens catalog check`)"
            )
        labels = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        return labels, vectors.reshape(len(rows), dim)

    if ids is None:
        cursor = db.conn.execute("SELECT id, vector FROM embeddings ORDER BY id")
        while rows := cursor.fetchmany(chunk):
            yield pack(rows)
        return
    for start in range(0, len(ids), 500):
        part = [int(x) for x in ids[start : start + 500]]
        marks = ",".join("?" * len(part))
        rows = db.conn.execute(
            f"SELECT id, vector FROM embeddings WHERE id IN ({marks}) ORDER BY id", part
        ).fetchall()
        if rows:
            yield pack(rows)


def catalog_dim(db: Database) -> int | None:
    row = db.conn.execute("SELECT dim FROM embeddings LIMIT 1").fetchone()
    return int(row[0]) if row else None


def sync_index(
    db: Database,
    db_path: str | os.PathLike[str],
    settings: CatalogSettings,
    *,
    rebuild: bool = False,
    progress: ProgressFactory | None = None,
) -> IndexSyncReport:
    """Bring the index file in step with the embeddings table (the caller holds the write lock).

    Small catalogs get no file (searched exactly). Otherwise the existing index is updated in
    place (new vectors added, removed ones marked deleted) unless it is missing, corrupt, stale
    beyond repair, too much of it is deleted, or ``rebuild`` is asked: then it is rebuilt.
    """
    _remove_temp_files(db_path)
    n = db.conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    bundle_id = get_meta(db, "bundle_id") or ""
    dim = catalog_dim(db)
    _, revision = revisions(db)
    if dim is None or n < settings.exact_threshold:
        remove_index_files(db_path)
        return IndexSyncReport("exact", "exact", n)
    started = time.perf_counter()
    reason = "asked to rebuild" if rebuild else ""
    index: CatalogIndex | None = None
    if not rebuild:
        try:
            index, meta = load_index_checked(
                db_path, bundle_id=bundle_id, dim=dim, embeddings_revision=None, settings=settings
            )
        except IndexFileError as exc:
            reason = str(exc)
            if isinstance(exc, IndexCorruptError | IndexStaleError):
                log.warning("rebuilding the index: %s", exc)
    if index is not None and meta.index_dim != settings.projected_dim(dim):
        reason = (
            f"the index holds {meta.index_dim or dim}-d vectors, the settings ask for "
            f"{settings.projected_dim(dim) or dim}-d"
        )
        log.info("rebuilding the index: %s", reason)
        index = None
    if index is not None:
        db_ids = np.fromiter(
            (r[0] for r in db.conn.execute("SELECT id FROM embeddings")), dtype=np.int64
        )
        live = index.labels()
        to_add, to_del = np.setdiff1d(db_ids, live), np.setdiff1d(live, db_ids)
        total = len(live) + index.deleted_count + len(to_add)
        share = (index.deleted_count + len(to_del)) / max(1, total)
        if not len(to_add) and not len(to_del):
            if meta.embeddings_revision != revision:
                meta.embeddings_revision = revision
                _write_json_atomic(index_paths(db_path)[1], asdict(meta))
            return IndexSyncReport("unchanged", "hnsw", len(index))
        if share <= settings.rebuild_deleted_share:
            index.mark_deleted(to_del)
            bar = start_progress(progress, len(to_add), "index")
            try:
                for labels, vectors in iter_db_vectors(db, dim, to_add):
                    index.add(vectors, labels)
                    bar.update(len(labels))
            finally:
                bar.close()
            save_index_atomic(index, db_path, bundle_id=bundle_id, embeddings_revision=revision)
            return IndexSyncReport(
                "updated",
                "hnsw",
                len(index),
                len(to_add),
                len(to_del),
                seconds=time.perf_counter() - started,
            )
        reason = f"{share:.0%} of the graph would be deleted items"
    index = _new_index(db, dim, n, settings)
    bar = start_progress(progress, n, "build index")
    try:
        batch: list[tuple[np.ndarray, np.ndarray]] = []
        for labels, vectors in iter_db_vectors(db, dim):
            batch.append((labels, vectors))
            if sum(len(b[0]) for b in batch) >= ADD_CHUNK:
                _add_batch(index, batch, bar)
        _add_batch(index, batch, bar)
    finally:
        bar.close()
    save_index_atomic(index, db_path, bundle_id=bundle_id, embeddings_revision=revision)
    return IndexSyncReport(
        "rebuilt", "hnsw", len(index), len(index), 0, reason, time.perf_counter() - started
    )


def new_graph(dim: int, capacity: int, settings: CatalogSettings) -> HnswIndex:
    """An empty HNSW graph of ``dim`` dimensions, tuned by the settings."""
    return HnswIndex(
        dim,
        m=settings.hnsw_m,
        ef_construction=settings.hnsw_ef_construction,
        ef=settings.hnsw_ef,
        capacity=capacity,
        threads=settings.build_threads,
    )


def _new_index(db: Database, dim: int, n: int, settings: CatalogSettings) -> CatalogIndex:
    """An empty graph for ``n`` vectors; projected when the settings ask for it, with a PCA
    fitted on a seeded random sample of the stored vectors."""
    index_dim = settings.projected_dim(dim)
    graph = new_graph(index_dim or dim, n, settings)
    if not index_dim:
        return graph
    ids = np.fromiter(
        (r[0] for r in db.conn.execute("SELECT id FROM embeddings ORDER BY id")), dtype=np.int64
    )
    if len(ids) > FIT_SAMPLE:
        ids = np.sort(np.random.default_rng(FIT_SEED).choice(ids, FIT_SAMPLE, replace=False))
    sample = np.concatenate([v for _, v in iter_db_vectors(db, dim, ids)])
    return ProjectedIndex(graph, PcaProjection.fit(sample, index_dim))


def _add_batch(
    index: CatalogIndex, batch: list[tuple[np.ndarray, np.ndarray]], bar: ProgressBar
) -> None:
    if not batch:
        return
    labels = np.concatenate([b[0] for b in batch])
    index.add(np.concatenate([b[1] for b in batch]), labels)
    bar.update(len(labels))
    batch.clear()
