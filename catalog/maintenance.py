"""``stats`` and ``check``: what a catalog holds, and whether its parts agree."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .adapter import graph_problem
from .consistency import missing_related, shared_photos
from .db import SCHEMA_VERSION, get_meta, index_paths, open_catalog, open_catalog_readonly
from .db import revisions as db_revisions
from .errors import IndexFileError
from .index_store import IndexMeta, catalog_dim, load_index_checked, projection_path
from .settings import CatalogSettings
from .vectorcheck import find_damaged


@dataclass
class CatalogStats:
    """Counts and sizes of one catalog."""

    path: str
    schema_version: int
    bundle_id: str
    products: int
    categories: int
    catalog_images: int
    enrolled_images: int
    embedded: int  # images with a vector of the catalog's bundle
    pending: int  # images still to embed (new or changed)
    failed: int  # images that could not be decoded last time
    index_kind: str  # "hnsw" or "exact" (no index file)
    index_items: int
    db_bytes: int  # database plus its WAL
    thumbnail_bytes: int
    vector_bytes: int
    index_bytes: int
    catalog_revision: int
    embeddings_revision: int

    @property
    def bytes_per_product(self) -> dict[str, float]:
        n = max(1, self.products)
        return {
            "database": self.db_bytes / n,
            "index": self.index_bytes / n,
            "total": (self.db_bytes + self.index_bytes) / n,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "bytes_per_product": {k: round(v) for k, v in self.bytes_per_product.items()},
        }


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def catalog_stats(db_path: str | os.PathLike[str]) -> CatalogStats:
    """Read-only summary of a catalog."""
    db_path = Path(db_path)
    db = open_catalog_readonly(db_path)
    try:
        q = lambda sql: db.conn.execute(sql).fetchone()[0]  # noqa: E731
        idx_path, meta_path = index_paths(db_path)
        try:
            meta: IndexMeta | None = IndexMeta.read(meta_path)
        except IndexFileError:
            meta = None
        crev, erev = db_revisions(db)
        return CatalogStats(
            path=str(db_path),
            schema_version=SCHEMA_VERSION,
            bundle_id=get_meta(db, "bundle_id") or "",
            products=q("SELECT count(*) FROM products"),
            categories=q("SELECT count(DISTINCT category) FROM products WHERE category != ''"),
            catalog_images=q("SELECT count(*) FROM images WHERE kind = 'catalog'"),
            enrolled_images=q("SELECT count(*) FROM images WHERE kind = 'enrolled'"),
            embedded=q(
                "SELECT count(*) FROM embeddings e JOIN images i ON i.id = e.image_id "
                "WHERE e.sha256 = i.sha256"
            ),
            pending=q(
                "SELECT count(*) FROM images i LEFT JOIN embeddings e ON e.image_id = i.id "
                "WHERE (e.id IS NULL OR e.sha256 != i.sha256) AND i.error IS NULL"
            ),
            failed=q("SELECT count(*) FROM images WHERE error IS NOT NULL"),
            index_kind="hnsw" if meta and idx_path.exists() else "exact",
            index_items=meta.count if meta else q("SELECT count(*) FROM embeddings"),
            db_bytes=_size(db_path) + _size(db_path.with_name(db_path.name + "-wal")),
            thumbnail_bytes=q("SELECT coalesce(sum(length(data)), 0) FROM thumbnails"),
            vector_bytes=q("SELECT coalesce(sum(length(vector)), 0) FROM embeddings"),
            index_bytes=_size(idx_path) + _size(meta_path) + _size(projection_path(db_path)),
            catalog_revision=crev,
            embeddings_revision=erev,
        )
    finally:
        db.close()


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)  # make ``check`` fail
    #: worth fixing, but the catalog works (one photo on several products, a "goes well
    #: with" SKU that was removed and can still be restored)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_catalog(
    db_path: str | os.PathLike[str], settings: CatalogSettings | None = None
) -> CheckReport:
    """SQLite integrity, foreign keys, full-text index, vectors, and index-vs-tables agreement.

    Opening for writing applies any pending schema migrations first.
    """
    settings = settings or CatalogSettings()
    db_path = Path(db_path)
    report = CheckReport()
    db = open_catalog(db_path)
    conn = db.conn
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            report.problems += [f"integrity_check: {r}" for r in result[:20]]
        for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check"):
            report.problems.append(f"{table} row {rowid}: dangling reference to {parent}")
        try:
            conn.execute("INSERT INTO products_fts (products_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as exc:
            report.problems.append(
                f"full-text index: {exc} (fix: INSERT INTO products_fts "
                "(products_fts) VALUES ('rebuild'))"
            )
        _check_vectors(db, report)
        _check_between_products(db, report)
        _check_index(db, db_path, settings, report)
        _check_proto_graph(db, db_path, report)
    finally:
        db.close()
    return report


def _check_vectors(db: Any, report: CheckReport) -> None:
    conn = db.conn
    bundle = get_meta(db, "bundle_id") or ""
    for other, count in conn.execute(
        "SELECT bundle_id, count(*) FROM embeddings WHERE bundle_id != ? GROUP BY bundle_id",
        [bundle],
    ):
        report.problems.append(f"{count} vectors from {other}, the catalog's bundle is {bundle}")
    bad = conn.execute("SELECT count(*) FROM embeddings WHERE length(vector) != 4 * dim").fetchone()
    if bad[0]:
        report.problems.append(f"{bad[0]} vectors have the wrong length")
    damage = find_damaged(db)
    if damage.count:
        report.problems.append(
            f"damaged on disk (checksum or numbers): {', '.join(damage.describe())} — "
            "`aislelens catalog index` re-embeds them"
        )
    dims = conn.execute("SELECT count(DISTINCT dim) FROM embeddings").fetchone()[0]
    if dims > 1:
        report.problems.append("vectors of different dimensions in one catalog")
    pending = conn.execute(
        "SELECT count(*) FROM images i LEFT JOIN embeddings e ON e.image_id = i.id "
        "WHERE (e.id IS NULL OR e.sha256 != i.sha256) AND i.error IS NULL"
    ).fetchone()[0]
    if pending:
        report.notes.append(f"{pending} images not embedded yet (run `aislelens catalog index`)")
    for sku, path, error in conn.execute(
        "SELECT p.sku, i.path, i.error FROM images i JOIN products p ON p.id = i.product_id "
        "WHERE i.error IS NOT NULL LIMIT 20"
    ):
        report.notes.append(f"{sku}: {path}: {error}")


#: at most this many lines of one kind of finding (then how many more)
MAX_FINDINGS = 20


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_FINDINGS:
        return lines
    return [*lines[:MAX_FINDINGS], f"… and {len(lines) - MAX_FINDINGS} more like these"]


def _check_between_products(db: Any, report: CheckReport) -> None:
    """ "Goes well with" SKUs that are not in the catalog (a problem, unless the product was
    removed and can be restored: a warning), and one photo on several products (a warning)."""
    removed: set[str] = set()
    if db["removed_products"].exists():
        removed = {r[0] for r in db.conn.execute("SELECT sku FROM removed_products")}
    problems, warnings = [], []
    for m in missing_related(db):
        if m.related in removed:
            warnings.append(
                f"{m.sku}: goes well with {m.related}, which was removed (`aislelens catalog "
                "restore` brings it back; else take it out of the related column)"
            )
        else:
            problems.append(
                f"{m.sku}: goes well with {m.related!r}, which is not in the catalog (the kiosk "
                "leaves it out; fix the related column and import again)"
            )
    for shared in shared_photos(db):
        skus, path = shared.skus, shared.products[0][1]
        warnings.append(
            f"{' and '.join(skus)} have the same photo (identical bytes, {path}): the kiosk "
            "cannot tell them apart by it and shows them as candidates; give each its own photo"
        )
    report.problems += _capped(problems)
    report.warnings += _capped(warnings)


def _check_index(db: Any, db_path: Path, settings: CatalogSettings, report: CheckReport) -> None:
    n = db.conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    dim = catalog_dim(db)
    idx_path, _ = index_paths(db_path)
    if dim is None or n < settings.exact_threshold:
        report.notes.append(f"{n} vectors: searched exactly, no index file needed")
        if idx_path.exists():
            report.notes.append(f"{idx_path.name}: unused (removed by the next `index` run)")
        return
    _, revision = db_revisions(db)
    try:
        index, _meta = load_index_checked(
            db_path,
            bundle_id=get_meta(db, "bundle_id") or "",
            dim=dim,
            embeddings_revision=revision,
            settings=settings,
        )
    except IndexFileError as exc:
        report.problems.append(f"index: {exc} — rebuild it with `aislelens catalog index`")
        return
    ids = np.fromiter((r[0] for r in db.conn.execute("SELECT id FROM embeddings")), np.int64)
    labels = index.labels()
    missing, extra = np.setdiff1d(ids, labels), np.setdiff1d(labels, ids)
    if len(missing) or len(extra):
        report.problems.append(
            f"index disagrees with the embeddings table: {len(missing)} "
            f"vectors missing, {len(extra)} unknown"
        )
    else:
        report.notes.append(
            f"index: {len(labels)} vectors, matches the embeddings table "
            f"({index.deleted_count} deleted slots)"
        )


def _check_proto_graph(db: Any, db_path: Path, report: CheckReport) -> None:
    row = db.conn.execute("SELECT graph_sha256 FROM adaptation").fetchone()
    problem = graph_problem(db_path, row[0]) if row else None
    if problem:
        report.problems.append(
            f"prototype graph: {problem} — the kiosk searches exactly; "
            "`aislelens catalog index` rebuilds it"
        )
