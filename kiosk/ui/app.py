"""Start the Qt application: the only entry point into the UI (called by ``aislelens kiosk``)."""

from __future__ import annotations

import faulthandler
import gc
import logging
import signal
import sys
import threading
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

from PySide6.QtCore import QCoreApplication, QEvent, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from catalog.types import ProductFinder

from ..camera_loop import CameraState
from ..services import Backend, backend_for
from ..settings import KioskSettings
from ..supervision import Supervisor
from .main_window import KioskWindow
from .qtfix import guard_singleton_refcounts

log = logging.getLogger(__name__)

#: what :func:`run_kiosk` returns when the kiosk must start again to load a new release's model
#: (EX_TEMPFAIL): ``aislelens kiosk`` then restarts itself in place (kiosk/cli.py)
RESTART_STATUS = 75
#: a restart waits for the shopper's session to end, but no longer than this
RESTART_WAIT_S = 600


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
    run_for_s: float | None = None,
) -> int:
    """Run the kiosk until staff exit, SIGINT or SIGTERM; returns the exit status.

    ``exit_when_ready`` (benchmarks): quit once the first frame is shown and the catalog is
    loaded, printing the start-up times. ``run_for_s`` (tests): once ready, wake the scan page
    and run that long more (scanning as usual), then print the number of scans as JSON and quit.
    """
    t_start = time.monotonic() if t_start is None else t_start
    logs = setup_logging(settings.data_dir)
    guard_singleton_refcounts()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("AisleLens")
    window = KioskWindow(settings, backend or backend_for(settings, demo), t_start=t_start)
    restart = threading.Event()  # set when the kiosk quits to start again on a new model
    supervise(window, Supervisor(), restart)
    if not demo:
        confirm_release_when_ready(window, settings)
    metrics_server = export_metrics(window, settings)
    restart_for_new_model(app, window, restart)
    stop_on_signals(app, window)
    if run_for_s is not None:

        def finish() -> None:
            scans = len(window.controller.runner.latencies_ms)
            print(f'{{"scans": {scans}}}', flush=True)
            window.staff_exit()
            app.quit()

        def when_ready() -> None:
            if window.controller.ready_s is not None:
                wait.stop()
                window.wake()  # as a shopper touching the screen
                QTimer.singleShot(round(run_for_s * 1000), finish)

        wait = QTimer(window)
        wait.timeout.connect(when_ready)
        wait.start(20)
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
    if restart.is_set():  # (closing the window may also have quit with 0)
        status = RESTART_STATUS
    log.info("kiosk exited with status %d", status)
    if metrics_server is not None:
        from ..metrics import stop_serving

        stop_serving(metrics_server)
    dispose(window)
    logs.close()
    return status


def supervise(
    window: KioskWindow, supervisor: Supervisor, restarting: threading.Event | None = None
) -> None:
    """Tell systemd READY once the self-test scan passed, feed its watchdog from the GUI
    thread (a frozen window stops feeding it), and say STOPPING on the way out (RELOADING
    when ``restarting`` is set: the kiosk starts again in place)."""
    c = window.controller
    c.progress.connect(lambda stage, done, total: supervisor.status(f"{stage} {done}/{total}"))
    c.selfTestPassed.connect(supervisor.ready)
    c.selfTestFailed.connect(lambda why: supervisor.status(f"self-test failed: {why}"))
    c.startFailed.connect(lambda why: supervisor.status(f"start-up failed: {why}"))
    c.selfTestFailed.connect(lambda why: log.error("self-test scan failed: %s", why))

    def closing() -> None:
        if restarting is not None and restarting.is_set():
            supervisor.reloading("restarting to load the new model")
        else:
            supervisor.stopping()

    window.closing.connect(closing)
    if supervisor.watchdog_interval_s is not None:
        beat = QTimer(window)
        beat.timeout.connect(supervisor.alive)
        beat.start(max(100, round(supervisor.watchdog_interval_s * 1000)))
        supervisor.alive()


def confirm_release_when_ready(window: KioskWindow, settings: KioskSettings) -> None:
    """A release on probation (``aislelens update``) is good once its self-test scan passed;
    until then each start counts towards going back to the previous release."""
    from ..releases import UpdateState, confirm_ready

    def confirm(_status: str) -> None:
        try:
            outcome = confirm_ready(
                UpdateState(settings.data_dir / "updates"), settings.update.kiosk_id
            )
        except OSError as exc:
            log.warning("could not confirm the running release: %s", exc)
            return
        if outcome is not None:
            log.info("release %s confirmed: the kiosk is ready on it", outcome.release)

    window.controller.selfTestPassed.connect(confirm)


def restart_for_new_model(
    app: QApplication, window: KioskWindow, requested: threading.Event
) -> None:
    """A release changed the model bundle: quit the event loop to be started again on it, at
    once on the attract screen, else when the session ends (at most :data:`RESTART_WAIT_S`
    later). ``requested`` is set when the kiosk quits for that."""
    pending: list[str] = []

    def restart() -> None:
        if requested.is_set():
            return
        requested.set()
        log.warning("restarting to load the new model: %s", pending[0] if pending else "")
        window.staff_exit()
        app.exit(RESTART_STATUS)

    def needed(why: str) -> None:
        if pending:
            return
        pending.append(why)
        log.warning("%s: restarting at the end of this session", why)
        if window.stack.currentWidget() is window.attract:
            restart()
            return
        window.sessionReset.connect(restart)
        QTimer.singleShot(RESTART_WAIT_S * 1000, restart)

    window.controller.restartNeeded.connect(needed)


def export_metrics(window: KioskWindow, settings: KioskSettings) -> Any | None:
    """``[metrics] enabled``: serve the kiosk's Prometheus metrics on 127.0.0.1 (off by
    default, and then not even loaded: the kiosk opens no socket). Returns the server."""
    if not settings.metrics.enabled:
        return None
    from ..metrics import KioskMetrics

    metrics = KioskMetrics()
    try:
        server = metrics.serve(settings.metrics.port)
    except OSError as exc:  # a port taken: the kiosk runs on without its metrics
        log.error("metrics not served on 127.0.0.1:%d: %s", settings.metrics.port, exc)
        return None
    c = window.controller

    def on_catalog(finder: ProductFinder) -> None:
        if c.services is not None:
            metrics.set_catalog(finder, c.services.embedder.model_id)

    c.recognized.connect(
        lambda rec: metrics.observe(rec.outcome.value, rec.timings_ms, rec.from_cache)
    )
    c.recognitionFailed.connect(lambda _why: metrics.failures.inc())
    c.selfTestPassed.connect(lambda _status: metrics.ready.set(1))
    c.ready.connect(lambda services: on_catalog(services.finder))
    c.catalogChanged.connect(on_catalog)
    c.cameraStateChanged.connect(
        lambda state, _detail: metrics.camera.set(state == CameraState.LIVE.value)
    )
    c.throttleChanged.connect(lambda st: metrics.throttled.set(st.throttled))
    return server


def stop_on_signals(app: QApplication, window: KioskWindow) -> None:
    """SIGINT (Ctrl+C) and SIGTERM (systemd stop) close the kiosk as a staff exit does."""

    def stop(signum: int, _frame: object) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        window.staff_exit()
        app.quit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    # Python runs signal handlers between bytecodes: a short timer gives it the chance while
    # Qt's event loop waits in C++.
    tick = QTimer(window)
    tick.timeout.connect(lambda: None)
    tick.start(200)


def dispose(window: QWidget) -> None:
    """Delete the window's Qt objects now, while the application still exists.

    Left to interpreter shutdown, PySide6 may tear widgets down after their C++ side is gone
    and abort with a reference-count error; an orderly delete avoids that.
    """
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
