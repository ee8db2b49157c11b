"""Removing products, keeping them for a while, and bringing them back (``catalog restore``).

A removed product leaves the tables the kiosk searches (products, images, thumbnails,
embeddings, synthetic views; its prototype goes with its row) and is copied, in the same
transaction, into ``removed_products`` and ``removed_images`` (migration m005). It is kept
``settings.removed_keep_days`` days; the first write after that (import, remove, restore,
index) purges it, with the files of its enrolled shots that lie in the catalog's ``enrolled/``
folder. :func:`restore_products` puts it back: its rows, its thumbnails and, when they were
made by the catalog's bundle, its vectors and views, so the kiosk finds it again at once;
vectors of another bundle are left out and the next ``index`` embeds those photos again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from .adapter import refit_adaptation
from .db import get_meta, open_catalog, open_catalog_readonly, reading, utc_now, write_lock
from .errors import ProductExistsError, UnknownProductError
from .imagefiles import resolve_stored
from .importfile import PRODUCT_COLUMNS
from .index_store import IndexSyncReport, catalog_dim, sync_index
from .progress import ProgressFactory
from .settings import CatalogSettings

#: the products columns a removed product keeps (all but its id)
_PRODUCT = ("sku", *PRODUCT_COLUMNS, "updated_at")
_IMAGE = ("kind", "path", "sha256", "size", "mtime_ns", "width", "height", "error", "added_at")
#: (table, alias, its columns, their prefix in removed_images): what an image takes along
_PARTS = (
    ("thumbnails", "t", ("format", "width", "height", "data"), "thumb_"),
    ("embeddings", "e", ("bundle_id", "sha256", "dim", "vector", "crc", "created_at"), "emb_"),
    ("view_embeddings", "v", ("bundle_id", "sha256", "n", "dim", "vectors", "crc"), "views_"),
)


@dataclass
class RemoveReport:
    """What :func:`remove_products` did (or, with ``dry_run``, would do)."""

    removed: list[str]
    images: int
    index: IndexSyncReport | None = None
    dry_run: bool = False
    #: products that still name a removed one as "goes well with"
    still_related: list[str] = field(default_factory=list)
    keep_until: str = ""  # when the removed products are purged (ISO 8601, UTC)


@dataclass(frozen=True)
class RemovedProduct:
    """A removed product that :func:`restore_products` can still bring back."""

    sku: str
    name: str
    category: str
    removed_at: str  # ISO 8601, UTC
    keep_until: str  # purged by the first write after this
    reason: str  # "remove", or "import --sync FILE"
    catalog_photos: int
    enrolled_shots: int
    vectors: int  # stored vectors kept with it
    in_catalog: bool = False  # a product of this SKU is in the catalog again


@dataclass
class RestoreReport:
    """What :func:`restore_products` did."""

    restored: list[str]
    images: int
    vectors: int  # vectors put back: those photos are findable at once
    to_embed: int  # photos without a usable vector: findable after the next ``index``
    index: IndexSyncReport | None = None


def _cutoff(settings: CatalogSettings, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return (now - timedelta(days=settings.removed_keep_days)).isoformat(timespec="seconds")


def keep_until(removed_at: str, settings: CatalogSettings) -> str:
    """When a product removed at ``removed_at`` is purged."""
    at = datetime.fromisoformat(removed_at) + timedelta(days=settings.removed_keep_days)
    return at.isoformat(timespec="seconds")


def move_to_removed(db: Database, skus: Iterable[str], *, reason: str) -> int:
    """Take products out of the catalog into the removed tables, inside the caller's
    transaction; returns how many images went with them. A SKU removed before (and imported
    again) keeps its older removed copy too, until that one expires: `restore` brings back the
    newest."""
    conn, now, images = db.conn, utc_now(), 0
    columns = ", ".join(_PRODUCT)
    parts = [(a, c, prefix) for _, a, cols, prefix in _PARTS for c in cols]
    into = ", ".join([*_IMAGE, *(prefix + c for _, c, prefix in parts)])
    select = ", ".join([*(f"i.{c}" for c in _IMAGE), *(f"{a}.{c}" for a, c, _ in parts)])
    joins = " ".join(f"LEFT JOIN {t} {a} ON {a}.image_id = i.id" for t, a, _, _ in _PARTS)
    for sku in skus:
        removed_id = conn.execute(
            f"INSERT INTO removed_products (removed_at, reason, {columns}) "
            f"SELECT ?, ?, {columns} FROM products WHERE sku = ?",
            [now, reason, sku],
        ).lastrowid
        images += conn.execute(
            f"INSERT INTO removed_images (removed_id, {into}) SELECT ?, {select} "
            f"FROM images i JOIN products p ON p.id = i.product_id {joins} "
            "WHERE p.sku = ? ORDER BY i.id",
            [removed_id, sku],
        ).rowcount
        conn.execute("DELETE FROM products WHERE sku = ?", [sku])
    return images


def resync_derived(
    db: Database,
    db_path: Path,
    settings: CatalogSettings,
    progress: ProgressFactory | None = None,
) -> IndexSyncReport:
    """After products or photos were taken out or put back: the index file and the store
    adaptation in step with the embeddings (a refit on the stored views: no model needed)."""
    index = sync_index(db, db_path, settings, progress=progress)
    bundle_id, dim = get_meta(db, "bundle_id"), catalog_dim(db)
    if bundle_id and dim:
        refit_adaptation(db, db_path, settings, bundle_id=bundle_id, dim=dim)
    return index


def still_related(db: Database, skus: list[str]) -> list[str]:
    """Products, other than ``skus``, whose "goes well with" list names one of ``skus``."""
    gone = set(skus)
    out = []
    for sku, related in db.conn.execute("SELECT sku, related FROM products ORDER BY id"):
        if sku not in gone and gone.intersection(_json_list(related)):
            out.append(sku)
    return out


def _json_list(text: str | None) -> list[str]:
    value = json.loads(text or "[]")
    return [str(v) for v in value] if isinstance(value, list) else []


def purge_expired(
    db: Database, db_path: Path, settings: CatalogSettings, *, now: datetime | None = None
) -> list[str]:
    """Forget removed products kept longer than ``settings.removed_keep_days`` (and delete the
    files of their enrolled shots that lie in the catalog's ``enrolled/`` folder); returns
    their SKUs. The caller holds the write lock."""
    conn = db.conn
    rows = conn.execute(
        "SELECT id, sku FROM removed_products WHERE removed_at < ?", [_cutoff(settings, now)]
    ).fetchall()
    if not rows:
        return []
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    shots = [
        r[0]
        for r in conn.execute(
            f"SELECT path FROM removed_images WHERE kind = 'enrolled' AND removed_id IN ({marks})",
            ids,
        )
    ]
    with db.atomic():
        conn.execute(f"DELETE FROM removed_products WHERE id IN ({marks})", ids)
    own = (db_path.parent / "enrolled").resolve()
    for stored in shots:  # after the commit: a crash leaves a stray file, never a row
        if conn.execute(
            "SELECT 1 FROM images WHERE path = ? UNION ALL "
            "SELECT 1 FROM removed_images WHERE path = ?",
            [stored, stored],
        ).fetchone():
            continue  # the same file is another shot still kept
        path = resolve_stored(stored, db_path.parent).resolve()
        if path.is_relative_to(own):
            path.unlink(missing_ok=True)
    return [r[1] for r in rows]


def remove_products(
    db_path: str | os.PathLike[str],
    skus: list[str],
    *,
    dry_run: bool = False,
    settings: CatalogSettings | None = None,
) -> RemoveReport:
    """Take products out of the catalog with their images, vectors and thumbnails, keeping them
    ``settings.removed_keep_days`` days for :func:`restore_products`. The index marks their
    vectors deleted (or is rebuilt once too much of it is). An unknown SKU removes nothing
    (:class:`UnknownProductError`); ``dry_run`` only reports what would go."""
    settings = settings or CatalogSettings()
    db_path = Path(db_path)
    skus = list(dict.fromkeys(skus))
    if not skus:
        return RemoveReport([], 0, dry_run=dry_run)
    with write_lock(db_path):
        db = open_catalog(db_path)
        try:
            marks = ",".join("?" * len(skus))
            counts = dict(
                db.conn.execute(
                    f"SELECT p.sku, count(i.id) FROM products p LEFT JOIN images i "
                    f"ON i.product_id = p.id WHERE p.sku IN ({marks}) GROUP BY p.sku",
                    skus,
                ).fetchall()
            )
            missing = [s for s in skus if s not in counts]
            if missing:
                raise UnknownProductError(
                    f"{db_path}: no such SKU: {', '.join(missing)} (nothing removed)"
                )
            report = RemoveReport(
                skus,
                sum(counts.values()),
                dry_run=dry_run,
                still_related=still_related(db, skus),
                keep_until=keep_until(utc_now(), settings),
            )
            if dry_run:
                return report
            with db.atomic():
                move_to_removed(db, skus, reason="remove")
            report.index = resync_derived(db, db_path, settings)
            purge_expired(db, db_path, settings)
        finally:
            db.close()
    return report


def list_removed(
    db_path: str | os.PathLike[str], settings: CatalogSettings | None = None
) -> list[RemovedProduct]:
    """The removed products that can still be restored, most recently removed first."""
    settings = settings or CatalogSettings()
    db = open_catalog_readonly(db_path)
    try:
        with reading(db_path):
            if not db["removed_products"].exists():  # a catalog from before m005
                return []
            rows = db.conn.execute(
                "SELECT r.sku, r.name, r.category, r.removed_at, r.reason, "
                "count(CASE WHEN i.kind = 'catalog' THEN 1 END), "
                "count(CASE WHEN i.kind = 'enrolled' THEN 1 END), count(i.emb_vector), "
                "EXISTS (SELECT 1 FROM products p WHERE p.sku = r.sku) "
                "FROM removed_products r LEFT JOIN removed_images i ON i.removed_id = r.id "
                "WHERE r.removed_at >= ? GROUP BY r.id ORDER BY r.removed_at DESC, r.sku",
                [_cutoff(settings)],
            ).fetchall()
    finally:
        db.close()
    return [
        RemovedProduct(
            sku, name, cat, at, keep_until(at, settings), why, photos, shots, vectors, bool(back)
        )
        for sku, name, cat, at, why, photos, shots, vectors, back in rows
    ]


def restore_products(
    db_path: str | os.PathLike[str],
    skus: list[str],
    *,
    settings: CatalogSettings | None = None,
    progress: ProgressFactory | None = None,
    replace: bool = False,
) -> RestoreReport:
    """Bring removed products back as they were (rows, photos, thumbnails, enrolled shots, and
    the vectors of the catalog's bundle; the newest removed copy of each SKU), then bring the
    index and the adaptation in step.

    All or nothing: a SKU that is not among the restorable products raises
    :class:`UnknownProductError`, one that is in the catalog again :class:`ProductExistsError`
    unless ``replace``: then the product in the catalog is removed (kept, restorable) and the
    removed one put back in its place.
    """
    settings = settings or CatalogSettings()
    db_path = Path(db_path)
    skus = list(dict.fromkeys(skus))
    report = RestoreReport([], 0, 0, 0)
    if not skus:
        return report
    with write_lock(db_path):
        db = open_catalog(db_path)
        try:
            purge_expired(db, db_path, settings)  # what has expired is no longer restorable
            marks = ",".join("?" * len(skus))
            kept = dict(
                db.conn.execute(
                    f"SELECT sku, max(id) FROM removed_products WHERE sku IN ({marks}) "
                    "GROUP BY sku",
                    skus,
                ).fetchall()
            )
            missing = [s for s in skus if s not in kept]
            if missing:
                raise UnknownProductError(
                    f"{db_path}: not among the removed products: {', '.join(missing)} "
                    "(nothing restored; `aislelens catalog restore --list` shows them)"
                )
            back = [
                r[0]
                for r in db.conn.execute(f"SELECT sku FROM products WHERE sku IN ({marks})", skus)
            ]
            if back and not replace:
                raise ProductExistsError(
                    f"{db_path}: in the catalog again: {', '.join(back)} (nothing restored; "
                    "`restore --replace` puts the removed one back in its place and keeps the "
                    "current one as removed)"
                )
            with db.atomic():
                if back:
                    move_to_removed(db, back, reason="replaced by restore")
                for sku in skus:
                    _restore_one(db, kept[sku], report)
                    report.restored.append(sku)
            report.index = resync_derived(db, db_path, settings, progress)
        finally:
            db.close()
    return report


def _restore_one(db: Database, removed_id: int, report: RestoreReport) -> None:
    conn = db.conn
    columns = ", ".join(_PRODUCT)
    product_id = conn.execute(
        f"INSERT INTO products ({columns}) SELECT {columns} FROM removed_products WHERE id = ?",
        [removed_id],
    ).lastrowid
    bundle_id, dim = get_meta(db, "bundle_id"), catalog_dim(db)
    image_columns = ", ".join(_IMAGE)
    for (image_row,) in conn.execute(
        "SELECT id FROM removed_images WHERE removed_id = ? ORDER BY id", [removed_id]
    ).fetchall():
        image_id = conn.execute(
            f"INSERT INTO images (product_id, {image_columns}) "
            f"SELECT ?, {image_columns} FROM removed_images WHERE id = ?",
            [product_id, image_row],
        ).lastrowid
        report.images += 1
        emb_bundle, emb_dim, has_thumb, views_bundle = conn.execute(
            "SELECT emb_bundle_id, emb_dim, thumb_data IS NOT NULL, views_bundle_id "
            "FROM removed_images WHERE id = ?",
            [image_row],
        ).fetchone()
        # a vector of another bundle (the catalog was re-indexed meanwhile) is left out: the
        # next `index` embeds the photo again
        usable = emb_bundle is not None and emb_bundle == bundle_id and emb_dim == (dim or emb_dim)
        wanted = {
            "thumbnails": bool(has_thumb),
            "embeddings": usable,
            "view_embeddings": usable and views_bundle == bundle_id,
        }
        for table, _, cols, prefix in _PARTS:
            if wanted[table]:
                conn.execute(
                    f"INSERT INTO {table} (image_id, {', '.join(cols)}) SELECT ?, "
                    f"{', '.join(prefix + c for c in cols)} FROM removed_images WHERE id = ?",
                    [image_id, image_row],
                )
        if usable:
            report.vectors += 1
        else:
            report.to_embed += 1
    conn.execute("DELETE FROM removed_products WHERE id = ?", [removed_id])
