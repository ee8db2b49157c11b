"""The right-hand panel of the scan page: instructions, results, "not sure", "no match"."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsOpacityEffect,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from catalog.types import Product

from ..i18n import Translator
from ..recognizer import Outcome, Recognition
from .widgets import ProductCard, Thumbnails, button_text, clear_layout

log = logging.getLogger(__name__)

#: how many candidates "Is it one of these?" offers, and "No match" before the categories
NOT_SURE_CANDIDATES = 5
NO_MATCH_CANDIDATES = 3
#: what the log calls each outcome (`results found sku=…`)
LOGGED = {"confident": "found", "not_sure": "not_sure", "no_match": "no_match"}
RESULT_STATES = tuple(LOGGED)


class ResultsPanel(QFrame):
    """Shows what the kiosk knows about the product in the frame.

    ``state`` is one of "idle", "busy", "confident", "not_sure", "no_match", "error" (tests
    and screenshots read it); ``faded`` is True while a result is shown for a scene that has
    changed and a new scan is on its way. ``productChosen(sku)`` when a card is tapped,
    ``categoryChosen(name)`` when a category button is. Every change of the result shown is
    logged as ``results <found|not_sure|no_match> sku=<top sku>`` or ``results cleared``.
    """

    productChosen = Signal(str)
    categoryChosen = Signal(str)

    def __init__(self, thumbs: Thumbnails, tr: Translator, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        self.thumbs = thumbs
        self.i18n = tr
        self.state = "idle"
        self.faded = False
        self.recognition: Recognition | None = None  # the one shown (re-rendered on retranslate)
        self.cards: list[ProductCard] = []
        self.category_buttons: list[QPushButton] = []
        self.recent: list[Product] = []
        self._categories: Callable[[], list[str]] = list
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(22, 22, 22, 22)
        self._layout.setSpacing(14)
        self.title = QLabel()
        self.title.setObjectName("title")
        self.title.setWordWrap(True)
        self.body = QLabel()
        self.body.setObjectName("subtitle")
        self.body.setWordWrap(True)
        self._content = QVBoxLayout()
        self._content.setSpacing(12)
        self._layout.addWidget(self.title)
        self._layout.addWidget(self.body)
        self._layout.addLayout(self._content)
        self._layout.addStretch(1)
        self._recent_box = QVBoxLayout()
        self._layout.addLayout(self._recent_box)
        self.show_idle()

    def set_category_source(self, categories: Callable[[], list[str]]) -> None:
        self._categories = categories

    def set_translator(self, tr: Translator) -> None:
        """Follow a language switch: what is shown is drawn again in the new language."""
        self.i18n = tr
        if self.state in RESULT_STATES and self.recognition is not None:
            self._render(self.recognition)
        elif self.state in ("idle", "busy", "error"):
            {"idle": self.show_idle, "busy": self.show_busy, "error": self.show_error}[self.state]()

    def _reset(self, state: str, title: str, body: str = "") -> None:
        if self.state in RESULT_STATES and state not in RESULT_STATES:
            log.info("results cleared")
        if state not in RESULT_STATES:
            self.recognition = None
        self._set_faded(False)
        self.state = state
        clear_layout(self._content)
        self.cards = []
        self.category_buttons = []
        self.title.setText(title)
        self.body.setText(body)
        self.body.setVisible(bool(body))

    def show_idle(self, title_key: str = "panel_idle_title") -> None:
        self._reset("idle", self.i18n(title_key), self.i18n("panel_idle_body"))
        self._show_recent()

    def show_busy(self) -> None:
        self._reset("busy", self.i18n("searching"))

    def show_error(self) -> None:
        self._reset("error", self.i18n("error"))

    def show_message(self, text: str, body: str = "") -> None:
        self._reset("message", text, body)

    def clear_results(self) -> None:
        """The scene the result was about is gone: back to the instructions."""
        if self.state in RESULT_STATES or self.state == "busy":
            self.show_idle()

    def fade(self) -> None:
        """Something else is in front of the camera now: dim the result until the new one."""
        if self.state in RESULT_STATES:
            self._set_faded(True)

    def _set_faded(self, on: bool) -> None:
        self.faded = on
        if on:
            effect = QGraphicsOpacityEffect(self)
            effect.setOpacity(0.3)
            self.setGraphicsEffect(effect)
        elif self.graphicsEffect() is not None:
            self.setGraphicsEffect(None)  # type: ignore[arg-type]

    def show_recognition(self, rec: Recognition) -> None:
        """Render one recognition in the state its outcome calls for."""
        self._render(rec)
        top = rec.best.product.sku if rec.best is not None else "-"
        log.info("results %s sku=%s", LOGGED[self.state], top)

    def _render(self, rec: Recognition) -> None:
        self._draw(rec)
        self.recognition = rec
        self._show_recent()

    def _draw(self, rec: Recognition) -> None:
        if rec.outcome is Outcome.CONFIDENT and rec.best is not None:
            self._reset("confident", self.i18n("found"))
            self._add_card(rec.best.product, "big")
            others = [m.product for m in rec.matches[1:3]]
            if others:
                also = QLabel(self.i18n("also"))
                also.setObjectName("subtitle")
                self._content.addWidget(also)
                for p in others:  # compact: the panel has room for them whatever the names
                    self._add_card(p, "compact")
            self._remember(rec.best.product)
        elif rec.outcome is Outcome.NOT_SURE and rec.matches:
            self._reset("not_sure", self.i18n("not_sure"), self.i18n("not_sure_hint"))
            for m in rec.matches[:NOT_SURE_CANDIDATES]:
                self._add_card(m.product, "compact")
        else:
            self._reset("no_match", self.i18n("no_match"))
            if rec.matches:
                closest = QLabel(self.i18n("closest"))
                closest.setObjectName("subtitle")
                self._content.addWidget(closest)
                for m in rec.matches[:NO_MATCH_CANDIDATES]:
                    self._add_card(m.product, "compact")
            if rec.matches:  # no room for the categories too: one way on to all of them
                b = QPushButton(button_text(self.i18n("browse_categories")))
                b.setObjectName("category")
                b.clicked.connect(partial(self._choose_category, ""))
                self._content.addWidget(b)
                self.category_buttons.append(b)
                return
            browse = QLabel(self.i18n("no_match_hint"))
            browse.setObjectName("subtitle")
            browse.setWordWrap(True)
            self._content.addWidget(browse)
            grid = QGridLayout()
            grid.setSpacing(10)
            for i, name in enumerate(self._categories()[:8]):
                b = QPushButton(button_text(name))
                b.setObjectName("category")
                b.clicked.connect(partial(self._choose_category, name))
                grid.addWidget(b, i // 2, i % 2)
                self.category_buttons.append(b)
            self._content.addLayout(grid)

    def _add_card(self, product: Product, size: str) -> None:
        card = ProductCard(product, self.thumbs, self.i18n, size=size, horizontal=True)
        card.activated.connect(self.productChosen)
        self._content.addWidget(card)
        self.cards.append(card)

    def _remember(self, product: Product) -> None:
        self.recent = [product, *[p for p in self.recent if p.sku != product.sku][:3]]

    def _show_recent(self) -> None:
        clear_layout(self._recent_box)
        shown = [p for p in self.recent if not any(c.product.sku == p.sku for c in self.cards)]
        # Only where there is room: on the idle panel, or under a single result card (three
        # cards fill the panel at 1280×800, and a squeezed card would overlap its neighbours).
        room = self.state == "idle" or (self.state == "confident" and len(self.cards) == 1)
        if not shown or not room:
            return
        label = QLabel(self.i18n("recent"))
        label.setStyleSheet("color: #9fb0c0; font-size: 20px;")
        self._recent_box.addWidget(label)
        row = QGridLayout()
        for i, p in enumerate(shown[:3]):
            b = QPushButton(button_text(p.name))
            b.setStyleSheet("min-height: 64px; font-size: 20px;")
            b.clicked.connect(partial(self._choose_product, p.sku))
            row.addWidget(b, 0, i)
        self._recent_box.addLayout(row)

    def _choose_category(self, name: str, _checked: bool = False) -> None:
        self.categoryChosen.emit(name)

    def _choose_product(self, sku: str, _checked: bool = False) -> None:
        self.productChosen.emit(sku)

    def wipe(self) -> None:
        """Forget results and history (idle reset)."""
        self.recent = []
        self.show_idle()
