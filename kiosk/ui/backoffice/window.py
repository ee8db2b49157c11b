"""The staff window: open or create a catalog, then its Products, Import, Index, Confusions and
Calibrate tabs, with one status line, progress bar and Cancel for the long work."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from catalog import EnrollItem, EnrollReport, enroll_frames, enroll_images
from catalog.errors import CatalogError
from catalog.settings import CatalogSettings

from ...services import CameraFactory
from .calibrate_page import CalibratePage
from .camera_dialog import CameraDialog
from .confusions_page import ConfusionsPage
from .import_page import ImportPage
from .index_page import IndexPage
from .jobs import JobContext, JobRunner, stage_name
from .products_page import ProductsPage
from .session import CatalogSession, EmbedderFactory, catalog_embedder

CATALOG_FILES = "Catalogs (*.db *.sqlite);;All files (*)"
STYLE = """
QLabel#heading { font-size: 22px; font-weight: 700; }
QLabel#hint { color: #5b6b7a; }
QLabel#summary { font-weight: 600; }
QLabel#productName { font-size: 18px; font-weight: 700; }
QLabel#error { color: #b3261e; font-weight: 600; }
QLabel#arrow { color: #5b6b7a; }
QFrame#detail { background: #f4f6f8; border-radius: 8px; }
QFrame#pair { background: #f4f6f8; border-radius: 8px; }
QPushButton#primary { font-weight: 700; }
"""


class WelcomePage(QWidget):
    """What the window shows before a catalog is open."""

    def __init__(self, window: BackofficeWindow) -> None:
        super().__init__()
        title = QLabel("AisleLens staff")
        title.setObjectName("heading")
        text = QLabel(
            "Open the store's catalog, or create a new one and import a product file into it."
        )
        text.setObjectName("hint")
        self.open_button = QPushButton("Open a catalog…")
        self.open_button.setObjectName("primary")
        self.open_button.clicked.connect(window.choose_catalog)
        self.new_button = QPushButton("Create a new catalog…")
        self.new_button.clicked.connect(window.choose_new_catalog)
        box = QVBoxLayout(self)
        box.addStretch(1)
        for w in (title, text, self.open_button, self.new_button):
            box.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        box.addStretch(2)


class BackofficeWindow(QMainWindow):
    """The whole staff window; ``embedders`` opens the model for index, eval and calibrate,
    ``camera`` (when there is one) the camera for taking photos of a product."""

    def __init__(
        self,
        settings: CatalogSettings | None = None,
        *,
        embedders: EmbedderFactory = catalog_embedder,
        camera: CameraFactory | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("AisleLens staff")
        self.setStyleSheet(STYLE)
        self.session = CatalogSession(settings or CatalogSettings.from_env(), embedders, self)
        self.jobs = JobRunner(self)
        self.products = ProductsPage(self.session)
        self.importer = ImportPage(self.session, self.jobs)
        self.indexer = IndexPage(self.session, self.jobs)
        self.confusions = ConfusionsPage(self.session, self.jobs)
        self.calibration = CalibratePage(self.session, self.jobs)
        self.tabs = QTabWidget()
        for page, name in (
            (self.products, "Products"),
            (self.importer, "Import"),
            (self.indexer, "Index"),
            (self.confusions, "Confusions"),
            (self.calibration, "Calibrate"),
        ):
            self.tabs.addTab(page, name)
        self.welcome = WelcomePage(self)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)
        self._build_menu()
        self._build_status()
        self.products.enrol.connect(self.enrol)
        self.camera = camera
        self.camera_dialog: CameraDialog | None = None
        self.products.set_camera_available(camera is not None)
        self.products.camera.connect(self.open_camera)
        self.session.opened.connect(self._opened)
        self.session.changed.connect(self.products.reload)
        self.jobs.started.connect(self._job_started)
        self.jobs.progress.connect(self._job_progress)
        self.jobs.failed.connect(self.show_error)
        self.jobs.idle.connect(self._job_idle)
        self.resize(1280, 800)

    # -- menu and status line ------------------------------------------------------------------
    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&Catalog")
        for text, keys, slot in (
            ("&New catalog…", QKeySequence.StandardKey.New, self.choose_new_catalog),
            ("&Open catalog…", QKeySequence.StandardKey.Open, self.choose_catalog),
            ("&Import a product file…", None, self._choose_import),
            ("&Quit", QKeySequence.StandardKey.Quit, self.close),
        ):
            action = QAction(text, self)
            if keys is not None:
                action.setShortcut(keys)
            action.triggered.connect(slot)
            menu.addAction(action)

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.message = QLabel("Open or create a catalog.")
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(260)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        bar.addWidget(self.message, 1)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)

    def say(self, text: str) -> None:
        """One line in the status bar."""
        self.message.setObjectName("")
        self.message.setStyleSheet("")
        self.message.setText(text)

    def show_error(self, text: str) -> None:
        """An error in one line: in red in the status bar, and in a message box."""
        self.message.setStyleSheet("color: #b3261e; font-weight: 600;")
        self.message.setText(f"Error: {text}")
        box = QMessageBox(QMessageBox.Icon.Warning, "AisleLens staff", text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not exec(): the window (and its tests) keep running
        self.error_box = box

    # -- the catalog ---------------------------------------------------------------------------
    def choose_catalog(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open a catalog", "", CATALOG_FILES)
        if name:
            self.open_catalog(Path(name))

    def choose_new_catalog(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Create a catalog", "store.db", CATALOG_FILES)
        if name:
            self.create_catalog(Path(name))

    def open_catalog(self, path: Path) -> bool:
        """Work on the catalog at ``path``; False (and the error shown) if it cannot be opened."""
        return self._switch(self.session.open, path, f"Opened {path}")

    def create_catalog(self, path: Path) -> bool:
        """Make an empty catalog at ``path`` (opens it as it is if it is one already)."""
        return self._switch(self.session.create, path, f"Created {path}: import a product file")

    def _switch(self, how: Callable[[Path], None], path: Path, message: str) -> bool:
        if self.jobs.busy:
            self.show_error(f"wait for {self.jobs.title.lower()} to finish first")
            return False
        try:
            how(path)
        except (CatalogError, OSError) as exc:
            self.show_error(str(exc))
            return False
        self.say(message)
        return True

    def _opened(self) -> None:
        db = self.session.require()
        self.setWindowTitle(f"AisleLens staff — {db.name}")
        self.stack.setCurrentWidget(self.tabs)
        self.products.reload()
        empty = self.products.model.rowCount() == 0
        self.tabs.setCurrentWidget(self.importer if empty else self.products)

    def _choose_import(self) -> None:
        if self.session.db is not None:
            self.tabs.setCurrentWidget(self.importer)
            self.importer.choose_file()

    # -- enrolling -----------------------------------------------------------------------------
    def enrol(self, sku: str, paths: list[Path]) -> None:
        """Enrol ``paths`` as in-store shots of ``sku`` (``catalog enroll --sku``)."""
        db, settings = self.session.require(), self.session.settings
        items = [EnrollItem(sku, Path(p).resolve(), row=i) for i, p in enumerate(paths, start=1)]

        def work(ctx: JobContext) -> EnrollReport:
            return enroll_images(db, items, settings=settings, progress=ctx.progress)

        self._enrol_job(sku, work)

    def open_camera(self, sku: str) -> None:
        """Take photos of ``sku`` with the camera; they are enrolled when staff say so."""
        if self.camera is None:
            return
        row = self.products.model.row_of(sku)
        name = self.products.model.item(row).product.name if row is not None else sku
        dialog = CameraDialog(sku, name, self.camera, self)
        dialog.accepted.connect(lambda: self.enrol_frames(sku, dialog.frames))
        dialog.finished.connect(self._camera_closed)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.camera_dialog = dialog
        dialog.open()
        dialog.start()

    def _camera_closed(self, _result: int) -> None:
        self.camera_dialog = None

    def enrol_frames(self, sku: str, frames: list[np.ndarray]) -> None:
        """Enrol camera frames for ``sku`` (saved beside the catalog, as the kiosk does)."""
        db, settings, kept = self.session.require(), self.session.settings, list(frames)
        if not kept:
            return

        def work(ctx: JobContext) -> EnrollReport:
            return enroll_frames(db, sku, kept, settings=settings)

        self._enrol_job(sku, work)

    def _enrol_job(self, sku: str, work: Callable[[JobContext], EnrollReport]) -> None:
        def done(report: EnrollReport) -> None:
            self.session.changed.emit()
            line = (
                f"Enrolled {report.added} photos for {sku} ({report.duplicates} already "
                f"enrolled, {len(report.issues)} rejected)"
                + ("; index to use them" if report.added else "")
            )
            if report.issues:
                self.show_error(f"{line}: {report.issues[0]}")
            else:
                self.say(line)

        if not self.jobs.run(f"Enrolling photos for {sku}", work, done):
            self.show_error(f"wait for {self.jobs.title.lower()} to finish first")

    # -- jobs ----------------------------------------------------------------------------------
    def _job_started(self, title: str, cancellable: bool) -> None:
        self.say(f"{title}…")
        self.progress.setRange(0, 0)  # busy until the first figures arrive
        self.progress.setVisible(True)
        self.cancel_button.setVisible(cancellable)
        self.cancel_button.setEnabled(cancellable)

    def _job_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(done, total))
        self.progress.setFormat(f"{stage_name(stage)} %v/%m")
        self.progress.setTextVisible(True)

    def cancel_job(self) -> None:
        self.jobs.cancel()
        self.cancel_button.setEnabled(False)
        self.say("Cancelling after the photos in hand; what is done is kept…")

    def _job_idle(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        if self.message.text().endswith("…"):
            self.say(f"{self.jobs.title}: done")

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop the camera and the running job (keeping what it committed) before the window
        goes."""
        if self.camera_dialog is not None:
            self.camera_dialog.reject()
        self.jobs.shutdown()
        self.session.close()
        super().closeEvent(event)
