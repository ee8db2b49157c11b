"""The product list: a Qt table model over the catalog listing, a text filter, and photo drops.

Dropping image files on a product's row (or on the detail pane beside it) asks to enrol them for
that product; the window runs the enrolment.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from catalog.listing import ListedProduct

from ...sources import IMAGE_SUFFIXES
from ..widgets import Thumbnails

AnyIndex = QModelIndex | QPersistentModelIndex
THUMB = 56
COLUMNS = ("", "Name", "SKU", "Price", "Aisle", "Catalog photos", "Enrolled shots", "Embedded")
PICTURE, NAME, SKU, PRICE, AISLE, PHOTOS, SHOTS, EMBEDDED = range(len(COLUMNS))
NUMERIC = (PRICE, PHOTOS, SHOTS, EMBEDDED)
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 1  # the text the filter looks in


def image_files(event: QDropEvent | QDragEnterEvent | QDragMoveEvent) -> list[Path]:
    """The local image files a drag carries (other files and URLs are ignored)."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
    return [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]


def placeholder(name: str, side: int) -> QPixmap:
    """What stands in for a product without a catalog photo: its initial on grey."""
    pix = QPixmap(side, side)
    pix.fill(QColor("#e3e8ee"))
    painter = QPainter(pix)
    font = painter.font()
    font.setPixelSize(side // 2)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor("#7a8896"))
    painter.drawText(pix.rect(), Qt.AlignmentFlag.AlignCenter, name[:1].upper() or "?")
    painter.end()
    return pix


def picture_of(thumbnails: Thumbnails, sku: str, name: str, side: int) -> QPixmap:
    """The product's catalog thumbnail fitted in ``side`` pixels, else its placeholder."""
    full = thumbnails.get(sku)
    if full.isNull():
        return placeholder(name, side)
    return full.scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


def price_text(item: ListedProduct) -> str:
    p = item.product
    return "" if p.price is None else f"{p.price:.2f} {p.currency}"


class ProductTableModel(QAbstractTableModel):
    """Adapts the listing's :class:`ListedProduct` rows; pictures come from ``thumbnails``."""

    def __init__(self, thumbnails: Thumbnails, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self._rows: list[ListedProduct] = []
        self._scaled: dict[str, QPixmap] = {}

    def set_rows(self, rows: list[ListedProduct]) -> None:
        self.beginResetModel()
        self._rows = rows
        self._scaled.clear()
        self.thumbnails.clear()
        self.endResetModel()

    def item(self, row: int) -> ListedProduct:
        return self._rows[row]

    def row_of(self, sku: str) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.product.sku == sku), None)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def picture(self, item: ListedProduct, side: int = THUMB) -> QPixmap:
        key = f"{item.product.sku}@{side}"
        pix = self._scaled.get(key)
        if pix is None:
            pix = picture_of(self.thumbnails, item.product.sku, item.product.name, side)
            self._scaled[key] = pix
        return pix

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        item, col = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DecorationRole and col == PICTURE:
            return self.picture(item)
        if role == Qt.ItemDataRole.DisplayRole:
            p = item.product
            return {
                NAME: p.name,
                SKU: p.sku,
                PRICE: price_text(item),
                AISLE: p.aisle,
                PHOTOS: str(item.catalog_photos),
                SHOTS: str(item.enrolled_shots),
                EMBEDDED: f"{item.embedded} of {item.catalog_photos + item.enrolled_shots}",
            }.get(col)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == SEARCH_ROLE:
            p = item.product
            return " ".join((p.name, p.sku, p.category, p.subcategory, p.aisle))
        if role == Qt.ItemDataRole.ToolTipRole and col == PICTURE:
            return "Drop photos of this product here to enrol them"
        return None


def folded(text: str) -> str:
    """``text`` without accents and case, for matching what staff type ("kase": Käse)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class ProductFilter(QSortFilterProxyModel):
    """Rows the catalog's text search finds for what was typed (words, inner words,
    misspellings: ``hits``), and rows whose name, SKU, category or aisle contain every word
    typed (any case, any accents)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self._hits: frozenset[str] = frozenset()

    def set_text(self, text: str, hits: Iterable[str] = ()) -> None:
        self.beginFilterChange()
        self._words = folded(text).split()
        self._hits = frozenset(hits)
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:
        if not self._words:
            return True
        model = self.sourceModel()
        assert isinstance(model, ProductTableModel)
        if model.item(source_row).product.sku in self._hits:
            return True
        index = model.index(source_row, PICTURE, source_parent)
        text = folded(str(model.data(index, SEARCH_ROLE) or ""))
        return all(w in text for w in self._words)


class ProductTable(QTableView):
    """The list; ``photosDropped(sku, paths)`` when image files are dropped on a row."""

    photosDropped = Signal(str, list)

    def __init__(self, model: ProductTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.products = model
        self.filter = ProductFilter(self)
        self.filter.setSourceModel(model)
        self.setModel(self.filter)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setShowGrid(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(THUMB + 8)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        for col, width in ((PICTURE, THUMB + 12), (SKU, 110), (PRICE, 90), (AISLE, 150)):
            self.setColumnWidth(col, width)
        for col in (PHOTOS, SHOTS, EMBEDDED):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)

    def sku_at(self, row: int) -> str:
        """The SKU of the row shown at ``row`` (after filtering)."""
        source = self.filter.mapToSource(self.filter.index(row, 0))
        return self.products.item(source.row()).product.sku

    def selected_sku(self) -> str | None:
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        return self.sku_at(rows[0].row()) if rows else None

    def select_sku(self, sku: str) -> None:
        row = self.products.row_of(sku)
        if row is None:
            return
        shown = self.filter.mapFromSource(self.products.index(row, 0))
        if shown.isValid():
            self.selectRow(shown.row())
            self.scrollTo(shown)

    def _row_under(self, event: QDropEvent | QDragMoveEvent) -> int | None:
        index = self.indexAt(event.position().toPoint())
        return index.row() if index.isValid() else None

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        row = self._row_under(event)
        if row is None or not image_files(event):
            event.ignore()
            return
        self.selectRow(row)  # the product the photos will go to
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        row, paths = self._row_under(event), image_files(event)
        if row is None or not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.photosDropped.emit(self.sku_at(row), paths)
