"""Enrolling in-store photos as extra reference images (and removing enrolled shots).

Enrolled shots are what the kiosk camera sees, so they raise recall most; they are embedded by
the next ``index`` run. They get no display thumbnail (they may show shoppers).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .db import open_catalog, open_catalog_readonly, utc_now, write_lock
from .errors import CatalogError, UnknownProductError
from .imagefiles import ImageFile, read_image_file, resolve_stored, safe_file_name, stored_path
from .importfile import ImportIssue, read_image_sku_rows
from .progress import ProgressFactory, prefetch_map, start_progress
from .removed import resync_derived
from .settings import CatalogSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnrollItem:
    sku: str
    path: Path
    row: int = 0  # row of the CSV it came from; 0: not from a file (its problems name the photo)


@dataclass
class EnrollReport:
    added: int = 0  # photos that became reference images (only those)
    duplicates: int = 0  # the same photo was already a reference image of that product
    issues: list[ImportIssue] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)  # products that gained images


def read_enroll_file(path: str | os.PathLike[str]) -> tuple[list[EnrollItem], list[ImportIssue]]:
    """Items of a CSV (or JSON/JSONL) with ``image`` and ``sku`` columns; paths may be
    relative to the file. Extra columns are ignored."""
    rows, issues = read_image_sku_rows(Path(path), ("image", "path"))
    return [EnrollItem(sku, image, row) for row, image, sku in rows], issues


def enroll_files(
    db_path: str | os.PathLike[str],
    sku: str,
    paths: list[Path],
    *,
    settings: CatalogSettings | None = None,
    progress: ProgressFactory | None = None,
) -> EnrollReport:
    """Enrol image files for one product (``enroll --sku``). An unknown SKU enrols nothing and
    raises :class:`UnknownProductError`; unreadable photos are reported by their path."""
    db_path = Path(db_path)
    db = open_catalog_readonly(db_path)
    try:
        known = db.conn.execute("SELECT 1 FROM products WHERE sku = ?", [sku]).fetchone()
    finally:
        db.close()
    if known is None:
        raise UnknownProductError(f"{db_path}: no such SKU: {sku} (nothing enrolled)")
    items = [EnrollItem(sku, Path(os.path.abspath(p))) for p in paths]
    return enroll_images(db_path, items, settings=settings, progress=progress)


def enroll_images(
    db_path: str | os.PathLike[str],
    items: list[EnrollItem],
    *,
    settings: CatalogSettings | None = None,
    progress: ProgressFactory | None = None,
) -> EnrollReport:
    """Add photos to existing products (one transaction); bad photos and unknown SKUs are
    reported and skipped."""
    settings = settings or CatalogSettings()
    db_path = Path(db_path)
    report = EnrollReport()
    with write_lock(db_path):
        db = open_catalog(db_path)
        conn = db.conn
        try:
            known = dict(conn.execute("SELECT sku, id FROM products").fetchall())
            bar = start_progress(progress, len(items), "enroll")
            conn.execute("BEGIN IMMEDIATE")
            for item, result in prefetch_map(
                lambda it: read_image_file(it.path), items, workers=settings.decode_workers
            ):
                bar.update(1)
                if item.sku not in known:
                    report.issues.append(
                        ImportIssue(
                            item.row, "sku", f"unknown SKU {item.sku!r} (not in the catalog)"
                        )
                    )
                    continue
                if not isinstance(result, ImageFile):
                    report.issues.append(ImportIssue(item.row, "image", str(result)))
                    continue
                cur = conn.execute(
                    "INSERT OR IGNORE INTO images (product_id, kind, path, sha256, size, mtime_ns, "
                    "width, height, added_at) VALUES (?, 'enrolled', ?, ?, ?, ?, ?, ?, ?)",
                    [
                        known[item.sku],
                        stored_path(result.path, db_path.parent),
                        result.sha256,
                        result.size,
                        result.mtime_ns,
                        result.width,
                        result.height,
                        utc_now(),
                    ],
                )
                if cur.rowcount:
                    report.added += 1
                    report.skus.append(item.sku)
                else:
                    report.duplicates += 1
            conn.execute("COMMIT")
            bar.close()
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            db.close()
    report.skus = list(dict.fromkeys(report.skus))
    return report


def enroll_frame(
    db_path: str | os.PathLike[str],
    sku: str,
    frame: np.ndarray,
    *,
    folder: str | os.PathLike[str] | None = None,
    settings: CatalogSettings | None = None,
) -> EnrollReport:
    """Save a camera frame (8-bit BGR) as a JPEG and enrol it for ``sku`` (see
    :func:`enroll_frames`)."""
    return enroll_frames(db_path, sku, [frame], folder=folder, settings=settings)


def enroll_frames(
    db_path: str | os.PathLike[str],
    sku: str,
    frames: list[np.ndarray],
    *,
    folder: str | os.PathLike[str] | None = None,
    settings: CatalogSettings | None = None,
) -> EnrollReport:
    """Save camera frames (8-bit BGR) as JPEGs and enrol them for ``sku`` in one transaction.

    The files go to ``folder`` (default: ``enrolled/<sku>/`` beside the database), so the
    catalog folder stays self-contained; each is written to a temporary name and renamed
    into place, and the files of a failed enrolment are removed again.
    """
    db_path = Path(db_path)
    out_dir = Path(folder) if folder else enrolled_folder(db_path, sku)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = []
    try:
        for k, frame in enumerate(frames):
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise CatalogError(f"cannot encode the frame for {sku} as JPEG")
            path = out_dir / f"{stamp}-{time.perf_counter_ns() % 10**6:06d}-{k}.jpg"
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(buf.tobytes())
            os.replace(tmp, path)
            paths.append(path)
        report = enroll_images(db_path, [EnrollItem(sku, p) for p in paths], settings=settings)
    except BaseException:
        for p in paths:
            p.unlink(missing_ok=True)
        raise
    # a frame refused (too small, unknown SKU) or already enrolled (the same bytes) has no
    # row: its file goes, so every file in enrolled/ belongs to a shot the catalog lists
    db = open_catalog_readonly(db_path)
    try:
        kept = {
            resolve_stored(r[0], db_path.parent)
            for r in db.conn.execute("SELECT path FROM images WHERE kind = 'enrolled'")
        }
    finally:
        db.close()
    for p in paths:
        if p not in kept:
            p.unlink(missing_ok=True)
    return report


def enrolled_folder(db_path: str | os.PathLike[str], sku: str) -> Path:
    """Where frames enrolled for ``sku`` are kept: ``enrolled/<sku>/`` beside the database."""
    return Path(db_path).parent / "enrolled" / safe_file_name(sku)


@dataclass(frozen=True)
class EnrolledShot:
    image_id: int
    path: Path  # absolute
    added_at: str


def enrolled_shots(db_path: str | os.PathLike[str], sku: str) -> list[EnrolledShot]:
    """The in-store shots enrolled for ``sku``, oldest first (read-only)."""
    db_path = Path(db_path)
    db = open_catalog_readonly(db_path)
    try:
        rows = db.conn.execute(
            "SELECT i.id, i.path, i.added_at FROM images i JOIN products p ON p.id = i.product_id "
            "WHERE p.sku = ? AND i.kind = 'enrolled' ORDER BY i.id",
            [sku],
        ).fetchall()
    finally:
        db.close()
    return [EnrolledShot(i, resolve_stored(path, db_path.parent), at) for i, path, at in rows]


def remove_enrolled(
    db_path: str | os.PathLike[str],
    image_ids: list[int],
    *,
    settings: CatalogSettings | None = None,
) -> int:
    """Delete enrolled shots (their rows and vectors; their files when they lie in the
    catalog's ``enrolled/`` folder), then bring the index and the adaptation in step.
    Returns how many were removed; catalog photos are never removed this way."""
    settings = settings or CatalogSettings()
    db_path = Path(db_path)
    own = (db_path.parent / "enrolled").resolve()
    removed = 0
    with write_lock(db_path):
        db = open_catalog(db_path)
        try:
            files = []
            with db.atomic():
                for image_id in dict.fromkeys(image_ids):
                    row = db.conn.execute(
                        "SELECT path FROM images WHERE id = ? AND kind = 'enrolled'", [image_id]
                    ).fetchone()
                    if row is None:
                        continue
                    db.conn.execute("DELETE FROM images WHERE id = ?", [image_id])
                    removed += 1
                    path = resolve_stored(row[0], db_path.parent).resolve()
                    if path.is_relative_to(own):
                        files.append(path)
            for path in files:  # after the commit: a crash leaves a stray file, never a row
                path.unlink(missing_ok=True)
            if removed:
                resync_derived(db, db_path, settings)
        finally:
            db.close()
    return removed
