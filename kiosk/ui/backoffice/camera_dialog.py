"""Photos of one product from a camera (``aislelens staff --camera SOURCE``), to enrol.

The camera runs on the kiosk's own :class:`~kiosk.ui.camera_thread.CameraThread`; each *Take a
photo* keeps a copy of the frame shown, and *Enrol* hands the photos taken to the window,
which enrols them with :func:`catalog.enroll_frames` (as JPEGs under ``enrolled/<sku>/`` beside
the catalog, as the kiosk's own teaching does). Cancel keeps nothing.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...services import CameraFactory
from ..camera_thread import CameraThread
from .products_page import SHOT_SIDE, bgr_pixmap

PREVIEW_SIDE = 560


class CameraDialog(QDialog):
    """Live preview, Take a photo, the photos taken, Enrol / Cancel; ``frames`` on accept."""

    def __init__(
        self, sku: str, name: str, camera: CameraFactory, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Photos of {name} ({sku})")
        self.sku = sku
        self.frames: list[np.ndarray] = []
        self.latest: np.ndarray | None = None
        self.camera = CameraThread(
            camera, fps=15.0, stall_timeout_s=3.0, reconnect_interval_s=2.0, parent=self
        )
        self.camera.frameReady.connect(self._on_frame)
        self.camera.stateChanged.connect(self._on_state)
        self.preview = QLabel("Starting the camera…")
        self.preview.setFixedSize(PREVIEW_SIDE, PREVIEW_SIDE * 3 // 4)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setStyleSheet("background: #1b2633; color: #f2f5f8;")
        self.state = QLabel("")
        self.state.setObjectName("hint")
        self.taken = QHBoxLayout()
        self.taken.setAlignment(Qt.AlignmentFlag.AlignLeft)
        self.take_button = QPushButton("Take a photo")
        self.take_button.setEnabled(False)
        self.take_button.clicked.connect(self.take)
        self.enrol_button = QPushButton("Enrol the photos")
        self.enrol_button.setObjectName("primary")
        self.enrol_button.setEnabled(False)
        self.enrol_button.clicked.connect(self.accept)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(self.reject)
        hint = QLabel("Hold the product in front of the camera; turn it a little between photos.")
        hint.setObjectName("hint")
        buttons = QHBoxLayout()
        buttons.addWidget(self.take_button)
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.enrol_button)
        box = QVBoxLayout(self)
        for w in (hint, self.preview, self.state):
            box.addWidget(w)
        box.addLayout(self.taken)
        box.addLayout(buttons)
        self.finished.connect(self._stop)

    def start(self) -> None:
        self.camera.start_camera()

    def _on_frame(self) -> None:
        frame = self.camera.take()
        if frame is None:
            return
        self.latest = frame.image
        self.preview.setPixmap(bgr_pixmap(frame.image, PREVIEW_SIDE))
        self.take_button.setEnabled(True)

    def _on_state(self, state: str, detail: str) -> None:
        self.state.setText(f"Camera {state}" + (f": {detail}" if detail else ""))
        if state != "live":
            self.take_button.setEnabled(False)

    def take(self) -> None:
        """Keep the frame shown now."""
        if self.latest is None:
            return
        self.frames.append(self.latest.copy())
        thumb = QLabel()
        thumb.setPixmap(bgr_pixmap(self.frames[-1], SHOT_SIDE))
        self.taken.addWidget(thumb)
        self.enrol_button.setEnabled(True)
        self.enrol_button.setText(f"Enrol the {len(self.frames)} photos")

    def _stop(self, _result: int = 0) -> None:
        self.camera.stop()
        self.latest = None

    def closeEvent(self, event: QCloseEvent) -> None:
        self._stop()
        super().closeEvent(event)
