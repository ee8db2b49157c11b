"""Start the staff window (called by ``aislelens staff``)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from catalog.settings import CatalogSettings

from ...services import CameraFactory
from ..app import dispose
from ..qtfix import guard_singleton_refcounts
from .window import BackofficeWindow


def run_backoffice(
    db: Path | None,
    settings: CatalogSettings,
    camera: CameraFactory | None = None,
    *,
    exit_when_shown: bool = False,
) -> int:
    """Show the window (on ``db`` when given) until staff close it; returns the exit status.

    ``exit_when_shown`` (tests): once the product list is filled (at most 30 s), print the
    window's title, its product count and whether it has a camera as JSON, and quit."""
    guard_singleton_refcounts()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("AisleLens staff")
    app.setStyle("Fusion")
    window = BackofficeWindow(settings, camera=camera)
    if db is not None:
        window.open_catalog(db)
    window.show()
    if exit_when_shown:
        started = time.monotonic()

        def check() -> None:
            rows = window.products.model.rowCount()
            if rows or time.monotonic() - started > 30:
                shown = {"title": window.windowTitle(), "products": rows}
                print(json.dumps({**shown, "camera": window.camera is not None}), flush=True)
                window.close()
                app.quit()

        poll = QTimer(window)
        poll.timeout.connect(check)
        poll.start(50)
    status = app.exec()
    dispose(window)
    return status
