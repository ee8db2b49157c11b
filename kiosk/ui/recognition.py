"""Recognition off the GUI thread: ``QRunnable`` jobs on a one-thread pool, stale ones dropped.

Every request gets an id; only the newest id's result reaches the screen. A job that is still
queued when a newer request arrives never runs the model at all, and a result that arrives for
an older id is dropped. The start-up loader (model and catalog) runs on the same pool, so the
GUI thread never loads or runs the model.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..recognizer import Recognition, Recognizer
from ..services import describe_error

log = logging.getLogger(__name__)

#: how much nicer than the GUI and camera threads the model's thread runs (Linux). 0: the
#: same. At +4 the scan's tail waited on the preview: in alternating runs of
#: `bench/bench_kiosk.py --sizes 10000` on a quiet machine, end to end p95 was 13.1-13.4 ms at
#: +4 and 11.7-12.6 ms at 0, with the preview at 29-30 fps either way (one frame is scaled
#: once, 0.9 ms, so it does not need the priority)
WORKER_NICENESS = 0
_thread_state = threading.local()


def lower_this_thread() -> None:
    """Renice the calling pool thread once (per-thread niceness is a Linux feature)."""
    if not WORKER_NICENESS or getattr(_thread_state, "lowered", False):
        return
    _thread_state.lowered = True
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not permitted: run as is
        pass


class _JobSignals(QObject):
    finished = Signal(int, object)  # request id, Recognition
    failed = Signal(int, str)


class RecognitionJob(QRunnable):
    """Recognise one frame unless a newer request superseded it before it started."""

    def __init__(
        self,
        request_id: int,
        frame: np.ndarray,
        recognizer: Recognizer,
        is_current: Callable[[int], bool],
        signals: _JobSignals,
    ) -> None:
        super().__init__()
        self.request_id = request_id
        self._frame: np.ndarray | None = frame
        self._recognizer = recognizer
        self._is_current = is_current
        self._signals = signals

    def run(self) -> None:
        lower_this_thread()
        frame, self._frame = self._frame, None  # hold the pixels no longer than needed
        if frame is None or not self._is_current(self.request_id):
            return
        try:
            result = self._recognizer.recognize(frame)
        except Exception as exc:  # reported on screen as a friendly error
            log.error("recognition failed: %s", describe_error(exc))
            self._signals.failed.emit(self.request_id, describe_error(exc))
            return
        finally:
            del frame
        self._signals.finished.emit(self.request_id, result)


class Task(QRunnable):
    """Run any callable on the pool and report its value or its exception."""

    class Signals(QObject):
        done = Signal(object)
        error = Signal(object)
        progress = Signal(str, int, int)
        step = Signal(object)  # an intermediate result

    def __init__(self, fn: Callable[[Task], Any]) -> None:
        super().__init__()
        self.signals = Task.Signals()
        self._fn = fn

    def run(self) -> None:
        lower_this_thread()
        try:
            value = self._fn(self)
        except Exception as exc:
            self.signals.error.emit(exc)
        else:
            self.signals.done.emit(value)


class RecognitionRunner(QObject):
    """Submits frames for recognition; emits only the newest request's result.

    ``finished(Recognition, frame_time)``: ``frame_time`` is the monotonic time the frame was
    read, so the receiver can measure end-to-end latency.
    """

    finished = Signal(object, float)
    failed = Signal(str)
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.pool.setObjectName("recognition")
        self.recognizer: Recognizer | None = None
        self._latest = 0
        self._frame_times: dict[int, float] = {}
        self._signals = _JobSignals(self)
        self._signals.finished.connect(self._on_finished)
        self._signals.failed.connect(self._on_failed)
        self.latencies_ms: deque[float] = deque(maxlen=200)
        self.dropped = 0

    @property
    def busy(self) -> bool:
        return bool(self._frame_times)

    def is_current(self, request_id: int) -> bool:
        return request_id == self._latest

    def submit(self, frame: np.ndarray, frame_time: float) -> int:
        """Queue ``frame``; returns its request id. Older queued requests become stale."""
        if self.recognizer is None:
            return 0
        self._latest += 1
        stale = [i for i in self._frame_times if i != self._latest]
        self.dropped += len(stale)
        self._frame_times = {self._latest: frame_time}
        job = RecognitionJob(self._latest, frame, self.recognizer, self.is_current, self._signals)
        self.pool.start(job)
        self.busyChanged.emit(True)
        return self._latest

    def cancel(self) -> None:
        """Make every outstanding request stale (idle reset)."""
        self._latest += 1
        self._frame_times.clear()
        self.busyChanged.emit(False)

    def run_task(self, task: Task) -> None:
        self.pool.start(task)

    def _on_finished(self, request_id: int, result: Recognition) -> None:
        frame_time = self._frame_times.pop(request_id, None)
        if request_id != self._latest or frame_time is None:
            self.dropped += 1
            return
        self.latencies_ms.append((time.monotonic() - frame_time) * 1000)
        self.busyChanged.emit(False)
        self.finished.emit(result, frame_time)

    def _on_failed(self, request_id: int, message: str) -> None:
        if self._frame_times.pop(request_id, None) is None or request_id != self._latest:
            return
        self.busyChanged.emit(False)
        self.failed.emit(message)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Drop queued work and wait for the running job; True when the pool is idle."""
        self.cancel()
        self.pool.clear()
        return self.pool.waitForDone(timeout_ms)
