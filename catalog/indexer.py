"""``index_catalog``: embed new and changed reference images, then bring the index in step.

Images are embedded in chunks (``settings.commit_every``), each committed in its own
transaction, so a run killed at any point keeps everything embedded so far and a rerun carries
on. An image is re-embedded only when its content hash changed; the hash is recomputed only when
the file's size or modification time changed. Images that cannot be decoded are recorded with
the reason and skipped until their file changes. A caller may also stop a run (``should_stop``):
it ends after the batch in hand, like an interrupted run, keeping every chunk committed so far.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from models import ImageEmbedder

from .adapter import AdaptReport, refit_adaptation
from .db import get_meta, open_catalog, set_meta, utc_now, write_lock
from .errors import BundleMismatchError
from .imagefiles import file_signature, resolve_stored, sha256_file
from .index_store import IndexSyncReport, sync_index
from .progress import ProgressBar, ProgressFactory, start_progress, ticker
from .removed import purge_expired
from .settings import CatalogSettings
from .vectorcheck import drop_damaged, find_damaged, vector_crc

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """What ``index_catalog`` did."""

    bundle_id: str
    images: int  # reference images in the catalog
    embedded: int = 0  # embedded in this run
    up_to_date: int = 0  # already had a current embedding
    damaged: list[str] = field(default_factory=list)  # damaged stored vectors, dropped and redone
    failed: list[tuple[str, str]] = field(default_factory=list)  # (sku, reason)
    kept_missing: list[tuple[str, str]] = field(default_factory=list)  # file gone, vector kept
    embed_seconds: float = 0.0
    index: IndexSyncReport | None = None
    adaptation: AdaptReport | None = None
    #: stopped by ``should_stop``: ``embedded`` photos are kept, the index and the store
    #: adaptation were left as they were (the next run brings them up to date)
    cancelled: bool = False

    @property
    def images_per_s(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0


class _Stopped(Exception):
    """``should_stop()`` turned true while a chunk was being embedded."""


@dataclass
class _Todo:
    image_id: int
    sku: str
    path: Path
    sha256: str


def check_bundle(db: Database, db_path: str | os.PathLike[str], model_id: str) -> None:
    """Refuse to mix vectors of two bundles in one catalog."""
    current = get_meta(db, "bundle_id")
    count = db.conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    if current and current != model_id and count:
        raise BundleMismatchError(
            f"{db_path}: its {count} vectors were made by {current}, not {model_id}; "
            "the catalog never mixes bundles. Re-embed every image with the new bundle: "
            f"aislelens catalog index --db {db_path} --bundle … --rebuild"
        )


def _switch_bundle(db: Database, embedder: ImageEmbedder, bundle_ref: str) -> None:
    with db.atomic():
        current = get_meta(db, "bundle_id")
        if current != embedder.model_id:
            deleted = db.conn.execute("DELETE FROM embeddings").rowcount
            db.conn.execute("UPDATE images SET error = NULL")
            if current:
                log.warning(
                    "switching bundle %s -> %s: %d vectors dropped, re-embedding all",
                    current,
                    embedder.model_id,
                    deleted,
                )
        set_meta(db, "bundle_id", embedder.model_id)
        set_meta(db, "bundle_ref", bundle_ref)
        set_meta(db, "bundle_precision", embedder.precision)


def _switch_preprocessing(db: Database, settings: CatalogSettings, rebuild: bool) -> bool:
    """Whether this catalog's photos go through the fast preprocessing (True) or the exact one.

    A catalog keeps the preprocessing its vectors were made with (recorded in meta; one with
    vectors and no record was indexed before the fast path existed: exact), so that new photos
    are embedded as the old ones were; ``settings.fast_preprocess`` applies to a catalog
    without vectors yet, and with ``rebuild``, which re-embeds every photo and view when the
    preprocessing changes."""
    wanted = "fast" if settings.fast_preprocess else "exact"
    with db.atomic():
        vectors = db.conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        current = (get_meta(db, "preprocess") or "exact") if vectors else None
        if current is not None and current != wanted:
            if not rebuild:
                log.info(
                    "this catalog's photos are preprocessed the %s way (as its vectors were "
                    "made); `catalog index --rebuild` re-embeds them the %s way",
                    current,
                    wanted,
                )
                set_meta(db, "preprocess", current)
                return current == "fast"
            db.conn.execute("DELETE FROM embeddings")
            db.conn.execute("DELETE FROM view_embeddings")
            db.conn.execute("UPDATE images SET error = NULL")
            log.warning(
                "preprocessing %s -> %s: %d vectors dropped, re-embedding all",
                current,
                wanted,
                vectors,
            )
        set_meta(db, "preprocess", wanted)
    return settings.fast_preprocess


def _scan(db: Database, db_dir: Path, report: IndexReport) -> list[_Todo]:
    """Images that need an embedding; refresh changed content hashes on the way."""
    rows = db.conn.execute(
        "SELECT i.id, p.sku, i.path, i.sha256, i.size, i.mtime_ns, i.error, e.sha256 "
        "FROM images i JOIN products p ON p.id = i.product_id "
        "LEFT JOIN embeddings e ON e.image_id = i.id ORDER BY i.id"
    ).fetchall()
    report.images = len(rows)
    todo: list[_Todo] = []
    updates: list[tuple[str, int, int, int]] = []
    for image_id, sku, stored, sha, size, mtime_ns, error, emb_sha in rows:
        path = resolve_stored(stored, db_dir)
        try:
            signature = file_signature(path)
            if signature != (size, mtime_ns):
                new_sha = sha256_file(path)
                updates.append((new_sha, signature[0], signature[1], image_id))
                if new_sha != sha:
                    error = None
                sha = new_sha
        except OSError:
            if emb_sha is not None:
                report.kept_missing.append((sku, f"{stored}: file missing, stored vector kept"))
                report.up_to_date += 1
            else:
                report.failed.append((sku, f"{stored}: no such file"))
            continue
        if emb_sha == sha:
            report.up_to_date += 1
        elif error:
            report.failed.append((sku, error))
        else:
            todo.append(_Todo(image_id, sku, path, sha))
    if updates:
        with db.atomic():
            for sha, size, mtime_ns, image_id in updates:
                try:
                    db.conn.execute(
                        "UPDATE images SET sha256=?, size=?, mtime_ns=?, error=NULL WHERE id=?",
                        [sha, size, mtime_ns, image_id],
                    )
                except (
                    sqlite3.IntegrityError
                ):  # same content as another image of the product: drop it
                    db.conn.execute("DELETE FROM images WHERE id=?", [image_id])
    return todo


def _store_chunk(
    db: Database,
    embedder: ImageEmbedder,
    chunk: list[_Todo],
    report: IndexReport,
    settings: CatalogSettings,
    bar: ProgressBar,
    should_stop: Callable[[], bool] | None,
) -> None:
    tick = ticker(bar)
    done = 0

    def tick_or_stop(n: int) -> None:
        nonlocal done
        tick(n)
        done += n
        if done < len(chunk) and should_stop is not None and should_stop():
            raise _Stopped  # the chunk in hand is dropped: nothing of it was written yet

    result = embedder.embed_files(
        [str(t.path) for t in chunk],
        batch_size=settings.batch_size,
        workers=settings.decode_workers,
        progress=tick_or_stop,
        fast=settings.fast_preprocess,
    )
    now = utc_now()
    with db.atomic():
        for vector, i in zip(result.vectors, result.ok, strict=True):
            t = chunk[i]
            blob = np.ascontiguousarray(vector, dtype=np.float32).tobytes()
            db.conn.execute("DELETE FROM embeddings WHERE image_id = ?", [t.image_id])
            db.conn.execute(
                "INSERT INTO embeddings (image_id, bundle_id, sha256, dim, vector, crc, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    t.image_id,
                    embedder.model_id,
                    t.sha256,
                    embedder.dim,
                    blob,
                    vector_crc(blob),
                    now,
                ],
            )
            db.conn.execute("UPDATE images SET error = NULL WHERE id = ?", [t.image_id])
        for i, reason in result.failed:
            db.conn.execute("UPDATE images SET error = ? WHERE id = ?", [reason, chunk[i].image_id])
            report.failed.append((chunk[i].sku, reason))
    report.embedded += len(result.ok)


def index_catalog(
    db_path: str | os.PathLike[str],
    embedder: ImageEmbedder,
    *,
    rebuild: bool = False,
    settings: CatalogSettings | None = None,
    progress: ProgressFactory | None = None,
    bundle_ref: str | None = None,
    verify: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> IndexReport:
    """Embed what is new or changed with ``embedder``, then update or rebuild the index.

    ``rebuild``: rebuild the index from scratch, and allow switching to a different bundle
    (which re-embeds every image). Without it, a catalog made by another bundle raises
    :class:`BundleMismatchError`. ``bundle_ref`` is how to reopen the bundle later (its name or
    path; default: what the catalog already records for this bundle, else the bundle's name).
    ``verify``: first look for stored vectors damaged on disk and redo them (reads them all;
    the kiosk's own quick re-index after teaching a product skips it).
    ``should_stop``: asked after every embedded batch; once it returns True the run stops
    with ``report.cancelled`` set, keeping the chunks already committed (``report.embedded``)
    and leaving the index and the store adaptation for the next run.
    """
    settings = settings or CatalogSettings()
    db_path = Path(db_path)
    with write_lock(db_path):
        db = open_catalog(db_path)
        try:
            if not rebuild:
                check_bundle(db, db_path, embedder.model_id)
            if bundle_ref is None and get_meta(db, "bundle_id") == embedder.model_id:
                # the same bundle as before: keep how it was named (a folder, say), so a
                # later `catalog index` without --bundle still finds it
                bundle_ref = get_meta(db, "bundle_ref")
            _switch_bundle(db, embedder, bundle_ref or embedder.bundle.name)
            fast = _switch_preprocessing(db, settings, rebuild)
            settings = replace(settings, fast_preprocess=fast)
            report = IndexReport(embedder.model_id, 0)
            damage = find_damaged(db) if verify else None  # reads every vector once
            if damage is not None and damage.count:
                report.damaged = damage.describe()
                log.warning("damaged on disk, redone: %s", ", ".join(report.damaged))
                drop_damaged(db, damage)
            todo = _scan(db, db_path.parent, report)
            bar = start_progress(progress, len(todo), "embed")
            started = time.perf_counter()
            try:
                for start in range(0, len(todo), settings.commit_every):
                    if should_stop is not None and should_stop():
                        raise _Stopped
                    _store_chunk(
                        db,
                        embedder,
                        todo[start : start + settings.commit_every],
                        report,
                        settings,
                        bar,
                        should_stop,
                    )
            except _Stopped:
                report.cancelled = True
            finally:
                bar.close()
            report.embed_seconds = time.perf_counter() - started
            for sku, reason in report.failed:
                log.warning("skipping %s: %s", sku, reason)
            if report.cancelled:
                log.info("index stopped on request: %d photos embedded and kept", report.embedded)
                return report
            report.index = sync_index(db, db_path, settings, rebuild=rebuild, progress=progress)
            report.adaptation = refit_adaptation(
                db,
                db_path,
                settings,
                bundle_id=embedder.model_id,
                dim=embedder.dim,
                embedder=embedder,
                force=rebuild,
                progress=progress,
            )
            purge_expired(db, db_path, settings)
        finally:
            db.close()
    return report
