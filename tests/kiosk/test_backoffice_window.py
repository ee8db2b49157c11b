"""The staff window (``aislelens staff``), driven like staff drive it: real SQLite files, the
demo's drawn product photos and in-store shots, and a fast fake model (no ONNX) for embedding."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from catalog import (
    CatalogSettings,
    EnrollItem,
    enroll_images,
    enrolled_shots,
    import_products,
    index_catalog,
    read_enroll_file,
)
from kiosk.cli import cli
from kiosk.demo.build import DemoAssets
from kiosk.sources import open_source
from kiosk.ui.backoffice.products import AISLE, EMBEDDED, NAME, PHOTOS, PICTURE, PRICE, SHOTS
from kiosk.ui.backoffice.window import BackofficeWindow
from models import FakeEngine, ImageEmbedder, load_bundle

#: small chunks, so that a run over the test shop's photos commits in many steps
SETTINGS = CatalogSettings(commit_every=4, batch_size=2, adapt_views=2)


class SlowEngine(FakeEngine):
    """The fake model at the pace of a slow CPU: 40 ms a batch."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(0.04)
        return super().run(batch)


def fake_embedders(engine: type[FakeEngine] = FakeEngine) -> Callable[[Path], Any]:
    def open_fake(db: Path) -> tuple[ImageEmbedder, str | None]:
        return ImageEmbedder(load_bundle(), "fp32", engine=engine(dim=1280)), None

    return open_fake


def count(db: Path, sql: str, *args: object) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, args).fetchone()[0]


def stored_thresholds(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        return json.loads(conn.execute("SELECT thresholds FROM adaptation").fetchone()[0])


@pytest.fixture
def make_staff_window(qtbot) -> Callable[..., BackofficeWindow]:
    def make(engine: type[FakeEngine] = FakeEngine) -> BackofficeWindow:
        window = BackofficeWindow(SETTINGS, embedders=fake_embedders(engine))
        qtbot.addWidget(window)
        window.show()
        return window

    return make


def _import_and_enrol(db: Path, assets: DemoAssets) -> Path:
    import_products(db, assets.products_file)
    items, issues = read_enroll_file(assets.enroll_file)
    assert not issues and not enroll_images(db, items).issues
    return db


@pytest.fixture
def store(tmp_path: Path, demo_assets: DemoAssets) -> Path:
    """The test shop imported with its shots enrolled, not indexed yet."""
    return _import_and_enrol(tmp_path / "store.db", demo_assets)


@pytest.fixture(scope="module")
def indexed_once(tmp_path_factory: pytest.TempPathFactory, demo_assets: DemoAssets) -> Path:
    db = _import_and_enrol(tmp_path_factory.mktemp("indexed") / "store.db", demo_assets)
    embedder, _ = fake_embedders()(db)
    report = index_catalog(db, embedder, settings=SETTINGS)
    assert report.adaptation is not None and report.adaptation.action == "fitted"
    return db


@pytest.fixture
def indexed(indexed_once: Path, tmp_path: Path) -> Path:
    """The test shop, indexed with the fake model (store adaptation fitted on the shots): a
    copy of one indexed once per module (its photos are named by absolute path)."""
    db = tmp_path / "store.db"
    with sqlite3.connect(indexed_once) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    return db


def wait_idle(qtbot, window: BackofficeWindow, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: not window.jobs.busy, timeout=timeout)


def cell(window: BackofficeWindow, sku: str, column: int) -> Any:
    model = window.products.model
    row = model.row_of(sku)
    assert row is not None, f"{sku} not listed"
    return model.data(model.index(row, column))


# -- opening and creating ------------------------------------------------------------------------
def test_create_a_catalog_then_reopen_it_and_refuse_what_is_not_one(make_staff_window, tmp_path):
    window = make_staff_window()
    assert window.stack.currentWidget() is window.welcome
    db = tmp_path / "new" / "store.db"
    db.parent.mkdir()
    assert window.create_catalog(db)
    assert db.is_file() and count(db, "SELECT count(*) FROM products") == 0
    assert window.windowTitle() == "AisleLens staff — store.db"
    assert window.tabs.currentWidget() is window.importer  # an empty catalog: import first
    not_a_catalog = tmp_path / "notes.db"
    not_a_catalog.write_text("shopping list\n")
    assert not window.create_catalog(not_a_catalog)  # never overwritten
    assert not_a_catalog.read_text() == "shopping list\n"
    assert "not an SQLite file" in window.message.text()
    assert window.session.db == db  # still on the catalog that was open
    assert not window.open_catalog(tmp_path / "missing.db")
    assert "no catalog here" in window.message.text()


def test_the_file_dialogs_open_and_create(make_staff_window, store, tmp_path, monkeypatch):
    window = make_staff_window()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(store), ""))
    window.welcome.open_button.click()
    assert window.session.db == store and window.products.model.rowCount() == 12
    assert window.tabs.currentWidget() is window.products
    fresh = tmp_path / "second.db"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(fresh), ""))
    menu = {a.text(): a for a in window.menuBar().actions()[0].menu().actions()}
    menu["&New catalog…"].trigger()
    assert window.session.db == fresh and window.products.model.rowCount() == 0
    menu["&Open catalog…"].trigger()
    assert window.session.db == store


# -- import ----------------------------------------------------------------------------------------
def test_import_shows_the_dry_run_report_then_imports_on_request(
    make_staff_window, qtbot, tmp_path, demo_assets, monkeypatch
):
    images = demo_assets.root / "images"
    products = tmp_path / "products.csv"
    products.write_text(
        "sku,name,price,aisle,image\n"
        f"A1,Apple juice,1.50,Aisle 2,{images / 'DEMO-001.png'}\n"
        f"A2,Bad price,-3,Aisle 2,{images / 'DEMO-005.png'}\n"
        f"A3,Lost photo,2.00,Aisle 4,{tmp_path / 'gone.jpg'}\n"
        f"A4,Oat drink,2.20,Aisle 2,{images / 'DEMO-006.png'}\n"
        f"A5,Free sample,0,Aisle 2,{images / 'DEMO-008.png'}\n"
    )
    window = make_staff_window()
    db = tmp_path / "store.db"
    window.create_catalog(db)
    page = window.importer
    assert not page.import_button.isEnabled()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(products), ""))
    qtbot.mouseClick(page.choose_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert page.report is not None and page.report.dry_run
    rows = [
        tuple(page.issues.item(r, c).text() for c in range(4))
        for r in range(page.issues.rowCount())
    ]
    assert [(row, column, kind) for row, column, _, kind in rows] == [
        ("3", "price", "problem: not imported"),
        ("4", "image", "problem: not imported"),
        ("6", "price", "warning: imported"),  # a zero price is imported, and pointed out
    ]
    assert rows[1][2].startswith("no such image file")
    assert "Would import products.csv: 3 new" in page.summary.text()
    assert "1 warning" in page.summary.text()
    assert count(db, "SELECT count(*) FROM products") == 0  # the dry run wrote nothing
    assert page.import_button.isEnabled()
    qtbot.mouseClick(page.import_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert not page.report.dry_run and "Imported products.csv: 3 new" in page.summary.text()
    with sqlite3.connect(db) as conn:
        skus = [r[0] for r in conn.execute("SELECT sku FROM products ORDER BY sku")]
    assert skus == ["A1", "A4", "A5"]
    assert not page.import_button.isEnabled()  # imported: nothing more to press
    assert sorted(window.products.model.item(r).product.sku for r in range(3)) == skus


def test_an_unreadable_product_file_is_one_line_and_writes_nothing(
    make_staff_window, qtbot, tmp_path
):
    bad = tmp_path / "products.csv"
    bad.write_bytes("sku,name\n1,Milk\n".encode("utf-16"))
    window = make_staff_window()
    db = tmp_path / "store.db"
    window.create_catalog(db)
    window.importer.check_file(bad)
    wait_idle(qtbot, window)
    assert (
        window.message.text() == f"Error: {bad}: the file is UTF-16; save it as UTF-8 (CSV UTF-8)"
    )
    assert window.error_box.text() == f"{bad}: the file is UTF-16; save it as UTF-8 (CSV UTF-8)"
    assert window.importer.report is None and not window.importer.import_button.isEnabled()
    assert count(db, "SELECT count(*) FROM products") == 0


# -- the product list --------------------------------------------------------------------------------
def test_the_list_shows_pictures_prices_aisles_and_photo_counts(make_staff_window, store, tmp_path):
    import_products(store, _csv(tmp_path, "sku,name,price,aisle\nNP-1,No photo yet,0.99,Aisle 9\n"))
    window = make_staff_window()
    window.open_catalog(store)
    assert window.products.model.rowCount() == 13
    assert cell(window, "DEMO-001", NAME) == "Sunny Flakes"
    assert cell(window, "DEMO-001", PRICE) == "3.49 EUR"
    assert cell(window, "DEMO-001", AISLE) == "Aisle 3"
    assert (cell(window, "DEMO-001", PHOTOS), cell(window, "DEMO-001", SHOTS)) == ("1", "5")
    assert cell(window, "DEMO-001", EMBEDDED) == "0 of 6"
    model = window.products.model
    picture = model.data(
        model.index(model.row_of("DEMO-001"), PICTURE), Qt.ItemDataRole.DecorationRole
    )
    assert not picture.isNull()
    image = picture.toImage()
    # the drawn cereal box, not the placeholder: many colours in it
    colours = {
        image.pixel(x, y) for x in range(0, image.width(), 4) for y in range(0, image.height(), 4)
    }
    assert len(colours) > 20
    placeholder = model.data(
        model.index(model.row_of("NP-1"), PICTURE), Qt.ItemDataRole.DecorationRole
    )
    ph = placeholder.toImage()
    assert (
        len({ph.pixel(x, y) for x in range(0, ph.width(), 4) for y in range(0, ph.height(), 4)})
        < 20
    )
    assert (cell(window, "NP-1", PHOTOS), cell(window, "NP-1", SHOTS)) == ("0", "0")
    window.products.search.setText("cola")
    shown = [
        window.products.table.sku_at(r) for r in range(window.products.table.filter.rowCount())
    ]
    assert [cell(window, s, NAME) for s in shown] == ["Ruby Cola"]
    assert window.products.count.text() == "1 of 13 products"
    window.products.search.setText("rubby")  # misspelt: the catalog's own text search
    shown = [
        window.products.table.sku_at(r) for r in range(window.products.table.filter.rowCount())
    ]
    assert [cell(window, s, NAME) for s in shown] == ["Ruby Cola"]
    window.products.search.setText("aisle 9 photo")
    assert [window.products.table.sku_at(0)] == [
        "NP-1"
    ] and window.products.table.filter.rowCount() == 1
    window.products.search.clear()
    assert window.products.count.text() == "13 products"


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"extra{len(list(tmp_path.glob('extra*.csv')))}.csv"
    path.write_text(text)
    return path


# -- enrolling ---------------------------------------------------------------------------------------
def _drop(widget, pos: QPointF, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    action = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    QApplication.sendEvent(widget, QDragEnterEvent(pos.toPoint(), action, mime, buttons, mods))
    QApplication.sendEvent(widget, QDragMoveEvent(pos.toPoint(), action, mime, buttons, mods))
    QApplication.sendEvent(widget, QDropEvent(pos, action, mime, buttons, mods))


def test_photos_dropped_on_a_product_are_enrolled_for_it(
    make_staff_window, qtbot, store, demo_assets, tmp_path
):
    window = make_staff_window()
    window.open_catalog(store)
    table = window.products.table
    table.resize(900, 600)
    target = "DEMO-014"
    row = table.filter.mapFromSource(
        window.products.model.index(window.products.model.row_of(target), 0)
    ).row()
    table.scrollTo(table.filter.index(row, NAME))
    centre = QPointF(table.visualRect(table.filter.index(row, NAME)).center())
    photos = [
        shutil.copy(demo_assets.root / "images" / f"DEMO-001-shot{k}.jpg", tmp_path / f"new{k}.jpg")
        for k in (1, 2)
    ]
    note = tmp_path / "notes.txt"
    note.write_text("not a photo")
    before = count(
        store,
        "SELECT count(*) FROM images i JOIN products p ON p.id = i.product_id WHERE p.sku = ?",
        target,
    )
    _drop(table.viewport(), centre, [Path(p) for p in photos] + [note])
    wait_idle(qtbot, window)
    shots = [s.path for s in enrolled_shots(store, target)]
    assert len(shots) == before - 1 + 2  # its catalog photo is not a shot
    assert shots[-2:] == [Path(p) for p in photos]
    assert cell(window, target, SHOTS) == "7"
    assert (
        window.message.text()
        == f"Enrolled 2 photos for {target} (0 already enrolled, 0 rejected); index to use them"
    )
    assert table.selected_sku() == target  # the row dropped on is the one shown beside
    assert window.products.detail.sku == target
    assert window.products.detail.shots.count() == 7


def test_photos_dropped_on_the_detail_pane_go_to_the_product_shown(
    make_staff_window, qtbot, store, demo_assets
):
    window = make_staff_window()
    window.open_catalog(store)
    detail = window.products.detail
    _drop(detail, QPointF(20, 20), [demo_assets.root / "images" / "DEMO-009-shot1.jpg"])
    assert not window.jobs.busy  # no product chosen yet: nothing to enrol for
    window.products.table.select_sku("DEMO-013")
    _drop(detail, QPointF(20, 20), [demo_assets.root / "images" / "DEMO-009-shot1.jpg"])
    wait_idle(qtbot, window)
    assert cell(window, "DEMO-013", SHOTS) == "6"


def test_enrol_photos_from_the_file_dialog_and_the_same_photo_twice(
    make_staff_window, qtbot, store, demo_assets, monkeypatch
):
    window = make_staff_window()
    window.open_catalog(store)
    window.products.table.select_sku("DEMO-005")
    shot = demo_assets.root / "images" / "DEMO-005-shot1.jpg"  # already enrolled for it
    fresh = demo_assets.root / "images" / "DEMO-006-shot1.jpg"
    monkeypatch.setattr(
        QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(shot), str(fresh)], "")
    )
    qtbot.mouseClick(window.products.detail.enrol_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert (
        "Enrolled 1 photos for DEMO-005 (1 already enrolled, 0 rejected)" in window.message.text()
    )
    assert cell(window, "DEMO-005", SHOTS) == "6"


def test_photos_taken_with_a_camera_are_enrolled_beside_the_catalog(
    qtbot, store, demo_assets, tmp_path
):
    folder = tmp_path / "camera"  # a replay camera: the demo's shots of the cola, in turn
    folder.mkdir()
    for k in (1, 2, 3):
        shutil.copy(demo_assets.root / "images" / f"DEMO-005-shot{k}.jpg", folder)
    camera = partial(open_source, str(folder), fps=15.0)
    window = BackofficeWindow(SETTINGS, embedders=fake_embedders(), camera=camera)
    qtbot.addWidget(window)
    window.show()
    window.open_catalog(store)
    window.products.table.select_sku("DEMO-005")
    assert window.products.detail.camera_button.isVisible()
    qtbot.mouseClick(window.products.detail.camera_button, Qt.MouseButton.LeftButton)
    dialog = window.camera_dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.take_button.isEnabled, timeout=10_000)
    assert not dialog.preview.pixmap().isNull()
    assert not dialog.enrol_button.isEnabled()
    dialog.take()
    qtbot.waitUntil(
        lambda: dialog.latest is not None and not np.array_equal(dialog.latest, dialog.frames[0]),
        timeout=10_000,
    )
    dialog.take()
    assert dialog.enrol_button.text() == "Enrol the 2 photos"
    qtbot.mouseClick(dialog.enrol_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert window.camera_dialog is None  # closed, its camera stopped (the thread guard checks)
    shots = [s.path for s in enrolled_shots(store, "DEMO-005")]
    assert len(shots) == 7 and all(p.is_file() for p in shots[-2:])
    assert all(p.parent == store.parent / "enrolled" / "DEMO-005" for p in shots[-2:])
    assert cell(window, "DEMO-005", SHOTS) == "7"


def test_without_a_camera_there_is_no_camera_button(make_staff_window, store):
    window = make_staff_window()
    window.open_catalog(store)
    window.products.table.select_sku("DEMO-005")
    assert not window.products.detail.camera_button.isVisible()
    assert window.products.detail.enrol_button.isVisible()


# -- indexing ----------------------------------------------------------------------------------------
def test_index_shows_progress_and_cancel_keeps_what_was_embedded(make_staff_window, qtbot, store):
    total = count(store, "SELECT count(*) FROM images")
    window = make_staff_window(SlowEngine)
    window.open_catalog(store)
    window.tabs.setCurrentWidget(window.indexer)
    qtbot.mouseClick(window.indexer.index_button, Qt.MouseButton.LeftButton)
    assert window.progress.isVisible() and window.cancel_button.isVisible()
    assert not window.indexer.index_button.isEnabled()
    qtbot.waitUntil(lambda: window.progress.value() >= 10, timeout=30_000)
    assert window.progress.maximum() == total and "Embedding photos" in window.progress.format()
    assert window.indexer.result.toPlainText().startswith("Indexing: embedding photos, ")
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    report = window.indexer.report
    assert report is not None and report.cancelled
    kept = count(store, "SELECT count(*) FROM embeddings")
    assert 8 <= kept == report.embedded < total and kept % SETTINGS.commit_every == 0
    assert window.indexer.result.toPlainText().startswith(f"Cancelled: {kept} photos embedded")
    assert window.indexer.values["Embedded"].text() == str(kept)
    assert window.indexer.values["Still to embed"].text() == str(total - kept)
    assert not window.progress.isVisible() and window.indexer.index_button.isEnabled()
    qtbot.mouseClick(window.indexer.index_button, Qt.MouseButton.LeftButton)  # carries on
    wait_idle(qtbot, window)
    again = window.indexer.report
    assert not again.cancelled and again.embedded == total - kept and again.up_to_date == kept
    assert count(store, "SELECT count(*) FROM embeddings") == total
    assert window.indexer.result.toPlainText().startswith(f"Done: {total - kept} photos embedded")
    assert "Store adaptation fitted on 12 products" in window.indexer.result.toPlainText()
    assert cell(window, "DEMO-001", EMBEDDED) == "6 of 6"


def test_closing_the_window_during_an_index_stops_it_keeping_what_was_done(
    make_staff_window, qtbot, store
):
    window = make_staff_window(SlowEngine)
    window.open_catalog(store)
    window.indexer.start()
    qtbot.waitUntil(lambda: window.progress.value() >= 4, timeout=30_000)
    window.close()
    kept = count(store, "SELECT count(*) FROM embeddings")
    assert kept < count(store, "SELECT count(*) FROM images") and not window.jobs.busy
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- confusions --------------------------------------------------------------------------------------
def test_a_shot_enrolled_under_the_wrong_product_shows_as_a_confused_pair(
    make_staff_window, qtbot, store, demo_assets
):
    wrong = demo_assets.root / "images" / "DEMO-005-shot2.jpg"  # Ruby Cola, filed as Lime Fizz
    enroll_images(store, [EnrollItem("DEMO-006", wrong)])
    embedder, _ = fake_embedders()(store)
    index_catalog(store, embedder, settings=SETTINGS)
    window = make_staff_window()
    window.open_catalog(store)
    page = window.confusions
    qtbot.mouseClick(page.shots_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert page.report is not None and page.report.n == 61
    assert page.summary.text().startswith("61 photos of the enrolled shots searched")
    assert [p.skus for p in page.pairs][:1] == [("DEMO-006", "DEMO-005")]
    texts = [w.text() for w in page.pairs[0].findChildren(type(window.message))]
    assert any("Lime Fizz" in t for t in texts) and any("Ruby Cola" in t for t in texts)
    assert any("1×" in t for t in texts)
    pictures = [
        w.pixmap()
        for w in page.pairs[0].findChildren(type(window.message))
        if not w.pixmap().isNull()
    ]
    assert len(pictures) == 2


def test_labelled_photos_show_what_the_kiosk_would_take_them_for(
    make_staff_window, qtbot, indexed, demo_assets, tmp_path, monkeypatch
):
    images = demo_assets.root / "images"
    labelled = tmp_path / "checkout.csv"
    with labelled.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["image", "sku"])
        out.writerow([images / "DEMO-008-shot3.jpg", "DEMO-008"])
        out.writerow([images / "DEMO-009-shot3.jpg", "DEMO-008"])  # labelled wrong on purpose
        out.writerow([tmp_path / "gone.jpg", "DEMO-001"])
    window = make_staff_window()
    window.open_catalog(indexed)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(labelled), ""))
    qtbot.mouseClick(window.confusions.file_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    page = window.confusions
    assert page.report.n == 2 and [p.skus for p in page.pairs] == [("DEMO-008", "DEMO-009")]
    assert "1 photo skipped (first: row 4: " in page.summary.text()


# -- calibration ------------------------------------------------------------------------------------
def test_calibrate_proposes_then_apply_stores_what_the_command_stores(
    make_staff_window, qtbot, indexed, tmp_path
):
    window = make_staff_window()
    window.open_catalog(indexed)
    page = window.calibration
    before = stored_thresholds(indexed)
    assert page.table.item(5, 0).text() == before["source"]
    assert not page.apply_button.isEnabled()
    page.target.setValue(0.9)
    qtbot.mouseClick(page.calibrate_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert page.proposal is not None and page.apply_button.isEnabled()
    assert stored_thresholds(indexed) == before  # proposed only
    assert page.table.item(5, 1).text().endswith("for found precision 0.9")
    assert "nothing is stored until you press Apply" in page.note.text()
    copy = tmp_path / "copy.db"
    shutil.copy(indexed, copy)
    result = CliRunner().invoke(cli, ["catalog", "calibrate", "--db", str(copy), "--target", "0.9"])
    assert result.exit_code == 0, result.output
    qtbot.mouseClick(page.apply_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    assert stored_thresholds(indexed) == stored_thresholds(copy)
    assert page.table.item(5, 0).text() == stored_thresholds(copy)["source"]
    assert page.note.text().startswith("Stored in store.db: calibrated")
    assert not page.apply_button.isEnabled()


def test_calibrate_on_labelled_photos(make_staff_window, qtbot, indexed, demo_assets, tmp_path):
    photos = tmp_path / "shots.csv"  # the shots as if taken on another day: 60 labelled photos
    photos.write_text(
        "image,sku\n"
        + "".join(f"{i.path},{i.sku}\n" for i in read_enroll_file(demo_assets.enroll_file)[0])
    )
    window = make_staff_window()
    window.open_catalog(indexed)
    page = window.calibration
    page.use_photos(photos)
    page.calibrate()
    wait_idle(qtbot, window)
    assert page.proposal is not None and page.proposal.scans is not None
    assert len(page.proposal.scans) == 60
    assert (
        page.table.item(5, 1).text().startswith("calibrated: labelled photos (shots.csv), 60 scans")
    )
    page.apply()
    wait_idle(qtbot, window)
    assert stored_thresholds(indexed)["source"] == page.table.item(5, 0).text()
    assert "shots.csv" in stored_thresholds(indexed)["source"]


def test_calibrating_on_too_few_labelled_photos_is_refused_and_stores_nothing(
    make_staff_window, qtbot, indexed, demo_assets, tmp_path, monkeypatch
):
    few = tmp_path / "few.csv"
    few.write_text(f"image,sku\n{demo_assets.root / 'images' / 'DEMO-001-shot1.jpg'},DEMO-001\n")
    window = make_staff_window()
    window.open_catalog(indexed)
    before = stored_thresholds(indexed)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(few), ""))
    window.calibration.photos_button.click()
    assert window.calibration.from_photos.isChecked()
    window.calibration.calibrate()
    wait_idle(qtbot, window)
    assert window.message.text() == (
        f"Error: {few}: 1 usable labelled photos, at least 20 are needed to calibrate on; "
        "the stored thresholds are unchanged"
    )
    assert window.calibration.proposal is None and stored_thresholds(indexed) == before


# -- the command -------------------------------------------------------------------------------------
def test_the_staff_command_opens_the_window_on_the_catalog(store, demo_assets, tmp_path):
    """The real command in its own process (its event loop and its quit would end those of
    the tests' shared QApplication)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_DATA_HOME": str(tmp_path / "d")}
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "aislelens"),
            *("staff", "--db", str(store), "--camera", str(demo_assets.root / "images")),
            "--exit-when-shown",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    shown = json.loads(out.stdout.strip().splitlines()[-1])
    assert shown == {"title": "AisleLens staff — store.db", "products": 12, "camera": True}


def test_the_staff_command_refuses_what_is_not_a_catalog_in_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["staff", "--db", str(tmp_path / "nope.db")])
    assert result.exit_code == 2
    assert result.output == f"error: {tmp_path / 'nope.db'}: no catalog here\n"
    notes = tmp_path / "notes.db"
    notes.write_text("shopping list\n")
    result = CliRunner().invoke(cli, ["staff", "--db", str(notes)])
    assert result.exit_code == 2
    assert result.output == f"error: {notes}: not a catalog database (not an SQLite file)\n"
