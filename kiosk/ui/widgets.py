"""Touch widgets: product cards, a Qt list model over products, card grids, long press."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QMouseEvent, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from catalog.types import Match, Product

from ..i18n import Translator
from . import theme

ProductRole = Qt.ItemDataRole.UserRole + 1
ScoreRole = Qt.ItemDataRole.UserRole + 2
AnyIndex = QModelIndex | QPersistentModelIndex


class ProductListModel(QAbstractListModel):
    """Adapts a list of products (or matches, with scores) from the services for views."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[tuple[Product, float | None]] = []

    def set_products(self, items: Sequence[Product | Match]) -> None:
        self.beginResetModel()
        self._rows = [(i.product, i.score) if isinstance(i, Match) else (i, None) for i in items]
        self.endResetModel()

    def clear(self) -> None:
        self.set_products([])

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        product, score = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return product.name
        if role == ProductRole:
            return product
        if role == ScoreRole:
            return score
        return None

    def product(self, row: int) -> Product:
        return self._rows[row][0]


class Thumbnails:
    """Decoded catalog thumbnails by SKU (catalog images only, never camera frames)."""

    def __init__(self, fetch: Callable[[str], bytes | None]) -> None:
        self._fetch = fetch
        self._cache: dict[str, QPixmap] = {}

    def clear(self) -> None:
        self._cache.clear()

    def get(self, sku: str) -> QPixmap:
        pix = self._cache.get(sku)
        if pix is None:
            pix = QPixmap()
            data = self._fetch(sku)
            if data:
                pix.loadFromData(data)
            if len(self._cache) > 400:
                self._cache.clear()
            self._cache[sku] = pix
        return pix


#: card size → (picture side, name, price, aisle font px); readable from a metre away
SIZES = {
    "big": (150, 30, 30, 21),
    "normal": (86, 23, 22, 18),
    "compact": (64, 21, 20, 0),  # five candidates one above the other
    "small": (110, 20, 20, 0),
}


class ProductCard(QFrame):
    """One product as a large touch card: picture, name, price, aisle."""

    activated = Signal(str)

    def __init__(
        self,
        product: Product,
        thumbs: Thumbnails,
        tr: Translator,
        *,
        size: str = "normal",
        horizontal: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.product = product
        big = size == "big"
        side, name_px, price_px, aisle_px = SIZES[size]
        border = theme.ACCENT if big else "#d7dee5"
        self.setObjectName("card")
        self.setStyleSheet(
            f"QFrame#card {{ background: {theme.CARD}; border-radius: 18px;"
            f" border: {6 if big else 2}px solid {border}; }}"
            f" QLabel {{ color: {theme.INK}; background: transparent; }}"
        )
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        pic = QLabel()
        pic.setFixedSize(side, side)
        pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        pix = thumbs.get(product.sku)
        if not pix.isNull():
            pic.setPixmap(
                pix.scaled(
                    QSize(side, side),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        self.name_label = QLabel(product.name)
        self.name_label.setWordWrap(True)
        self.name_label.setStyleSheet(f"font-size: {name_px}px; font-weight: 800;")
        price = QLabel(tr.price(product.price, product.currency))
        price.setStyleSheet(f"font-size: {price_px}px; font-weight: 700; color: #0b6b3a;")
        labels = [self.name_label, price]
        if product.aisle and aisle_px:
            aisle = QLabel(tr("where", aisle=product.aisle))
            aisle.setWordWrap(True)
            aisle.setStyleSheet(f"font-size: {aisle_px}px; color: {theme.MUTED};")
            labels.append(aisle)
        if not product.in_stock:
            out = QLabel(tr("out_of_stock"))
            out.setStyleSheet(f"color: {theme.WARN}; font-weight: 700;")
            labels.append(out)
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addStretch(1)
        for w in labels:
            text.addWidget(w)
            if not horizontal:
                w.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        text.addStretch(1)
        box = QHBoxLayout(self) if horizontal else QVBoxLayout(self)
        margin = 12 if big else 8
        box.setContentsMargins(margin, margin, margin, margin)
        box.setSpacing(14)
        box.addWidget(pic, 0, Qt.AlignmentFlag.AlignCenter)
        box.addLayout(text, 1)
        if horizontal:
            self.setMinimumHeight(side + 2 * margin + 4)
        else:
            self.setFixedWidth(side + 66)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            self.activated.emit(self.product.sku)
        super().mouseReleaseEvent(event)


class CardGrid(QScrollArea):
    """Cards for every row of a :class:`ProductListModel`, rebuilt when the model resets."""

    activated = Signal(str)

    def __init__(
        self,
        model: ProductListModel,
        thumbs: Thumbnails,
        tr: Callable[[], Translator],
        *,
        columns: int = 4,
        horizontal_cards: bool = False,
        size: str = "small",
        empty_text: Callable[[], str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._thumbs = thumbs
        self._tr = tr
        self._columns = columns
        self._horizontal_cards = horizontal_cards
        self._size = size
        self._empty_text = empty_text
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setSpacing(16)
        self._grid.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setWidget(self._inner)
        self.cards: list[ProductCard] = []
        model.modelReset.connect(self.rebuild)

    def rebuild(self) -> None:
        clear_layout(self._grid)
        self.cards = []
        tr = self._tr()
        if self.model.rowCount() == 0 and self._empty_text is not None:
            label = QLabel(self._empty_text())
            label.setWordWrap(True)
            label.setObjectName("subtitle")
            self._grid.addWidget(label, 0, 0)
        for row in range(self.model.rowCount()):
            card = ProductCard(
                self.model.product(row),
                self._thumbs,
                tr,
                size=self._size,
                horizontal=self._horizontal_cards,
            )
            card.activated.connect(self.activated)
            self._grid.addWidget(card, row // self._columns, row % self._columns)
            self.cards.append(card)
        self.verticalScrollBar().setValue(0)


class LongPressArea(QLabel):
    """A label that emits ``longPressed`` after being held for ``seconds`` (staff access)."""

    longPressed = Signal()

    def __init__(self, text: str, seconds: float, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(int(seconds * 1000))
        self._timer.timeout.connect(self.longPressed)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._timer.start()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._timer.stop()
        event.accept()


def button_text(text: str) -> str:
    """``text`` for a button label: a single "&" would otherwise become a shortcut marker."""
    return text.replace("&", "&&")


def clear_layout(layout: QVBoxLayout | QHBoxLayout | QGridLayout) -> None:
    """Remove and delete every widget in ``layout``."""
    while layout.count():
        item = layout.takeAt(0)
        if item is None:
            continue
        widget = item.widget()
        if widget is not None:
            # Hidden and detached now, deleted later: gone from the screen at once.
            widget.hide()
            widget.setParent(None)
            widget.deleteLater()
        elif item.layout() is not None:
            clear_layout(item.layout())  # type: ignore[arg-type]
