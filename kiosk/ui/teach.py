"""Teach the kiosk a product (staff, behind the PIN): pick it, hold it up, save the shots.

The page has two steps in a stack: the product picker (a search page) and the capture, with
the live preview, the shots taken so far, the shots the product already has (each deletable)
and Save / Start again. Saving (enrol, embed, refit the store adaptation) runs on a thread of
its own, so the shopper side keeps scanning; ``taught(TeachReport)`` tells the window to pick
up the new catalog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from catalog import EnrolledShot, enrolled_shots, remove_enrolled
from catalog.types import Product

from ..camera_loop import Frame
from ..i18n import Translator
from ..services import KioskServices, describe_error
from ..teach import WANTED_SHOTS, ShotCollector, TeachReport, teach_product
from .pages import FinderSource, SearchPage
from .preview import PreviewWidget
from .recognition import Task
from .widgets import FitLabel, Thumbnails, clear_layout

log = logging.getLogger(__name__)

#: how many of a product's existing in-store shots the page lists (the newest)
LISTED_SHOTS = 8
SHOT_SIDE = 96


def _pixmap(image: np.ndarray, side: int = SHOT_SIDE) -> QPixmap:
    h, w = image.shape[:2]
    scale = side / max(h, w)
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))
    small = np.ascontiguousarray(small)
    qimage = QImage(
        small.data, small.shape[1], small.shape[0], small.strides[0], QImage.Format.Format_BGR888
    )
    return QPixmap.fromImage(qimage.copy())


class TeachPage(QWidget):
    """``back`` to the staff page; ``taught(TeachReport)`` once shots are saved and learnt."""

    back = Signal()
    taught = Signal(object)

    def __init__(
        self,
        thumbs: Thumbnails,
        tr: Callable[[], Translator],
        finder: FinderSource,
        services: Callable[[], KioskServices | None],
        *,
        guide_fraction: float,
        steady_s: float,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._tr = tr
        self._services = services
        self._finder = finder
        self.guide_fraction, self.steady_s = guide_fraction, steady_s
        self.product: Product | None = None
        self.collector: ShotCollector | None = None
        self.saving = False
        self.pool = QThreadPool(self)  # saving never waits behind, nor blocks, a scan
        self.pool.setMaxThreadCount(1)
        self.steps = QStackedWidget()
        self.picker = SearchPage(thumbs, tr, finder)
        self.picker.productChosen.connect(self.start)
        self.picker.back.connect(self.back)
        self.steps.addWidget(self.picker)
        self.steps.addWidget(self._capture_step(guide_fraction))
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.steps)
        self.retranslate()

    def _capture_step(self, guide_fraction: float) -> QWidget:
        page = QWidget()
        self.back_button = QPushButton()
        self.back_button.clicked.connect(self.show_picker)
        self.title = FitLabel(px=30, max_lines=2, css="font-weight: 700;")
        self.preview = PreviewWidget(guide_fraction)
        self.status = FitLabel(px=24, max_lines=3, css="color: #c9d3dc;")
        self.shots_row = QHBoxLayout()
        self.shots_row.setSpacing(8)
        self.shots_row.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.known_title = QLabel()
        self.known_title.setStyleSheet("font-size: 20px; color: #9fb0c0;")
        self.known_grid = QGridLayout()
        self.known_grid.setSpacing(8)
        self.delete_buttons: list[QPushButton] = []
        self.save_button = QPushButton()
        self.save_button.setObjectName("primary")
        self.save_button.clicked.connect(self.save)
        self.retake_button = QPushButton()
        self.retake_button.clicked.connect(self.retake)
        side = QVBoxLayout()
        side.setSpacing(12)
        side.addWidget(self.status)
        side.addLayout(self.shots_row)
        side.addWidget(self.known_title)
        side.addLayout(self.known_grid)
        side.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.retake_button)
        buttons.addWidget(self.save_button, 1)
        side.addLayout(buttons)
        head = QHBoxLayout()
        head.addWidget(self.back_button)
        head.addSpacing(20)
        head.addWidget(self.title, 1)
        body = QHBoxLayout()
        body.setSpacing(20)
        body.addWidget(self.preview, 3)
        body.addLayout(side, 2)
        outer = QVBoxLayout(page)
        outer.setContentsMargins(28, 20, 28, 20)
        outer.setSpacing(14)
        outer.addLayout(head)
        outer.addLayout(body, 1)
        return page

    # -- steps ---------------------------------------------------------------------------------
    def retranslate(self) -> None:
        tr = self._tr()
        self.picker.retranslate()
        self.picker.title.setText(tr("teach_pick"))
        self.back_button.setText("‹  " + tr("back"))
        self.save_button.setText(tr("teach_save"))
        self.retake_button.setText(tr("teach_retake"))
        for b in self.delete_buttons:
            b.setText(tr("teach_delete"))
        self._show_status()

    @property
    def capturing(self) -> bool:
        return self.steps.currentIndex() == 1 and self.collector is not None and not self.saving

    def show_picker(self) -> None:
        """Back to choosing a product; every shot taken is dropped."""
        self.collector = None
        self.product = None
        self.preview.clear()
        clear_layout(self.shots_row)
        self.steps.setCurrentIndex(0)

    def start(self, sku: str) -> None:
        """Capture shots of ``sku``: only frames from now on count."""
        finder = self._finder()
        product = finder.product(sku) if finder is not None else None
        if product is None:
            return
        self.product = product
        self.collector = ShotCollector(
            steady_s=self.steady_s, guide_fraction=self.guide_fraction, started=time.monotonic()
        )
        clear_layout(self.shots_row)
        self.preview.clear()
        self.title.setText(product.name)
        self.steps.setCurrentIndex(1)
        self._list_known()
        self._show_status()

    def retake(self) -> None:
        if self.product is not None:
            self.start(self.product.sku)

    def feed(self, frame: Frame) -> None:
        """A camera frame while this page shows (the window forwards them)."""
        if not self.capturing or self.collector is None:
            return
        self.preview.set_frame(frame.image)
        if self.collector.feed(frame):
            label = QLabel()
            label.setPixmap(_pixmap(self.collector.shots[-1]))
            label.setFixedSize(SHOT_SIDE, SHOT_SIDE)
            self.shots_row.addWidget(label)
            self._show_status()

    def _show_status(self, text: str = "") -> None:
        tr = self._tr()
        services = self._services()
        n = len(self.collector.shots) if self.collector else 0
        if text:
            self.status.setText(text)
        elif services is None or services.catalog_db is None:
            self.status.setText(tr("teach_unavailable"))
        elif self.product is not None:
            self.status.setText(
                tr("teach_hold", name=self.product.name)
                + "  "
                + tr("teach_progress", n=n, wanted=WANTED_SHOTS)
            )
        can_save = services is not None and services.catalog_db is not None
        self.save_button.setEnabled(bool(n) and can_save and not self.saving)
        self.retake_button.setEnabled(not self.saving)

    # -- the product's existing shots ----------------------------------------------------------
    def _list_known(self) -> None:
        clear_layout(self.known_grid)
        self.delete_buttons = []
        services = self._services()
        if self.product is None or services is None or services.catalog_db is None:
            self.known_title.setText("")
            return
        shots = enrolled_shots(services.catalog_db, self.product.sku)
        self.known_title.setText(self._tr()("teach_known", n=len(shots)))
        for i, shot in enumerate(shots[-LISTED_SHOTS:]):
            self._add_known(i, shot)

    def _add_known(self, i: int, shot: EnrolledShot) -> None:
        picture = QLabel()
        picture.setFixedSize(64, 64)
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        image = cv2.imread(str(shot.path), cv2.IMREAD_REDUCED_COLOR_4)
        if image is not None:
            picture.setPixmap(_pixmap(image, 64))
        delete = QPushButton(self._tr()("teach_delete"))
        delete.setStyleSheet("min-height: 64px; font-size: 18px; padding: 0 12px;")
        delete.clicked.connect(partial(self.delete, shot.image_id))
        self.delete_buttons.append(delete)
        cell = QHBoxLayout()
        cell.addWidget(picture)
        cell.addWidget(delete)
        self.known_grid.addLayout(cell, i // 2, i % 2)

    def delete(self, image_id: int, _checked: bool = False) -> None:
        """Remove one of the product's in-store shots (on the saving thread)."""
        services = self._services()
        if services is None or services.catalog_db is None or self.saving:
            return
        db = services.catalog_db
        self._run(lambda _t: remove_enrolled(db, [image_id]), lambda _n: self._after_change(None))

    # -- saving --------------------------------------------------------------------------------
    def save(self) -> None:
        services = self._services()
        if (
            services is None
            or services.catalog_db is None
            or self.product is None
            or self.collector is None
            or not self.collector.shots
        ):
            return
        db, sku, embedder = Path(services.catalog_db), self.product.sku, services.embedder
        shots = list(self.collector.shots)
        self.collector.clear()  # the frames leave the page with the job
        clear_layout(self.shots_row)
        self.preview.clear()
        self._run(lambda _t: teach_product(db, sku, shots, embedder), self._after_change)

    def _run(self, work: Callable[[Task], object], done: Callable[[object], None]) -> None:
        self.saving = True
        self._show_status(self._tr()("teach_saving"))
        task = Task(work)
        task.signals.done.connect(done)
        task.signals.error.connect(self._failed)
        self._task = task  # kept alive until it reports
        self.pool.start(task)

    def _after_change(self, report: object) -> None:
        self.saving = False
        if isinstance(report, TeachReport):
            if self.product is not None:  # ready for more shots of it (the others are saved)
                self.collector = ShotCollector(
                    steady_s=self.steady_s,
                    guide_fraction=self.guide_fraction,
                    started=time.monotonic(),
                )
            tr = self._tr()
            name = self.product.name if self.product else report.sku
            saved = tr("teach_saved", n=report.added, name=name, total=report.enrolled_total)
            if report.postponed:
                log.warning("taught %s, learning postponed: %s", report.sku, report.postponed)
                saved += " " + tr("teach_postponed", error=report.postponed)
            else:
                log.info(
                    "taught %s: %d shots (%d in all)",
                    report.sku,
                    report.added,
                    report.enrolled_total,
                )
            self._show_status(saved)
        else:  # a shot deleted: the shots being taken stay
            self._show_status()
        self._list_known()
        self.taught.emit(report)

    def _failed(self, exc: BaseException) -> None:
        self.saving = False
        log.warning("teaching failed: %s", describe_error(exc))
        self._show_status(self._tr()("teach_failed", error=describe_error(exc)))

    def wipe(self) -> None:
        """Forget the product and every shot (idle reset, leaving the staff page)."""
        self.picker.wipe()
        self.show_picker()

    def shutdown(self, timeout_ms: int = -1) -> bool:
        """Wait for a save in progress (it uses the model and the catalog the window is about
        to close); by default as long as it takes (it is one transaction per step)."""
        return self.pool.waitForDone(timeout_ms)

    def sizeHint(self) -> QSize:
        return QSize(1280, 800)
