"""Writing a product file into the catalog: upsert by SKU, all or nothing per SKU.

Every catalog image is decoded (on a thread pool) before anything of its product is written, so
a missing or corrupt image rejects that product and leaves the rest of the import intact. The
whole import is one transaction: interrupted, it leaves the catalog as it was; ``dry_run`` runs
everything and rolls back.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from .consistency import missing_related, shared_photos
from .db import new_memory_catalog, open_catalog, revisions, utc_now, write_lock
from .errors import CatalogError, InputFileError
from .imagefiles import ImageFile, read_image_file, stored_path
from .importfile import (
    PRODUCT_COLUMNS,
    SCALAR_FIELDS,
    ImportIssue,
    ParsedFile,
    ProductRecord,
    parse_product_file,
)
from .index_store import sync_index
from .progress import ProgressFactory, prefetch_map, start_progress
from .removed import move_to_removed, purge_expired, resync_derived
from .settings import CatalogSettings

log = logging.getLogger(__name__)

PRODUCT_DEFAULTS: dict[str, Any] = {
    "name": "",
    "price": None,
    "currency": "EUR",
    "category": "",
    "subcategory": "",
    "aisle": "",
    "description": "",
    "in_stock": True,
}


@dataclass
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    file: str
    rows: int
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # SKUs not written
    issues: list[ImportIssue] = field(default_factory=list)
    images_added: int = 0
    images_removed: int = 0
    without_images: list[str] = field(default_factory=list)  # imported, but not findable by photo
    #: odd but imported: a price of 0, a "goes well with" SKU not in the catalog, a photo
    #: another product has too (they do not make the import fail)
    warnings: list[ImportIssue] = field(default_factory=list)
    sync: bool = False
    #: with ``sync``: the products the file does not name, taken out (kept for restore)
    removed: list[str] = field(default_factory=list)
    #: with ``sync``: why nothing was taken out ("" when the sync ran)
    sync_skipped: str = ""

    @property
    def ok(self) -> bool:
        return not self.issues

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "rows": self.rows,
            "dry_run": self.dry_run,
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "rejected": self.rejected,
            "images_added": self.images_added,
            "images_removed": self.images_removed,
            "without_images": self.without_images,
            "issues": [_issue_dict(i) for i in self.issues],
            "warnings": [_issue_dict(i) for i in self.warnings],
            "sync": self.sync,
            "removed": self.removed,
            "sync_skipped": self.sync_skipped,
        }


def _issue_dict(issue: ImportIssue) -> dict[str, Any]:
    return {"row": issue.row, "column": issue.column, "reason": issue.reason}


class Outcome(enum.Enum):
    """What became of one product of the file (the report list it goes in)."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


def import_products(
    db_path: str | os.PathLike[str],
    file: str | os.PathLike[str],
    *,
    dry_run: bool = False,
    sync: bool = False,
    settings: CatalogSettings | None = None,
    progress: ProgressFactory | None = None,
) -> ImportReport:
    """Upsert the products of a CSV, JSON or JSONL file into the catalog (created if needed).

    Valid SKUs are written, invalid ones are listed in ``report.issues`` with row, column and
    reason; ``report.warnings`` lists what is odd but imported. ``sync``: products the file does
    not name are removed (kept ``settings.removed_keep_days`` days for ``restore_products``);
    rejected rows still name their SKU, and when a row's SKU cannot be read at all nothing is
    removed. Raises :class:`InputFileError` only when the file as a whole is unreadable.
    """
    settings = settings or CatalogSettings()
    parsed = parse_product_file(Path(file))
    report = ImportReport(
        str(file),
        parsed.rows,
        dry_run=dry_run,
        issues=list(parsed.issues),
        rejected=list(parsed.rejected),
        warnings=list(parsed.warnings),
        sync=sync,
    )
    db_path = Path(db_path)
    memory = dry_run and not db_path.exists()
    if not memory:
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)  # import makes a new catalog
        except OSError as exc:
            raise CatalogError(f"{db_path}: cannot create its folder ({exc.strerror})") from None
    with nullcontext() if memory else write_lock(db_path):
        db = new_memory_catalog() if memory else open_catalog(db_path, create=True)
        try:
            _, emb_before = revisions(db)
            _apply(db, db_path.parent, parsed, report, settings, progress)
            if not dry_run:
                if report.removed:  # their vectors leave the index and the adaptation
                    resync_derived(db, db_path, settings)
                elif revisions(db)[1] != emb_before:  # images replaced: drop their vectors
                    sync_index(db, db_path, settings)
                purge_expired(db, db_path, settings)
        finally:
            db.close()
    report.issues.sort(key=lambda i: i.row)
    report.warnings.sort(key=lambda i: i.row)
    return report


def _read_images(
    records: list[ProductRecord], settings: CatalogSettings
) -> Iterator[tuple[ProductRecord, list[ImageFile | tuple[int, str]]]]:
    """Yield (record, [ImageFile | (row, reason)]) with images decoded ahead on a thread pool."""
    jobs = [(rec, row, path) for rec in records for row, path in (rec.images or [])]

    def read(job: tuple[ProductRecord, int, Path]) -> ImageFile:
        return read_image_file(
            job[2], thumbnail_size=settings.thumbnail_size, quality=settings.thumbnail_quality
        )

    job_iter = prefetch_map(read, jobs, workers=settings.decode_workers, ahead=64)
    for rec in records:
        current: list[ImageFile | tuple[int, str]] = []
        for _ in rec.images or []:
            (_, row, _path), result = next(job_iter)
            current.append((row, str(result)) if isinstance(result, Exception) else result)
        yield rec, current


def _apply(
    db: Database,
    db_dir: Path,
    parsed: ParsedFile,
    report: ImportReport,
    settings: CatalogSettings,
    progress: ProgressFactory | None,
) -> None:
    records = list(parsed.records.values())
    bar = start_progress(progress, len(records), "import")
    conn = db.conn
    photos: dict[str, list[tuple[int, str]]] = {}  # SKU -> (row, sha256) of its file's images
    conn.execute("BEGIN IMMEDIATE")
    try:
        for rec, images in _read_images(records, settings):
            bar.update(1)
            failed = [img for img in images if isinstance(img, tuple)]
            good = [img for img in images if isinstance(img, ImageFile)]
            if failed:
                for row, reason in failed:
                    report.issues.append(ImportIssue(row, "image", reason, rec.sku))
                report.rejected.append(rec.sku)
                continue
            conn.execute("SAVEPOINT sku")
            try:
                outcome = _write_product(db, db_dir, rec, good, report)
            except sqlite3.IntegrityError as exc:
                conn.execute("ROLLBACK TO sku")
                report.issues.append(ImportIssue(rec.rows[0], "", f"rejected: {exc}", rec.sku))
                outcome = Outcome.REJECTED
            conn.execute("RELEASE sku")
            if outcome is Outcome.REJECTED:
                report.rejected.append(rec.sku)
                continue
            getattr(report, outcome.value).append(rec.sku)
            rows = [row for row, _ in rec.images or []]
            photos[rec.sku] = [(row, img.sha256) for row, img in zip(rows, good, strict=True)]
        if report.sync:
            _sync_removals(db, parsed, report)
        touched = report.created + report.updated + report.unchanged
        for start in range(0, len(touched), 500):
            chunk = touched[start : start + 500]
            marks = ",".join("?" * len(chunk))
            report.without_images += [
                r[0]
                for r in conn.execute(
                    f"SELECT sku FROM products p WHERE sku IN ({marks}) AND NOT EXISTS "
                    "(SELECT 1 FROM images i WHERE i.product_id = p.id)",
                    chunk,
                )
            ]
        _warn_between_products(db, parsed, photos, touched, report)
        conn.execute("ROLLBACK" if report.dry_run else "COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        bar.close()


def _sync_removals(db: Database, parsed: ParsedFile, report: ImportReport) -> None:
    """``import --sync``: take out the products the file does not name."""
    if parsed.unread_rows:
        rows = ", ".join(map(str, parsed.unread_rows[:10]))
        report.sync_skipped = (
            f"nothing removed: the SKU of row{'s' if len(parsed.unread_rows) > 1 else ''} "
            f"{rows} could not be read, so the file may name products it cannot show"
        )
        return
    if not parsed.listed:
        raise InputFileError(
            f"{report.file}: names no product, so --sync would empty the catalog "
            "(nothing changed; to remove products, use `aislelens catalog remove`)"
        )
    gone = [
        sku
        for (sku,) in db.conn.execute("SELECT sku FROM products ORDER BY id")
        if sku not in parsed.listed
    ]
    move_to_removed(db, gone, reason=f"import --sync {Path(report.file).name}")
    report.removed = gone


def _warn_between_products(
    db: Database,
    parsed: ParsedFile,
    photos: dict[str, list[tuple[int, str]]],
    touched: list[str],
    report: ImportReport,
) -> None:
    """Warnings about the file's products that only the whole catalog shows."""
    for m in missing_related(db, touched):
        report.warnings.append(
            ImportIssue(
                parsed.records[m.sku].rows[0],
                "related",
                f"SKU {m.sku} goes well with {m.related!r}, which is not in the catalog "
                "(the kiosk leaves it out)",
                m.sku,
            )
        )
    shared = {s.sha256: s.skus for s in shared_photos(db)}
    for sku, images in photos.items():
        for row, sha in images:
            others = [o for o in shared.get(sha, []) if o != sku]
            if others:
                report.warnings.append(
                    ImportIssue(
                        row,
                        "image",
                        f"SKU {sku} has the same photo (identical bytes) as SKU "
                        f"{', '.join(others)}: the kiosk cannot tell them apart by it (it shows "
                        "them all as candidates); give each product its own photo",
                        sku,
                    )
                )


def _write_product(
    db: Database,
    db_dir: Path,
    rec: ProductRecord,
    images: list[ImageFile],
    report: ImportReport,
) -> Outcome:
    """Upsert one product and its catalog images; returns the report list it belongs in."""
    conn = db.conn
    row = conn.execute(
        "SELECT id, name, price, currency, category, subcategory, aisle, description, in_stock, "
        "attributes, related FROM products WHERE sku = ?",
        [rec.sku],
    ).fetchone()
    if row is None:
        if not rec.fields.get("name"):
            report.issues.append(
                ImportIssue(rec.rows[0], "name", "missing name for a new product", rec.sku)
            )
            return Outcome.REJECTED
        values = {**PRODUCT_DEFAULTS, **rec.fields}
        attributes, related = rec.attributes, rec.related or []
    else:
        old = dict(
            zip(
                SCALAR_FIELDS,
                row[1:9],
                strict=True,
            )
        )
        old["in_stock"] = bool(old["in_stock"])
        values = {**old, **rec.fields}
        attributes = {**json.loads(row[9]), **rec.attributes}
        related = rec.related if rec.related is not None else json.loads(row[10])
    columns = {
        **values,
        "in_stock": int(values["in_stock"]),
        "attributes": json.dumps(attributes, ensure_ascii=False, sort_keys=True),
        "related": json.dumps(related, ensure_ascii=False),
    }
    changed = row is None or any(
        columns[k] != (int(row[i + 1]) if k == "in_stock" else row[i + 1])
        for i, k in enumerate(PRODUCT_COLUMNS)
    )
    if row is None:
        product_id = conn.execute(
            "INSERT INTO products (sku, name, price, currency, category, subcategory, aisle, "
            "description, in_stock, attributes, related, updated_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                rec.sku,
                *(columns[k] for k in PRODUCT_COLUMNS),
                utc_now(),
            ],
        ).lastrowid
    else:
        product_id = row[0]
        if changed:
            conn.execute(
                "UPDATE products SET name=?, price=?, currency=?, category=?, subcategory=?, "
                "aisle=?, description=?, in_stock=?, attributes=?, related=?, updated_at=? "
                "WHERE id=?",
                [
                    *(columns[k] for k in PRODUCT_COLUMNS),
                    utc_now(),
                    product_id,
                ],
            )
    images_changed = False
    if rec.images is not None:
        images_changed = _sync_catalog_images(db, db_dir, int(product_id or 0), images, report)
    if row is None:
        return Outcome.CREATED
    return Outcome.UPDATED if changed or images_changed else Outcome.UNCHANGED


def _sync_catalog_images(
    db: Database, db_dir: Path, product_id: int, images: list[ImageFile], report: ImportReport
) -> bool:
    """Make the product's catalog images exactly ``images`` (enrolled shots are kept)."""
    conn = db.conn
    wanted = {img.sha256: img for img in images}  # the same picture listed twice counts once
    have = {
        sha: (image_id, kind, path)
        for image_id, sha, kind, path in conn.execute(
            "SELECT id, sha256, kind, path FROM images WHERE product_id = ?", [product_id]
        )
    }
    changed = False
    for sha, (image_id, kind, _path) in have.items():
        if kind == "catalog" and sha not in wanted:
            conn.execute("DELETE FROM images WHERE id = ?", [image_id])
            report.images_removed += 1
            changed = True
    for sha, img in wanted.items():
        path = stored_path(img.path, db_dir)
        if sha in have:
            image_id, kind, old_path = have[sha]
            if kind != "catalog" or old_path != path:
                conn.execute(
                    "UPDATE images SET kind='catalog', path=?, size=?, mtime_ns=? WHERE id=?",
                    [path, img.size, img.mtime_ns, image_id],
                )
                changed = True
        else:
            image_id = conn.execute(
                "INSERT INTO images (product_id, kind, path, sha256, size, mtime_ns, width, "
                "height, added_at) VALUES (?, 'catalog', ?, ?, ?, ?, ?, ?, ?)",
                [product_id, path, sha, img.size, img.mtime_ns, img.width, img.height, utc_now()],
            ).lastrowid
            report.images_added += 1
            changed = True
        if img.thumbnail is not None:
            t = img.thumbnail
            conn.execute(
                "INSERT INTO thumbnails (image_id, format, width, height, data) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (image_id) DO UPDATE SET "
                "format=excluded.format, width=excluded.width, height=excluded.height, "
                "data=excluded.data",
                [image_id, t.format, t.width, t.height, t.data],
            )
    return changed
