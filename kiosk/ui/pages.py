"""The screens other than scanning: details, text search, browse, attract."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPropertyAnimation, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QGraphicsOpacityEffect,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from catalog.types import Product, ProductFinder

from ..i18n import Translator
from .keyboard import OnScreenKeyboard
from .widgets import (
    CardGrid,
    FitButton,
    FitLabel,
    ProductListModel,
    Thumbnails,
    button_text,
    clear_layout,
    no_picture,
)

PICTURE_CSS = "background: white; border-radius: 18px;"


#: where a page gets the current catalog (None while there is none, or the kiosk is closing)
FinderSource = Callable[[], ProductFinder | None]


def _header(title: QLabel, back: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(back)
    row.addSpacing(20)
    row.addWidget(title, 1)
    return row


class DetailsPage(QWidget):
    """One product: picture, price, where it is, description, similar and goes-well-with."""

    back = Signal()
    productChosen = Signal(str)

    def __init__(
        self, thumbs: Thumbnails, tr: Callable[[], Translator], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.thumbs = thumbs
        self._tr = tr
        self.product: Product | None = None
        self.back_button = QPushButton()
        self.back_button.clicked.connect(self.back)
        self.name = FitLabel(px=34, max_lines=2, css="font-weight: 700;")
        self.picture = QLabel()
        self.picture.setFixedSize(260, 260)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setStyleSheet(PICTURE_CSS)
        self.price = FitLabel(px=44, max_lines=1, css="font-weight: 800; color: #7ee2a8;")
        self.where = FitLabel(px=32, max_lines=2, css="font-weight: 700; color: #ffb000;")
        self.stock = QLabel()
        self.description = FitLabel(px=24, max_lines=5, css="color: #c9d3dc;")
        info = QVBoxLayout()
        info.setSpacing(10)
        for w in (self.price, self.where, self.stock, self.description):
            info.addWidget(w)
        info.addStretch(1)
        top = QHBoxLayout()
        top.setSpacing(30)
        top.addWidget(self.picture)
        top.addLayout(info, 1)
        self.similar_model = ProductListModel(self)
        self.pairs_model = ProductListModel(self)
        self.similar_title = QLabel()
        self.pairs_title = QLabel()
        for t in (self.similar_title, self.pairs_title):
            t.setStyleSheet("font-size: 26px; font-weight: 700;")
        self.similar = CardGrid(
            self.similar_model,
            thumbs,
            tr,
            columns=3,
            size="small",
            empty_text=lambda: self._tr()("nothing_here"),
        )
        self.pairs = CardGrid(
            self.pairs_model,
            thumbs,
            tr,
            columns=3,
            size="small",
            empty_text=lambda: self._tr()("nothing_here"),
        )
        for grid in (self.similar, self.pairs):
            grid.activated.connect(self.productChosen)
        lower = QGridLayout()
        lower.addWidget(self.similar_title, 0, 0)
        lower.addWidget(self.pairs_title, 0, 1)
        lower.addWidget(self.similar, 1, 0)
        lower.addWidget(self.pairs, 1, 1)
        lower.setRowStretch(1, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 20, 28, 20)
        outer.setSpacing(18)
        outer.addLayout(_header(self.name, self.back_button))
        outer.addLayout(top)
        outer.addLayout(lower, 1)
        self.retranslate()

    def retranslate(self) -> None:
        tr = self._tr()
        self.back_button.setText("‹  " + tr("back"))
        self.similar_title.setText(tr("similar"))
        self.pairs_title.setText(tr("goes_well"))
        if self.product is not None:
            self._fill_text(self.product)

    def _fill_text(self, p: Product) -> None:
        tr = self._tr()
        self.name.setText(p.name)
        self.price.setText(tr.price(p.price, p.currency))
        self.price.set_css(
            "font-weight: 800; color: #7ee2a8;" if p.price is not None else "color: #c9d3dc;"
        )
        self.where.setText(tr("where", aisle=p.aisle) if p.aisle else "")
        self.stock.setText(tr("in_stock") if p.in_stock else tr("out_of_stock"))
        self.description.setText(p.description)

    def show_product(self, finder: ProductFinder, sku: str) -> bool:
        """Fill the page for ``sku``; False when the catalog does not know it."""
        p = finder.product(sku)
        if p is None:
            return False
        self.product = p
        self._fill_text(p)
        pix = self.thumbs.get(sku)
        if pix.isNull():
            self.picture.clear()
            no_picture(self.picture, p.name, 260)
        else:
            self.picture.setStyleSheet(PICTURE_CSS)
            self.picture.setPixmap(
                pix.scaled(
                    QSize(240, 240),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        self.similar_model.set_products(finder.similar(sku, k=3))
        self.pairs_model.set_products(finder.goes_well_with(sku)[:3])
        for title, model, grid in (
            (self.similar_title, self.similar_model, self.similar),
            (self.pairs_title, self.pairs_model, self.pairs),
        ):  # a section with nothing in it is not shown at all
            title.setVisible(model.rowCount() > 0)
            grid.setVisible(model.rowCount() > 0)
        return True

    def wipe(self) -> None:
        self.product = None
        self.similar_model.clear()
        self.pairs_model.clear()


class SearchPage(QWidget):
    """Text search with the on-screen keyboard; results update as the shopper types.
    ``browseRequested`` when the shopper found nothing and wants the categories."""

    back = Signal()
    productChosen = Signal(str)
    browseRequested = Signal()

    def __init__(
        self,
        thumbs: Thumbnails,
        tr: Callable[[], Translator],
        finder: FinderSource,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._tr = tr
        self._finder = finder
        self.back_button = QPushButton()
        self.back_button.clicked.connect(self.back)
        self.title = QLabel()
        self.title.setObjectName("title")
        self.field = QLineEdit()
        self.field.setObjectName("searchField")  # lower than other fields: room for results
        self.model = ProductListModel(self)
        self.results = CardGrid(
            self.model, thumbs, tr, columns=2, size="line", horizontal_cards=True
        )
        self.results.activated.connect(self.productChosen)
        # no card yet: what to type, or, when nothing was found, a way on
        self.hint = QLabel()
        self.hint.setObjectName("subtitle")
        self.hint.setWordWrap(True)
        self.browse_button = QPushButton()
        self.browse_button.clicked.connect(self.browseRequested)
        self.clear_button = QPushButton()
        self.clear_button.clicked.connect(self.field.clear)
        empty_row = QHBoxLayout()
        empty_row.addWidget(self.hint, 1)
        empty_row.addWidget(self.clear_button)
        empty_row.addWidget(self.browse_button)
        self.empty = QWidget()
        self.empty.setLayout(empty_row)
        self.model.modelReset.connect(self._show_empty)
        self.keyboard = OnScreenKeyboard(self.field, tr())
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(150)
        self._debounce.timeout.connect(self.run_search)
        self.field.textChanged.connect(lambda _: self._debounce.start())
        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 20, 28, 20)
        outer.setSpacing(14)
        outer.addLayout(_header(self.title, self.back_button))
        outer.addWidget(self.field)
        outer.addWidget(self.empty)
        outer.addWidget(self.results, 1)
        outer.addWidget(self.keyboard)
        self.retranslate()

    def _show_empty(self) -> None:
        tr = self._tr()
        query = self.field.text().strip()
        nothing = self.model.rowCount() == 0
        self.empty.setVisible(nothing)
        self.results.setVisible(not nothing)
        self.hint.setText(tr("search_none", query=query) if query else tr("search_hint"))
        self.browse_button.setVisible(bool(query))
        self.clear_button.setVisible(bool(query))

    def retranslate(self) -> None:
        tr = self._tr()
        self.back_button.setText("‹  " + tr("back"))
        self.title.setText(tr("search_title"))
        self.field.setPlaceholderText(tr("search_placeholder"))
        self.browse_button.setText(button_text(tr("browse_categories")))
        self.clear_button.setText(tr("key_clear"))
        self.keyboard.set_language(tr)
        self.results.rebuild()
        self._show_empty()

    def run_search(self) -> None:
        query, finder = self.field.text().strip(), self._finder()
        found = finder.search_text(query, k=20) if (finder is not None and query) else []
        self.model.set_products(found)

    def wipe(self) -> None:
        self.field.clear()
        self._debounce.stop()
        self.model.clear()


class BrowsePage(QWidget):
    """Categories on the left, that category's products on the right."""

    back = Signal()
    productChosen = Signal(str)

    def __init__(
        self,
        thumbs: Thumbnails,
        tr: Callable[[], Translator],
        finder: FinderSource,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._tr = tr
        self._finder = finder
        self.category = ""
        self.back_button = QPushButton()
        self.back_button.clicked.connect(self.back)
        self.title = QLabel()
        self.title.setObjectName("title")
        self.category_buttons: dict[str, FitButton] = {}
        self._cats = QVBoxLayout()
        self._cats.setSpacing(10)
        self.model = ProductListModel(self)
        self.products = CardGrid(
            self.model,
            thumbs,
            tr,
            columns=4,
            size="small",
            empty_text=lambda: self._tr()("browse_pick"),
        )
        self.products.activated.connect(self.productChosen)
        cats = QWidget()
        cats.setFixedWidth(300)
        cats_box = QVBoxLayout(cats)
        cats_box.setContentsMargins(0, 0, 0, 0)
        cats_box.addLayout(self._cats)
        cats_box.addStretch(1)
        body = QHBoxLayout()
        body.setSpacing(20)
        body.addWidget(cats)
        body.addWidget(self.products, 1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(28, 20, 28, 20)
        outer.setSpacing(14)
        outer.addLayout(_header(self.title, self.back_button))
        outer.addLayout(body, 1)
        self.retranslate()

    def retranslate(self) -> None:
        tr = self._tr()
        self.back_button.setText("‹  " + tr("back"))
        self.title.setText(tr("browse_title") + (f": {self.category}" if self.category else ""))
        self.products.rebuild()

    def load(self, category: str = "") -> None:
        """Show the catalog's categories, and ``category``'s products when given."""
        finder = self._finder()
        clear_layout(self._cats)
        self.category_buttons = {}
        for name in finder.categories() if finder is not None else []:
            b = FitButton(button_text(name))
            b.setObjectName("category")
            b.clicked.connect(lambda _=False, n=name: self.open_category(n))
            self._cats.addWidget(b)
            self.category_buttons[name] = b
        self.open_category(category)

    def open_category(self, category: str) -> None:
        self.category = category
        for name, b in self.category_buttons.items():
            b.setObjectName("primary" if name == category else "category")
            b.style().unpolish(b)
            b.style().polish(b)
            b.refit()
        self.model.set_products(
            finder.browse(category) if (finder := self._finder()) is not None and category else []
        )
        self.retranslate()

    def wipe(self) -> None:
        self.category = ""
        self.model.clear()


class AttractPage(QWidget):
    """Shown after the idle timeout: invites the next shopper; any touch starts a session."""

    touched = Signal()

    def __init__(self, tr: Callable[[], Translator], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tr = tr
        self.hero = QLabel()
        self.hero.setObjectName("hero")
        self.hero.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body = QLabel()
        self.body.setObjectName("heroBody")
        self.body.setWordWrap(True)
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.touch = QLabel()
        self.touch.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.touch.setStyleSheet(
            "font-size: 34px; font-weight: 700; color: #0f1720; background: #ffb000;"
            " border-radius: 40px; padding: 22px 48px;"
        )
        self.showcase = QHBoxLayout()
        self.showcase.setSpacing(40)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(80, 60, 80, 60)
        outer.addStretch(1)
        outer.addWidget(self.hero)
        outer.addSpacing(20)
        outer.addWidget(self.body)
        outer.addSpacing(40)
        outer.addLayout(self.showcase)
        outer.addSpacing(50)
        outer.addWidget(self.touch, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(1)
        effect = QGraphicsOpacityEffect(self.touch)
        self.touch.setGraphicsEffect(effect)
        self._pulse = QPropertyAnimation(effect, b"opacity", self)
        self._pulse.setDuration(1400)
        self._pulse.setKeyValueAt(0, 1.0)
        self._pulse.setKeyValueAt(0.5, 0.45)
        self._pulse.setKeyValueAt(1, 1.0)
        self._pulse.setLoopCount(-1)
        self.retranslate()

    def retranslate(self) -> None:
        tr = self._tr()
        self.hero.setText(tr("attract_title"))
        self.body.setText(tr("attract_body"))
        self.touch.setText(tr("attract_touch"))

    def set_showcase(self, pixmaps: list) -> None:
        clear_layout(self.showcase)
        self.showcase.addStretch(1)
        for pix in pixmaps:
            if pix.isNull():  # a product without a photo is no advert
                continue
            label = QLabel()
            label.setFixedSize(196, 196)  # the 130 px picture's corners stay inside the circle
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setStyleSheet("background: #fafafa; border-radius: 98px;")  # the photos' white
            label.setPixmap(
                pix.scaled(
                    QSize(130, 130),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
            self.showcase.addWidget(label)
        self.showcase.addStretch(1)

    def showEvent(self, event) -> None:
        self._pulse.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self._pulse.stop()
        super().hideEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.touched.emit()
        event.accept()
