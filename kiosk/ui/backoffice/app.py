"""Start the staff window (called by ``aislelens staff``)."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from catalog.settings import CatalogSettings

from ...services import CameraFactory
from ..app import dispose
from ..qtfix import guard_singleton_refcounts
from .window import BackofficeWindow


def run_backoffice(
    db: Path | None, settings: CatalogSettings, camera: CameraFactory | None = None
) -> int:
    """Show the window (on ``db`` when given) until staff close it; returns the exit status."""
    guard_singleton_refcounts()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("AisleLens staff")
    app.setStyle("Fusion")
    window = BackofficeWindow(settings, camera=camera)
    if db is not None:
        window.open_catalog(db)
    window.show()
    status = app.exec()
    dispose(window)
    return status
