"""Start the Qt application: the only entry point into the UI (called by ``aislelens kiosk``)."""

from __future__ import annotations

import faulthandler
import gc
import logging
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

from PySide6.QtCore import QCoreApplication, QEvent, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from ..services import Backend, backend_for
from ..settings import KioskSettings
from .main_window import KioskWindow
from .qtfix import guard_singleton_refcounts

log = logging.getLogger(__name__)


class KioskLogging:
    """The kiosk's log file and crash report, installed by :func:`setup_logging`."""

    def __init__(self, handler: logging.Handler, crash: TextIO) -> None:
        self.handler = handler
        self.crash = crash

    def close(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()
        faulthandler.disable()
        self.crash.close()


def setup_logging(data_dir: Path) -> KioskLogging:
    """Log SKUs, timings and states (never pixels) to ``data_dir/kiosk.log``, rotated; crash
    tracebacks (text only) to ``data_dir/crash.log``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(
        data_dir / "kiosk.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in root.handlers:  # the console keeps the verbosity -v asked for
        if existing.level == logging.NOTSET:
            existing.setLevel(root.level)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    crash = open(data_dir / "crash.log", "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
    faulthandler.enable(crash)
    return KioskLogging(handler, crash)


def run_kiosk(
    settings: KioskSettings,
    *,
    demo: bool,
    backend: Backend | None = None,
    t_start: float | None = None,
    exit_when_ready: bool = False,
) -> int:
    """Run the kiosk until staff exit; returns the exit status.

    ``exit_when_ready`` (benchmarks): quit once the first frame is shown and the catalog is
    loaded, printing the start-up times.
    """
    t_start = time.monotonic() if t_start is None else t_start
    logs = setup_logging(settings.data_dir)
    guard_singleton_refcounts()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("AisleLens")
    window = KioskWindow(settings, backend or backend_for(settings, demo), t_start=t_start)
    if exit_when_ready:

        def check() -> None:
            c = window.controller
            if c.first_frame_s is not None and c.ready_s is not None:
                print(
                    f'{{"first_frame_s": {c.first_frame_s:.3f}, "ready_s": {c.ready_s:.3f}}}',
                    flush=True,
                )
                window.staff_exit()
                app.quit()

        poll = QTimer(window)
        poll.timeout.connect(check)
        poll.start(5)
    window.start()
    status = app.exec()
    log.info("kiosk exited with status %d", status)
    dispose(window)
    logs.close()
    return status


def dispose(window: QWidget) -> None:
    """Delete the window's Qt objects now, while the application still exists.

    Left to interpreter shutdown, PySide6 may tear widgets down after their C++ side is gone
    and abort with a reference-count error; an orderly delete avoids that.
    """
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
