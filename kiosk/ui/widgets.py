"""Touch widgets: product cards, a Qt list model over products, card grids, long press."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QFont, QFontMetrics, QMouseEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QScroller,
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


#: decoded thumbnails kept (the catalog's small pictures, a few tens of kB each decoded)
FULL_KEPT = 400
#: scaled thumbnails kept (at most 150 × 150 px each): the cards shown lately, not the catalog
SCALED_KEPT = 32

K = TypeVar("K")


class _Recent(Generic[K]):
    """Pixmaps by key, at most ``kept`` of them: the least recently used goes first."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._items: OrderedDict[K, QPixmap] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K, make: Callable[[], QPixmap]) -> QPixmap:
        pix = self._items.get(key)
        if pix is None:
            pix = make()
            if len(self._items) >= self.kept:
                self._items.popitem(last=False)
            self._items[key] = pix
        else:
            self._items.move_to_end(key)
        return pix

    def clear(self) -> None:
        self._items.clear()


class Thumbnails:
    """Decoded catalog thumbnails by SKU (catalog images only, never camera frames), and the
    same fitted into squares for the cards; both kept by last use."""

    def __init__(self, fetch: Callable[[str], bytes | None]) -> None:
        self._fetch = fetch
        self._cache: _Recent[str] = _Recent(FULL_KEPT)
        self._scaled: _Recent[tuple[str, int]] = _Recent(SCALED_KEPT)

    def clear(self) -> None:
        self._cache.clear()
        self._scaled.clear()

    def get(self, sku: str) -> QPixmap:
        return self._cache.get(sku, lambda: self._decode(sku))

    def _decode(self, sku: str) -> QPixmap:
        pix = QPixmap()
        data = self._fetch(sku)
        if data:
            pix.loadFromData(data)
        return pix

    def scaled(self, sku: str, side: int) -> QPixmap:
        """The thumbnail fitted into a ``side``-pixel square (smoothly), or a null pixmap."""

        def fit() -> QPixmap:
            full = self.get(sku)
            if full.isNull():
                return full
            return full.scaled(
                QSize(side, side),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )

        return self._scaled.get((sku, side), fit)


def no_picture(label: QLabel, name: str, side: int) -> None:
    """What stands in for a product photo the catalog does not have: its initial, on grey."""
    label.setText(name[:1].upper() or "?")
    label.setStyleSheet(
        f"background: #e3e8ee; color: #7a8896; border-radius: 12px;"
        f" font-size: {side // 2}px; font-weight: 800;"
    )


def _break_word(word: str, fm: QFontMetrics, width: int) -> list[str]:
    """``word`` as pieces no wider than ``width``, each but the last ending in a hyphen."""
    if fm.horizontalAdvance(word) <= width:
        return [word]
    pieces, piece = [], ""
    for ch in word:
        if piece and fm.horizontalAdvance(piece + ch + "-") > width:
            pieces.append(piece + "-")
            piece = ""
        piece += ch
    return [*pieces, piece]


def wrap_lines(text: str, fm: QFontMetrics, width: int) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` (words too long for a
    line are hyphenated), measured with ``fm`` exactly as they will be drawn."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            pieces = _break_word(word, fm, width)
            for i, piece in enumerate(pieces):
                joined = f"{line} {piece}" if line and i == 0 else piece
                if line and (i > 0 or fm.horizontalAdvance(joined) > width):
                    lines.append(line)
                    line = piece
                else:
                    line = joined
        lines.append(line)
    return lines


class FitLabel(QLabel):
    """Text that always fits its width: wrapped, shrunk from ``px`` towards ``min_px`` until
    it takes at most ``max_lines`` lines, and a word too long for a line even then is
    hyphenated. Its height follows, so a layout never cuts it off. ``full_text`` is the text
    as given (``text()`` holds the line breaks)."""

    def __init__(
        self,
        text: str = "",
        *,
        px: int,
        min_px: int | None = None,
        max_lines: int = 2,
        css: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.full_text = text
        self._min_px_given = min_px
        self._px, self._min_px = px, min_px or max(14, round(px * 0.7))
        self._max_lines = max_lines
        self._css = css
        self._fitted: tuple[str, int] | None = None
        self._style = ""  # the style sheet last set: setting one costs a re-polish
        self._hint = QSize(0, 0)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self._apply(px, [text] if text else [])

    def setText(self, text: str) -> None:
        self.full_text = text
        self._fitted = None
        self._fit()

    def set_css(self, css: str) -> None:
        """Colour, weight: everything but the size, which is fitted."""
        self._css = css
        self._fitted = None
        self._fit()

    def configure(self, text: str, *, px: int, max_lines: int, css: str) -> None:
        """New text, largest size, line limit and style at once: fitted once."""
        self.full_text = text
        given = self._min_px_given
        self._px, self._min_px = px, min(given, px) if given else max(14, round(px * 0.7))
        self._max_lines = max_lines
        self._css = css
        self._fitted = None
        self._fit()

    def _font(self, px: int) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(px)
        return font

    def _apply(self, px: int, lines: list[str]) -> None:
        style = f"{self._css} font-size: {px}px;"
        if style != self._style:
            self.setStyleSheet(style)
            self._style = style
        fm = QFontMetrics(self._font(px))
        height = max(1, len(lines)) * fm.lineSpacing() + 2
        widest = max((fm.horizontalAdvance(line) for line in lines), default=0)
        self._hint = QSize(widest + 2, height)
        super().setText("\n".join(lines))
        self.setMinimumHeight(height)
        self.updateGeometry()

    def _fit(self) -> None:
        width = self.contentsRect().width()
        if width <= 8 or self._fitted == (self.full_text, width):
            return
        self._fitted = (self.full_text, width)
        self.ensurePolished()
        px, lines = self._px, [self.full_text]
        for px in range(self._px, self._min_px - 1, -1):
            lines = wrap_lines(self.full_text, QFontMetrics(self._font(px)), width)
            if len(lines) <= self._max_lines:
                break
        self._apply(px, lines)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def sizeHint(self) -> QSize:
        return self._hint

    def minimumSizeHint(self) -> QSize:
        return QSize(40, self._hint.height())


class FitButton(QPushButton):
    """A button whose label shrinks (down to ``min_px``) rather than be cut off; call
    :meth:`refit` after restyling it."""

    def __init__(self, text: str, *, min_px: int = 16, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self._min_px = min_px
        self._natural: QSize | None = None  # the size it asks for: at its full font size

    def setText(self, text: str) -> None:
        super().setText(text)
        self._natural = None
        self.updateGeometry()
        self.refit()

    def refit(self) -> None:
        self.setStyleSheet("")
        self.ensurePolished()
        self._natural = super().sizeHint()
        px = self.font().pixelSize()
        while px > self._min_px and super().sizeHint().width() > self.width():
            px -= 1
            self.setStyleSheet(f"font-size: {px}px;")

    def sizeHint(self) -> QSize:
        if self._natural is None:
            self.ensurePolished()
            self._natural = super().sizeHint()
        return self._natural

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.refit()

    def minimumSizeHint(self) -> QSize:
        return QSize(60, super().minimumSizeHint().height())


#: card size → (picture side, name, price, aisle font px); readable from a metre away
SIZES = {
    "big": (150, 30, 30, 21),
    "normal": (86, 23, 22, 18),
    "compact": (64, 21, 20, 0),  # five candidates one above the other
    "line": (44, 20, 18, 0),  # search results above the on-screen keyboard
    "small": (110, 20, 20, 0),
}


class ProductCard(QFrame):
    """One product as a large touch card: picture, name, price, aisle.

    :meth:`show_product` puts another product on the same card: the results panel keeps its
    cards and refills them, which costs a fraction of building new widgets for every scan.
    """

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
        self._thumbs = thumbs
        self._size = size
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
        self.picture = QLabel()
        self.picture.setFixedSize(side, side)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder = False  # the picture shows the initial instead of a photo
        lines = {"big": 3, "line": 1}.get(size, 2)
        self.name_label = FitLabel(px=name_px, max_lines=lines, css="font-weight: 800;")
        self.price_label = FitLabel(px=price_px, max_lines=1)
        labels: list[QLabel] = [self.name_label, self.price_label]
        self.aisle_label: FitLabel | None = None
        if aisle_px:
            self.aisle_label = FitLabel(px=aisle_px, css=f"color: {theme.MUTED};")
            labels.append(self.aisle_label)
        self.stock_label = QLabel()
        self.stock_label.setStyleSheet(f"color: {theme.WARN}; font-weight: 700;")
        labels.append(self.stock_label)
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
        box.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignCenter)
        box.addLayout(text, 1)
        if horizontal:
            self.setMinimumHeight(side + 2 * margin + 4)
        else:
            self.setFixedWidth(side + 66)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.show_product(product, tr)

    def show_product(self, product: Product, tr: Translator) -> None:
        """Show ``product`` on this card (the texts in ``tr``'s language)."""
        self.product = product
        side, _name_px, price_px, _aisle_px = SIZES[self._size]
        pix = self._thumbs.scaled(product.sku, side)
        if pix.isNull():
            no_picture(self.picture, product.name, side)
            self._placeholder = True
        else:
            if self._placeholder:
                self.picture.setText("")
                self.picture.setStyleSheet("")
                self._placeholder = False
            self.picture.setPixmap(pix)
        self.name_label.setText(product.name)
        if product.price is None:  # "Price at the shelf": a note, not a price
            self.price_label.configure(
                tr.price(None), px=max(16, price_px - 6), max_lines=2, css=f"color: {theme.MUTED};"
            )
        else:
            self.price_label.configure(
                tr.price(product.price, product.currency),
                px=price_px,
                max_lines=1,
                css="font-weight: 700; color: #0b6b3a;",
            )
        if self.aisle_label is not None:
            if product.aisle:
                self.aisle_label.setText(tr("where", aisle=product.aisle))
            self.aisle_label.setVisible(bool(product.aisle))
        if not product.in_stock:
            self.stock_label.setText(tr("out_of_stock"))
        self.stock_label.setVisible(not product.in_stock)

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
        # a finger drags the list and flicks it on (kinetic scrolling); a tap still taps a card
        QScroller.grabGesture(self.viewport(), QScroller.ScrollerGestureType.LeftMouseButtonGesture)
        self._inner = QWidget()
        self._grid = QGridLayout(self._inner)
        self._grid.setSpacing(8 if size == "line" else 16)
        if size == "line":
            self._grid.setContentsMargins(0, 0, 4, 0)
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
            # cards of a row share its height (the tallest card's), so a row looks even
            card.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
            self._grid.addWidget(card, row // self._columns, row % self._columns)
            self.cards.append(card)
        for r in range(self._grid.rowCount()):
            self._grid.setRowStretch(r, 0)
        self._grid.setRowStretch(self._grid.rowCount(), 1)  # rows keep their height, at the top
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
