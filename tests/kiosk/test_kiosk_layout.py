"""No text is cut off on any screen, in either language, for awkward products: 60-character
names, long German compound words, no price, no aisle, no picture."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from layout_audit import clipped

from catalog import import_products
from catalog.types import Match
from kiosk.demo.stills import empty_frame
from kiosk.recognizer import Outcome, Recognition
from kiosk.settings import load_settings
from kiosk.testing import FixedBackend, StillCamera

AWKWARD = [
    # sku, name, price, category, aisle, picture
    (
        "A1",
        "Extra Large Family Pack of Organic Wholegrain Breakfast Cereal",
        "",
        "Breakfast",
        "",
        True,
    ),
    (
        "A2",
        "Donaudampfschifffahrtsgesellschaftskapitänsmütze",
        "12.99",
        "Haushaltswarenabteilung",
        "Gang 12 – Haushaltswaren und Reinigungsmittel",
        False,
    ),
    (
        "A3",
        "Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz",
        "",
        "Haushaltswarenabteilung",
        "",
        False,
    ),
    ("A4", "Milk", "0.99", "Dairy", "Aisle 1", True),
    ("A5", "Bread", "", "Bakery", "", True),
]


@pytest.fixture
def awkward_db(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    (folder / "images").mkdir(parents=True)
    rows = []
    for i, (sku, name, price, category, aisle, picture) in enumerate(AWKWARD):
        image = ""
        if picture:
            img = np.full((200, 200, 3), 240, np.uint8)
            cv2.circle(img, (100, 100), 60, (40 * i, 120, 200 - 30 * i), -1)
            cv2.imwrite(str(folder / "images" / f"{sku}.png"), img)
            image = f"images/{sku}.png"
        related = "|".join(s for s, *_ in AWKWARD if s != sku)
        rows.append([sku, name, price, category, aisle, image, related, "x" * 300])
    with open(folder / "p.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["sku", "name", "price", "category", "aisle", "image", "related", "description"])
        w.writerows(rows)
    db = tmp_path / "awkward.db"
    assert import_products(db, folder / "p.csv").ok
    return db


def _screens(window, qtbot):
    """Visit every screen; yield its name once it is on show."""
    finder = window.services.finder
    products = {p.sku: p for c in finder.categories() for p in finder.browse(c)}
    matches = [
        Match(products[s], 0.9 - 0.1 * i) for i, s in enumerate(["A1", "A2", "A3", "A4", "A5"])
    ]
    panel = window.scan.panel
    yield "scan, idle"
    for outcome in (Outcome.CONFIDENT, Outcome.NOT_SURE, Outcome.NO_MATCH):
        panel.show_recognition(Recognition(outcome, matches, 0.05))
        yield f"scan, {outcome.value}"
    for sku in ("A1", "A2", "A3", "A5"):
        window.open_details(sku)
        yield f"details of {sku}"
        window.go_back()
    window.open_page(window.search)
    window.search.keyboard.type_text("ha")
    qtbot.wait(500)
    qtbot.waitUntil(lambda: window.search.model.rowCount() > 0, timeout=3000)
    qtbot.wait(50)
    yield "search"
    window.search.wipe()
    window.search.keyboard.type_text("zzzz")
    qtbot.wait(400)
    yield "search, nothing found"
    window.go_back()
    window.open_browse("Haushaltswarenabteilung")
    yield "browse"
    window.go_back()
    window.open_page(window.pin.parentWidget())
    yield "staff PIN"
    window.go_back()
    window._open_staff()
    yield "staff page"
    window.open_teach()
    yield "teach, pick a product"
    window.teach.start("A2")
    yield "teach, capture"
    window.leave_staff()
    window.go_idle()
    yield "attract"
    window.wake()


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_text_is_cut_off_on_any_screen(qtbot, tmp_path, awkward_db, language):
    from kiosk.ui.main_window import KioskWindow

    settings = load_settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        ui={"fullscreen": False, "language": language},
        thermal={"sysfs_root": tmp_path / "sys"},
        recognition={"auto_mode": False},
    )
    camera = StillCamera(empty_frame())
    window = KioskWindow(settings, FixedBackend(settings, camera.open, awkward_db))
    qtbot.addWidget(window)
    window.start()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.services is not None, timeout=15000)
    problems = []
    try:
        for screen in _screens(window, qtbot):
            qtbot.wait(30)
            page = window.stack.currentWidget()
            problems += [f"{screen}: {p}" for p in clipped(page)]
    finally:
        window.staff_exit()
    assert not problems, "\n".join(problems)
