"""The Products tab: the filterable list beside the chosen product's pictures and enrol buttons."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from catalog.cli_common import plural
from catalog.enroll import enrolled_shots
from catalog.listing import ListedProduct

from ...sources import IMAGE_SUFFIXES
from ..widgets import Thumbnails, clear_layout
from .products import ProductTable, ProductTableModel, image_files, price_text
from .session import CatalogSession

#: the newest enrolled shots the detail pane shows
SHOWN_SHOTS = 9
SHOT_SIDE = 88
PICTURE_SIDE = 200
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ")"


def bgr_pixmap(image: np.ndarray, side: int) -> QPixmap:
    """An 8-bit BGR image (a photo or a camera frame) fitted in ``side`` pixels."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    qimage = QImage(image.data, w, h, image.strides[0], QImage.Format.Format_BGR888).copy()
    return QPixmap.fromImage(qimage).scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )


def shot_pixmap(path: Path, side: int = SHOT_SIDE) -> QPixmap:
    """A small picture of an enrolled shot read from its file (null when unreadable)."""
    image = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_4)
    return QPixmap() if image is None else bgr_pixmap(image, side)


class ProductDetail(QFrame):
    """The chosen product: its picture, figures and newest shots; photos dropped here are for
    it (``photosDropped(sku, paths)``)."""

    photosDropped = Signal(str, list)
    enrolRequested = Signal(str)
    cameraRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detail")
        self.setAcceptDrops(True)
        self.setMinimumWidth(340)
        self.sku: str | None = None
        self.picture = QLabel()
        self.picture.setFixedSize(PICTURE_SIDE, PICTURE_SIDE)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.name = QLabel()
        self.name.setObjectName("productName")
        self.name.setWordWrap(True)
        self.facts = QLabel()
        self.facts.setWordWrap(True)
        self.facts.setTextFormat(Qt.TextFormat.PlainText)
        self.shots_title = QLabel()
        self.shots = QGridLayout()
        self.shots.setSpacing(6)
        self.enrol_button = QPushButton("Enrol photos…")
        self.enrol_button.clicked.connect(self._ask_enrol)
        self.camera_button = QPushButton("Take photos with the camera…")
        self.camera_button.clicked.connect(self._ask_camera)
        self.camera_button.setVisible(False)
        self.hint = QLabel("Drop photos of the product on its row, or here, to enrol them.")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        box = QVBoxLayout(self)
        box.setContentsMargins(16, 16, 16, 16)
        box.addWidget(self.picture, 0, Qt.AlignmentFlag.AlignHCenter)
        for w in (self.name, self.facts, self.shots_title):
            box.addWidget(w)
        box.addLayout(self.shots)
        box.addStretch(1)
        box.addWidget(self.hint)
        buttons = QHBoxLayout()
        buttons.addWidget(self.enrol_button)
        buttons.addWidget(self.camera_button)
        box.addLayout(buttons)
        self.show_product(None, QPixmap(), [])

    def show_product(self, item: ListedProduct | None, picture: QPixmap, shots: list[Path]) -> None:
        clear_layout(self.shots)
        if item is None:
            self.sku = None
            self.picture.clear()
            self.name.setText("No product chosen")
            self.facts.setText("Choose a product in the list.")
            self.shots_title.setText("")
            self.enrol_button.setEnabled(False)
            self.camera_button.setEnabled(False)
            return
        p = item.product
        self.sku = p.sku
        self.picture.setPixmap(picture)
        self.name.setText(p.name)
        lines = [
            f"SKU {p.sku}",
            price_text(item) or "no price",
            p.aisle or "no aisle",
            " / ".join(x for x in (p.category, p.subcategory) if x) or "no category",
            f"{plural(item.catalog_photos, 'catalog photo')}, "
            f"{plural(item.enrolled_shots, 'enrolled shot')}, {item.embedded} embedded",
        ]
        self.facts.setText("\n".join(lines))
        newest = shots[-SHOWN_SHOTS:]
        self.shots_title.setText(
            f"Newest enrolled shots ({len(newest)} of {len(shots)})" if shots else "No shots yet"
        )
        for i, path in enumerate(reversed(newest)):
            label = QLabel()
            label.setFixedSize(SHOT_SIDE, SHOT_SIDE)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            pix = shot_pixmap(path)
            if pix.isNull():
                label.setText("missing")
            else:
                label.setPixmap(pix)
            label.setToolTip(str(path))
            self.shots.addWidget(label, i // 3, i % 3)
        self.enrol_button.setEnabled(True)
        self.camera_button.setEnabled(True)

    def _ask_enrol(self) -> None:
        if self.sku:
            self.enrolRequested.emit(self.sku)

    def _ask_camera(self) -> None:
        if self.sku:
            self.cameraRequested.emit(self.sku)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.sku and image_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = image_files(event)
        if not self.sku or not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.photosDropped.emit(self.sku, paths)


class ProductsPage(QWidget):
    """``enrol(sku, paths)`` when staff drop or choose photos for a product; ``camera(sku)``
    when they ask to take them with the camera."""

    enrol = Signal(str, list)
    camera = Signal(str)

    def __init__(self, session: CatalogSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.thumbnails = Thumbnails(self.session.thumbnail)
        self.model = ProductTableModel(self.thumbnails, self)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by name, SKU, category or aisle")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.count = QLabel()
        self.table = ProductTable(self.model)
        self.table.photosDropped.connect(self.enrol)
        self.detail = ProductDetail()
        self.detail.photosDropped.connect(self.enrol)
        self.detail.enrolRequested.connect(self.choose_photos)
        self.detail.cameraRequested.connect(self.camera)
        self.table.selectionModel().selectionChanged.connect(self._show_selected)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.count)
        left = QWidget()
        lbox = QVBoxLayout(left)
        lbox.setContentsMargins(0, 0, 0, 0)
        lbox.addLayout(top)
        lbox.addWidget(self.table, 1)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 1)
        split.setChildrenCollapsible(False)
        box = QVBoxLayout(self)
        box.addWidget(split)

    def set_camera_available(self, available: bool) -> None:
        self.detail.camera_button.setVisible(available)

    def reload(self) -> None:
        """Read the list again (after a job changed the catalog), keeping the selection."""
        chosen = self.table.selected_sku()
        listing = self.session.listing
        self.model.set_rows(listing.products() if listing is not None else [])
        self._update_count()
        if chosen:
            self.table.select_sku(chosen)
        self._show_selected()

    def _filter(self, text: str) -> None:
        listing = self.session.listing
        hits = listing.find(text) if listing is not None and text.strip() else []
        self.table.filter.set_text(text, hits)
        self._update_count()

    def _update_count(self) -> None:
        shown, total = self.table.filter.rowCount(), self.model.rowCount()
        self.count.setText(
            f"{shown} of {total} products" if shown != total else f"{total} products"
        )

    def _show_selected(self, *_: object) -> None:
        sku = self.table.selected_sku()
        row = self.model.row_of(sku) if sku else None
        if row is None or self.session.db is None:
            self.detail.show_product(None, QPixmap(), [])
            return
        item = self.model.item(row)
        shots = [s.path for s in enrolled_shots(self.session.db, item.product.sku)]
        self.detail.show_product(item, self.model.picture(item, PICTURE_SIDE), shots)

    def choose_photos(self, sku: str) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, f"Photos of {sku} to enrol", "", IMAGE_FILTER)
        if files:
            self.enrol.emit(sku, [Path(f) for f in files])
