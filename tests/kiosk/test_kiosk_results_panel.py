"""The results panel refills the cards it has instead of building new ones for every scan:
what it shows must be the new result's, whatever the last one showed."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from catalog.types import Match, Product
from kiosk.i18n import Translator
from kiosk.recognizer import Outcome, Recognition
from kiosk.ui.results_panel import ResultsPanel
from kiosk.ui.widgets import FULL_KEPT, SCALED_KEPT, Thumbnails


def _png() -> bytes:
    ok, data = cv2.imencode(".png", np.full((40, 30, 3), 200, np.uint8))
    assert ok
    return data.tobytes()


PHOTO = _png()


def _panel(qtbot) -> ResultsPanel:
    # products whose SKU starts with "P" have a photo; the others show their initial
    thumbs = Thumbnails(lambda sku: PHOTO if sku.startswith("P") else None)
    panel = ResultsPanel(thumbs, Translator("en"))
    qtbot.addWidget(panel)
    panel.resize(460, 620)
    panel.show()
    return panel


def _rec(outcome: Outcome, *products: Product) -> Recognition:
    return Recognition(outcome, [Match(p, 0.9 - i * 0.1) for i, p in enumerate(products)], 0.2)


def _shown(card) -> dict:
    return {
        "sku": card.product.sku,
        "name": card.name_label.full_text,
        "price": card.price_label.full_text,
        "aisle": card.aisle_label.full_text
        if card.aisle_label is not None and card.aisle_label.isVisibleTo(card)
        else None,
        "out": card.stock_label.isVisibleTo(card),
        "photo": not card.picture.pixmap().isNull() and not card.picture.text(),
    }


A = Product("P-A", "Apple juice", 1.5, aisle="Aisle 2")
B = Product("B-1", "Bread", None, aisle="")
C = Product("P-C", "Cheese", 3.25, aisle="Aisle 7", in_stock=False)
D = Product("D-1", "Dates", 2.0, aisle="Aisle 1")


def test_a_refilled_card_shows_only_the_new_products_details(qtbot):
    panel = _panel(qtbot)
    panel.show_recognition(_rec(Outcome.CONFIDENT, A, B, C))
    first = list(panel.cards)
    assert [_shown(c) for c in panel.cards] == [
        {"sku": "P-A", "name": "Apple juice", "price": "€1.50", "aisle": "Where: Aisle 2",
         "out": False, "photo": True},
        {"sku": "B-1", "name": "Bread", "price": "Price at the shelf", "aisle": None,
         "out": False, "photo": False},
        {"sku": "P-C", "name": "Cheese", "price": "€3.25", "aisle": None,  # compact: no aisle
         "out": True, "photo": True},
    ]  # fmt: skip
    # the next scan: the same cards, each now about another product
    panel.show_recognition(_rec(Outcome.CONFIDENT, B, C, A))
    assert [c is f for c, f in zip(panel.cards, first, strict=True)] == [True, True, True]
    assert [_shown(c) for c in panel.cards] == [
        {"sku": "B-1", "name": "Bread", "price": "Price at the shelf", "aisle": None,
         "out": False, "photo": False},
        {"sku": "P-C", "name": "Cheese", "price": "€3.25", "aisle": None, "out": True,
         "photo": True},
        {"sku": "P-A", "name": "Apple juice", "price": "€1.50", "aisle": None, "out": False,
         "photo": True},
    ]  # fmt: skip
    big = panel.cards[0]
    assert big.picture.text() == "B"  # the initial where the catalog has no photo
    panel.show_recognition(_rec(Outcome.CONFIDENT, A))
    assert _shown(panel.cards[0])["aisle"] == "Where: Aisle 2"
    assert _shown(panel.cards[0])["photo"] and not big.picture.text()


def test_every_outcome_shows_only_its_own_widgets(qtbot):
    panel = _panel(qtbot)
    panel.set_category_source(lambda: ["Dairy", "Fruit", "Bakery"])

    def visible() -> list[str]:  # the SKUs on the cards the panel shows, big card first
        return [c.product.sku for c in [panel._big, *panel._compact] if c and c.isVisible()]

    panel.show_recognition(_rec(Outcome.NOT_SURE, A, B, C, D, A))
    assert panel.state == "not_sure" and len(panel.cards) == 5
    assert sorted(visible()) == ["B-1", "D-1", "P-A", "P-A", "P-C"]
    panel.show_recognition(_rec(Outcome.CONFIDENT, D, A))
    assert [c.product.sku for c in panel.cards] == ["D-1", "P-A"]
    assert sorted(visible()) == ["D-1", "P-A"]  # the three other candidates are gone
    assert panel.also.isVisible() and not panel.closest.isVisible()
    panel.show_recognition(_rec(Outcome.NO_MATCH, C, B))
    assert visible() == ["P-C", "B-1"] and panel.closest.isVisible()
    assert not panel.also.isVisible()
    assert [b.text() for b in panel.category_buttons] == ["Browse by category"]
    assert all(b.isVisible() for b in panel.category_buttons)
    panel.show_recognition(_rec(Outcome.NO_MATCH))
    assert visible() == [] and panel.cards == [] and not panel.browse_all.isVisible()
    assert [b.text() for b in panel.category_buttons] == ["Dairy", "Fruit", "Bakery"]
    assert all(b.isVisible() for b in panel.category_buttons)
    grid = list(panel.category_buttons)
    panel.show_idle()
    assert visible() == [] and not any(b.isVisible() for b in grid)
    assert not panel._grid_holder.isVisible() and not panel.hint.isVisible()
    # the categories changed: the buttons follow
    panel.set_category_source(lambda: ["Frozen"])
    panel.show_recognition(_rec(Outcome.NO_MATCH))
    assert [b.text() for b in panel.category_buttons] == ["Frozen"]


def _on_screen(panel: ResultsPanel) -> list[str]:
    """What of the result the panel shows: its cards' SKUs and the result-only widgets."""
    widgets = {
        "also": panel.also,
        "closest": panel.closest,
        "browse": panel.browse_all,
        "hint": panel.hint,
        "categories": panel._grid_holder,
    }
    cards = [c.product.sku for c in [panel._big, *panel._compact] if c and c.isVisible()]
    return cards + [name for name, w in widgets.items() if w.isVisible()]


@pytest.mark.parametrize("then", ["show_busy", "show_error", "show_idle", "message", "wipe"])
def test_no_result_stays_on_screen_after_the_panel_moves_on(qtbot, then):
    panel = _panel(qtbot)
    panel.set_category_source(lambda: ["Dairy"])
    for rec in (
        _rec(Outcome.CONFIDENT, A, B, C),
        _rec(Outcome.NOT_SURE, A, B, C, D),
        _rec(Outcome.NO_MATCH, C),
        _rec(Outcome.NO_MATCH),
    ):
        panel.show_recognition(rec)
        assert _on_screen(panel)  # something of each result is shown…
        if then == "message":
            panel.show_message("Camera unplugged")
        else:
            getattr(panel, then)()
        assert _on_screen(panel) == []  # … and none of it after
        assert panel.cards == [] and panel.category_buttons == []


def test_a_language_switch_redraws_refilled_cards_in_the_new_language(qtbot):
    panel = _panel(qtbot)
    panel.show_recognition(_rec(Outcome.CONFIDENT, D, A))
    panel.show_recognition(_rec(Outcome.CONFIDENT, A, C))  # refilled: A big, C compact
    en, de = Translator("en"), Translator("de")
    panel.set_translator(de)
    big, compact = panel.cards
    assert (big.product.sku, compact.product.sku) == ("P-A", "P-C")
    assert panel.also.text() == de("also") != en("also")
    assert big.aisle_label.full_text == de("where", aisle="Aisle 2") != en("where", aisle="Aisle 2")
    assert big.price_label.full_text == de.price(1.5, "EUR")
    assert compact.stock_label.text() == de("out_of_stock") != en("out_of_stock")
    assert compact.stock_label.isVisibleTo(compact)


def test_the_others_are_listed_under_their_heading(qtbot):
    panel = _panel(qtbot)
    panel.show_recognition(_rec(Outcome.NOT_SURE, A, B, C))
    panel.show_recognition(_rec(Outcome.CONFIDENT, D, A, B))  # compact cards made before "also"
    big, *others = panel.cards
    panel.layout().activate()
    assert big.geometry().bottom() < panel.also.geometry().top()
    assert all(panel.also.geometry().bottom() < c.geometry().top() for c in others)


def test_scaled_thumbnails_are_few_and_the_ones_shown_lately(qtbot):
    fetched: list[str] = []
    thumbs = Thumbnails(lambda sku: fetched.append(sku) or PHOTO)
    first = thumbs.scaled("P-0", 64)
    assert first.width() <= 64 and first.height() == 64  # fitted, aspect kept
    for i in range(1, SCALED_KEPT + 5):
        thumbs.scaled("P-0", 64)  # shown again and again: kept
        thumbs.scaled(f"P-{i}", 64)
    assert len(thumbs._scaled) == SCALED_KEPT
    assert ("P-0", 64) in thumbs._scaled and ("P-1", 64) not in thumbs._scaled
    assert fetched.count("P-0") == 1  # decoded once, however often shown
    thumbs.clear()  # a new catalog: its photos may differ
    assert len(thumbs._scaled) == 0 and len(thumbs._cache) == 0
    thumbs.scaled("P-0", 64)
    assert fetched.count("P-0") == 2


def test_decoded_thumbnails_are_kept_by_last_use_too(qtbot):
    fetched: list[str] = []
    thumbs = Thumbnails(lambda sku: fetched.append(sku) or PHOTO)
    thumbs.get("P-0")
    for i in range(1, FULL_KEPT + 10):
        thumbs.get("P-0")  # the product on the card: never fetched again
        thumbs.get(f"P-{i}")
    assert len(thumbs._cache) == FULL_KEPT
    assert fetched.count("P-0") == 1
    assert "P-1" not in thumbs._cache and f"P-{FULL_KEPT + 9}" in thumbs._cache
    none = Thumbnails(lambda sku: None)
    assert none.get("X").isNull() and none.scaled("X", 64).isNull()  # no photo: a null pixmap


def test_tapping_a_refilled_card_or_a_recent_product_chooses_what_it_shows(qtbot):
    panel = _panel(qtbot)
    chosen: list[str] = []
    panel.productChosen.connect(chosen.append)
    panel.show_recognition(_rec(Outcome.CONFIDENT, A, B))
    panel.show_recognition(_rec(Outcome.CONFIDENT, C, D))
    qtbot.mouseClick(panel.cards[1], Qt.MouseButton.LeftButton)
    assert chosen == ["D-1"]
    # one card only: the products found before are offered under it, newest first
    panel.show_recognition(_rec(Outcome.CONFIDENT, D))
    recent = [b for b in panel._recent_buttons if b.isVisible()]
    assert [b.text() for b in recent] == ["Cheese", "Apple juice"]
    qtbot.mouseClick(recent[1], Qt.MouseButton.LeftButton)
    assert chosen == ["D-1", "P-A"]
    panel.show_recognition(_rec(Outcome.CONFIDENT, A, C, D))  # three cards: no room for them
    assert not any(b.isVisible() for b in panel._recent_buttons)
    assert not panel._recent_label.isVisible()
