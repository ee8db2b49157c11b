"""Settings from the environment, the write lock, enrolling camera frames, progress, migrations."""

from __future__ import annotations

import sqlite3
import sys

import numpy as np
import pytest
from catalog_images import shop_photo

from catalog import (
    CatalogBusyError,
    CatalogError,
    CatalogSettings,
    enroll_frame,
    import_products,
    index_catalog,
    open_finder,
)
from catalog.db import SCHEMA_VERSION, migrations, open_catalog, write_lock
from catalog.progress import LineProgress


def test_settings_from_environment() -> None:
    s = CatalogSettings.from_env(
        {"AISLELENS_CATALOG_HNSW_EF": "200", "AISLELENS_CATALOG_REBUILD_DELETED_SHARE": "0.5"},
        hnsw_m=48,
    )
    assert (s.hnsw_ef, s.rebuild_deleted_share, s.hnsw_m) == (200, 0.5, 48)
    assert CatalogSettings.from_env({}).exact_threshold == CatalogSettings().exact_threshold
    with pytest.raises(CatalogError, match="AISLELENS_CATALOG_HNSW_M='many'"):
        CatalogSettings.from_env({"AISLELENS_CATALOG_HNSW_M": "many"})
    with pytest.raises(CatalogError, match="rebuild_deleted_share"):
        CatalogSettings(rebuild_deleted_share=0)
    for raw, flag in (("0", False), ("false", False), ("1", True), ("Yes", True)):
        got = CatalogSettings.from_env({"AISLELENS_CATALOG_FAST_PREPROCESS": raw})
        assert got.fast_preprocess is flag
    with pytest.raises(CatalogError, match="FAST_PREPROCESS='fast': expected 1 or 0"):
        CatalogSettings.from_env({"AISLELENS_CATALOG_FAST_PREPROCESS": "fast"})


def test_a_second_writer_is_told_the_catalog_is_busy(shop, tmp_path, fake_embedder) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(2))
    with write_lock(db), pytest.raises(CatalogBusyError, match="another"):
        index_catalog(db, fake_embedder)
    assert index_catalog(db, fake_embedder).embedded == 2  # released afterwards


def test_enroll_a_camera_frame(shop, tmp_path, fake_embedder) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(3))
    report = enroll_frame(db, "S1", shop_photo(1))
    assert report.added == 1 and report.skus == ["S1"]
    saved = list((tmp_path / "enrolled" / "S1").glob("*.jpg"))
    assert len(saved) == 1
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT path FROM images WHERE kind = 'enrolled'").fetchone()[0] == (
            f"enrolled/S1/{saved[0].name}"
        )  # relative to the catalog: the folder can move
    assert index_catalog(db, fake_embedder).embedded == 4
    finder = open_finder(db)
    assert finder.product("S1").image_count == 2
    finder.close()


def test_frames_enrolled_together_are_listed_and_removed_with_their_files(
    shop, tmp_path, fake_embedder
) -> None:
    from catalog import check_catalog, enroll_frames, enrolled_shots, remove_enrolled

    db = tmp_path / "store.db"
    import_products(db, shop(3))
    report = enroll_frames(db, "S1", [shop_photo(1, k) for k in range(3)])
    assert report.added == 3 and report.skus == ["S1"]
    index_catalog(db, fake_embedder)
    shots = enrolled_shots(db, "S1")
    assert len(shots) == 3 and all(s.path.is_file() for s in shots)
    assert not list((tmp_path / "enrolled" / "S1").glob(".*tmp"))  # no half-written file
    with sqlite3.connect(db) as conn:
        catalog_photo = conn.execute("SELECT id FROM images WHERE kind = 'catalog'").fetchone()[0]
    assert remove_enrolled(db, [shots[0].image_id, shots[1].image_id, catalog_photo]) == 2
    assert [s.image_id for s in enrolled_shots(db, "S1")] == [shots[2].image_id]
    assert not shots[0].path.exists() and shots[2].path.exists()
    assert check_catalog(db).ok
    finder = open_finder(db)
    assert finder.product("S1").image_count == 2  # the catalog photo was not touched
    finder.close()
    # a frame too small to use and one already enrolled: the good frame's file stays, the
    # others leave none behind (every file in enrolled/ is a shot the catalog lists)
    tiny = np.zeros((8, 8, 3), np.uint8)
    again = enroll_frames(db, "S2", [shop_photo(2, 1), tiny, shop_photo(2, 1)])
    assert again.added == 1 and again.duplicates == 1 and len(again.issues) == 1
    files = sorted((tmp_path / "enrolled" / "S2").glob("*.jpg"))
    assert [s.path for s in enrolled_shots(db, "S2")] == files and len(files) == 1
    bad = enroll_frames(db, "NOPE", [shop_photo(2)])  # an unknown SKU leaves no file behind
    assert bad.added == 0 and not list((tmp_path / "enrolled" / "NOPE").glob("*.jpg"))


def test_reindexing_keeps_how_the_bundle_was_named(shop, tmp_path, fake_embedder) -> None:
    from catalog.db import get_meta, open_catalog

    db = tmp_path / "store.db"
    import_products(db, shop(2))
    index_catalog(db, fake_embedder, bundle_ref="/opt/bundles/store")
    index_catalog(db, fake_embedder)  # e.g. the kiosk after teaching a product
    conn = open_catalog(db)
    try:
        assert get_meta(conn, "bundle_ref") == "/opt/bundles/store"
    finally:
        conn.close()


def test_progress_is_reported_per_image(shop, tmp_path, fake_embedder, progress_bars) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(5), progress=progress_bars)
    index_catalog(db, fake_embedder, progress=progress_bars)
    assert progress_bars["import"] == [5, 5] and progress_bars["embed"] == [5, 5]


def test_progress_off_a_terminal_is_a_line_every_tenth_of_the_way() -> None:
    lines: list[str] = []
    bar = LineProgress(236, "eval: searching", lines.append)
    for _ in range(236):
        bar.update()
    bar.close()
    assert lines[0] == "eval: searching: 0/236" and lines[-1] == "eval: searching: 236/236"
    assert lines[1:4] == [f"eval: searching: {n}/236" for n in (24, 48, 72)]
    assert len(lines) == 11


def test_eval_shows_a_bar_on_a_terminal_and_lines_elsewhere(monkeypatch) -> None:
    from tqdm import tqdm

    from catalog.cli_search import _stderr_progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert isinstance(_stderr_progress(3, "eval"), LineProgress)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = _stderr_progress(3, "eval")
    assert isinstance(bar, tqdm)
    bar.close()


def test_migrations_are_named_recorded_and_versioned(tmp_path) -> None:
    db = open_catalog(tmp_path / "c.db", create=True)
    names = [m.name for m in migrations.applied(db)]
    assert migrations.pending(db) == []
    assert len(names) == SCHEMA_VERSION and names[0].startswith("m001_")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    again = open_catalog(tmp_path / "c.db")  # re-opening applies nothing twice
    assert len(migrations.applied(again)) == SCHEMA_VERSION
    again.close()


def test_files_written_atomically_keep_their_mode_and_are_readable_by_others(tmp_path):
    """An index or metadata file written by root must stay readable by the kiosk's user."""
    import stat

    from catalog.atomic import write_atomic

    new = tmp_path / "new.json"
    write_atomic(new, b"{}")
    assert stat.S_IMODE(new.stat().st_mode) == 0o644 and new.read_bytes() == b"{}"
    kept = tmp_path / "kept.json"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    write_atomic(kept, b"new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "new.json"]
