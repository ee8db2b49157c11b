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
        # What the outcomes show, built once and refilled per scan (building cards for every
        # scan took longer than the model), in the one order every outcome uses: shown or
        # hidden as each outcome calls for.
        self._big: ProductCard | None = None  # made on first use: cards need a product
        self._big_box = QVBoxLayout()
        self.also = self._subtitle()
        self.closest = self._subtitle()
        self._compact: list[ProductCard] = []
        self._compact_box = QVBoxLayout()
        self._compact_box.setSpacing(12)
        self.browse_all = QPushButton()
        self.browse_all.setObjectName("category")
        self.browse_all.clicked.connect(partial(self._choose_category, ""))
        self.hint = self._subtitle()
        self.hint.setWordWrap(True)
        self._grid_holder = QWidget()
        self._grid = QGridLayout(self._grid_holder)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(10)
        self._grid_names: tuple[str, ...] = ()
        self._grid_buttons: list[QPushButton] = []
        self._content.addLayout(self._big_box)
        self._content.addWidget(self.also)
        self._content.addWidget(self.closest)
        self._content.addLayout(self._compact_box)
        self._content.addWidget(self.browse_all)
        self._content.addWidget(self.hint)
        self._content.addWidget(self._grid_holder)
        self._slots: list[QWidget] = [
            self.also,
            self.closest,
            self.browse_all,
            self.hint,
            self._grid_holder,
        ]
        self._recent_label = QLabel()
        self._recent_label.setStyleSheet("color: #9fb0c0; font-size: 20px;")
        self._recent_buttons: list[QPushButton] = []
        self._recent_row = QGridLayout()
        for i in range(3):
            button = QPushButton()
            button.setStyleSheet("min-height: 64px; font-size: 20px;")
            button.clicked.connect(partial(self._choose_recent, i))
            self._recent_row.addWidget(button, 0, i)
            self._recent_buttons.append(button)
        self._recent_shown: list[Product] = []
        self._recent_box = QVBoxLayout()
        self._recent_box.addWidget(self._recent_label)
        self._recent_box.addLayout(self._recent_row)
        self._layout.addLayout(self._recent_box)
        self._wanted: list[QWidget] = []  # what the state being drawn shows
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

    @staticmethod
    def _subtitle() -> QLabel:
        label = QLabel()
        label.setObjectName("subtitle")
        label.hide()
        return label

    def _reset(self, state: str, title: str, body: str = "", *, settle: bool = True) -> None:
        """Start showing ``state``; what it shows is then :meth:`_want`-ed, and made the only
        thing visible by :meth:`_settle` (here, unless ``settle`` is False)."""
        if self.state in RESULT_STATES and state not in RESULT_STATES:
            log.info("results cleared")
        if state not in RESULT_STATES:
            self.recognition = None
        self._set_faded(False)
        self.state = state
        self.cards = []
        self.category_buttons = []
        self._wanted = []
        self.title.setText(title)
        self.body.setText(body)
        self.body.setVisible(bool(body))
        if settle:
            self._settle()

    def _want(self, widget: QWidget) -> None:
        self._wanted.append(widget)

    def _settle(self) -> None:
        """Show what is wanted and hide the rest, touching only what changes (showing a
        widget that was hidden costs a layout pass)."""
        wanted = {id(w) for w in self._wanted}
        for widget in [*self._slots, *([self._big] if self._big else []), *self._compact]:
            if (id(widget) in wanted) == widget.isHidden():
                widget.setVisible(id(widget) in wanted)

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
            self._reset("confident", self.i18n("found"), settle=False)
            self._show_big(rec.best.product)
            others = [m.product for m in rec.matches[1:3]]
            if others:
                self.also.setText(self.i18n("also"))
                self._want(self.also)
                for p in others:  # compact: the panel has room for them whatever the names
                    self._show_compact(p)
            self._remember(rec.best.product)
        elif rec.outcome is Outcome.NOT_SURE and rec.matches:
            self._reset("not_sure", self.i18n("not_sure"), self.i18n("not_sure_hint"), settle=False)
            for m in rec.matches[:NOT_SURE_CANDIDATES]:
                self._show_compact(m.product)
        else:
            self._reset("no_match", self.i18n("no_match"), settle=False)
            if rec.matches:  # no room for the categories too: one way on to all of them
                self.closest.setText(self.i18n("closest"))
                self._want(self.closest)
                for m in rec.matches[:NO_MATCH_CANDIDATES]:
                    self._show_compact(m.product)
                self.browse_all.setText(button_text(self.i18n("browse_categories")))
                self._want(self.browse_all)
                self.category_buttons = [self.browse_all]
                self._settle()
                return
            self.hint.setText(self.i18n("no_match_hint"))
            self._want(self.hint)
            self._fill_categories(tuple(self._categories()[:8]))
            self._want(self._grid_holder)
            self.category_buttons = list(self._grid_buttons)
        self._settle()

    def _show_big(self, product: Product) -> None:
        if self._big is None:
            self._big = self._new_card(product, "big")
            self._big_box.addWidget(self._big)
        else:
            self._big.show_product(product, self.i18n)
        self._want(self._big)
        self.cards.append(self._big)

    def _show_compact(self, product: Product) -> None:
        used = sum(1 for c in self.cards if c is not self._big)
        if used < len(self._compact):
            card = self._compact[used]
            card.show_product(product, self.i18n)
        else:
            card = self._new_card(product, "compact")
            self._compact_box.addWidget(card)
            self._compact.append(card)
        self._want(card)
        self.cards.append(card)

    def _new_card(self, product: Product, size: str) -> ProductCard:
        card = ProductCard(product, self.thumbs, self.i18n, size=size, horizontal=True)
        card.activated.connect(self.productChosen)
        return card

    def _fill_categories(self, names: tuple[str, ...]) -> None:
        """The category buttons of "no match", rebuilt only when the categories changed."""
        if names == self._grid_names:
            return
        clear_layout(self._grid)
        self._grid_buttons = []
        for i, name in enumerate(names):
            b = QPushButton(button_text(name))
            b.setObjectName("category")
            b.clicked.connect(partial(self._choose_category, name))
            self._grid.addWidget(b, i // 2, i % 2)
            self._grid_buttons.append(b)
        self._grid_names = names

    def _remember(self, product: Product) -> None:
        self.recent = [product, *[p for p in self.recent if p.sku != product.sku][:3]]

    def _show_recent(self) -> None:
        shown = [p for p in self.recent if not any(c.product.sku == p.sku for c in self.cards)]
        # Only where there is room: on the idle panel, or under a single result card (three
        # cards fill the panel at 1280×800, and a squeezed card would overlap its neighbours).
        room = self.state == "idle" or (self.state == "confident" and len(self.cards) == 1)
        self._recent_shown = shown[:3] if shown and room else []
        self._recent_label.setVisible(bool(self._recent_shown))
        if self._recent_shown:
            self._recent_label.setText(self.i18n("recent"))
        for i, button in enumerate(self._recent_buttons):
            if i < len(self._recent_shown):
                button.setText(button_text(self._recent_shown[i].name))
            button.setVisible(i < len(self._recent_shown))

    def _choose_recent(self, i: int, _checked: bool = False) -> None:
        if i < len(self._recent_shown):
            self.productChosen.emit(self._recent_shown[i].sku)

    def _choose_category(self, name: str, _checked: bool = False) -> None:
        self.categoryChosen.emit(name)

    def wipe(self) -> None:
        """Forget results and history (idle reset)."""
        self.recent = []
        self.show_idle()
