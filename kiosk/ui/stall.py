"""How long the GUI thread was unresponsive: a 10 ms timer that measures its own lateness."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer


class StallMeter(QObject):
    """Records the longest gap between timer ticks beyond the interval (a GUI-thread stall)."""

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0
        self.max_stall_ms = 0.0
        self.max_stall_busy_ms = 0.0  # while a recognition was in flight
        self.busy = False

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def reset(self) -> None:
        self.max_stall_ms = self.max_stall_busy_ms = 0.0
        self._last = time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        stall = max(0.0, (now - self._last) * 1000 - self.interval_ms)
        self._last = now
        self.max_stall_ms = max(self.max_stall_ms, stall)
        if self.busy:
            self.max_stall_busy_ms = max(self.max_stall_busy_ms, stall)
