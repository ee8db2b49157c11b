"""Long work of the staff window off the GUI thread: one job at a time, with progress and Cancel.

A job is a plain function of a :class:`JobContext` run as a :class:`~kiosk.ui.recognition.Task`
on a one-thread pool: the library's progress bars become ``progress(stage, done, total)``
signals, and Cancel sets the flag that ``context.should_stop`` reads (only
``index_catalog`` asks it; the other library calls are single transactions that finish or
leave the catalog as it was). The value or the error comes back on the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from catalog.errors import CatalogError
from catalog.progress import ProgressBar, ProgressFactory
from models.errors import ModelError

from ...errors import KioskError
from ..recognition import Task
from .session import CatalogSession

log = logging.getLogger(__name__)

#: the open-file dialog's filter for labelled photo files (eval, calibrate)
LABELLED_PHOTOS = "CSV files with image and sku columns (*.csv)"
#: errors whose message is meant for people (one line naming the file, row or SKU)
EXPECTED = (CatalogError, ModelError, KioskError, OSError)


def one_line(exc: BaseException) -> str:
    """What the status line and the message box say about ``exc``."""
    text = str(exc) if isinstance(exc, EXPECTED) else f"{type(exc).__name__}: {exc}"
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


#: what the stages of the library's progress bars are called on screen
STAGES = {
    "import": "Reading the product file",
    "enroll": "Reading the photos",
    "embed": "Embedding photos",
    "index": "Adding to the search index",
    "build index": "Building the search index",
    "views": "Embedding synthetic views",
    "eval": "Searching the photos",
    "calibrate": "Searching the labelled photos",
}


def stage_name(stage: str) -> str:
    """What a stage of the library's progress bars is called on screen."""
    return STAGES.get(stage, stage)


#: at most this often a progress signal (an import of 100,000 rows must not flood the GUI)
PROGRESS_EVERY_S = 0.05


class _SignalBar:
    """A library progress bar (``update`` / ``close``) that reports through a task's signals."""

    def __init__(self, task: Task, total: int, stage: str) -> None:
        self._task, self._total, self._stage, self._done = task, total, stage, 0
        self._sent = time.monotonic()
        task.signals.progress.emit(stage, 0, total)

    def update(self, n: int = 1) -> None:
        self._done += n
        now = time.monotonic()
        if now - self._sent >= PROGRESS_EVERY_S or self._done >= self._total:
            self._sent = now
            self._task.signals.progress.emit(self._stage, self._done, self._total)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class JobContext:
    """What a job gets: a progress factory for the library and the Cancel flag."""

    progress: ProgressFactory
    should_stop: Callable[[], bool]


class JobRunner(QObject):
    """Runs one job at a time; ``started(title, cancellable)``, ``progress(stage, done,
    total)``, ``failed(message)`` and ``idle()`` (after every job, however it ended)."""

    started = Signal(str, bool)
    progress = Signal(str, int, int)
    failed = Signal(str)
    idle = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.pool.setObjectName("staff window jobs")
        self.title = ""
        self._task: Task | None = None
        self._done: Callable[[Any], None] | None = None
        self._stop = threading.Event()

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def cancelling(self) -> bool:
        return self._stop.is_set()

    def run(
        self,
        title: str,
        work: Callable[[JobContext], Any],
        done: Callable[[Any], None],
        *,
        cancellable: bool = False,
    ) -> bool:
        """Start ``work`` on the worker thread; ``done(value)`` on the GUI thread when it
        returns. False (and nothing started) while another job runs."""
        if self._task is not None:
            return False
        self._stop.clear()
        stop = self._stop.is_set

        def call(task: Task) -> Any:
            def bar(total: int, stage: str) -> ProgressBar:
                return _SignalBar(task, total, stage)

            return work(JobContext(bar, stop))

        task = Task(call)
        task.signals.progress.connect(self.progress)
        task.signals.done.connect(self._finished)
        task.signals.error.connect(self._errored)
        self._task, self._done, self.title = task, done, title
        self.started.emit(title, cancellable)
        self.pool.start(task)
        return True

    def cancel(self) -> None:
        """Ask the running job to stop (it keeps what it has committed)."""
        if self._task is not None:
            self._stop.set()

    def _finished(self, value: object) -> None:
        if self._task is None:  # shut down meanwhile
            return
        done = self._done
        self._task = self._done = None
        try:
            if done is not None:
                done(value)
        except Exception as exc:  # a bug in showing the result: say so, stay usable
            log.exception("showing the result of %s failed", self.title)
            self.failed.emit(one_line(exc))
        self.idle.emit()

    def _errored(self, exc: object) -> None:
        if self._task is None:
            return
        self._task = self._done = None
        if isinstance(exc, BaseException):
            if not isinstance(exc, EXPECTED):
                log.error("%s failed", self.title, exc_info=exc)
            self.failed.emit(one_line(exc))
        self.idle.emit()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel, then wait for the running job; True when the worker is idle. Its result,
        if it still sends one, is dropped: the window is going."""
        self._stop.set()
        self.pool.clear()
        idle = self.pool.waitForDone(timeout_ms)
        if idle:
            self._task = self._done = None
        return idle


class JobPage(QWidget):
    """A tab whose work runs on the window's :class:`JobRunner`, on the open catalog;
    ``update_buttons`` runs after every job."""

    def __init__(self, session: CatalogSession, jobs: JobRunner, parent: QWidget | None = None):
        super().__init__(parent)
        self.session, self.jobs = session, jobs
        jobs.idle.connect(self.update_buttons)

    @property
    def free(self) -> bool:
        """A catalog is open and no job runs: the page's buttons may start one."""
        return not self.jobs.busy and self.session.db is not None

    def update_buttons(self) -> None:
        """Enable what can be done now (pages override it)."""

    def ask_for_file(self, title: str, filter: str) -> Path | None:
        """A file staff pick in the open-file dialog (None when they cancel)."""
        name, _ = QFileDialog.getOpenFileName(self, title, "", filter)
        return Path(name) if name else None

    def choose_labelled_photos(self) -> Path | None:
        return self.ask_for_file("Labelled photos (image, sku)", LABELLED_PHOTOS)
