"""The camera thread: one long-lived ``QThread`` running :class:`kiosk.camera_loop.CameraLoop`.

It owns the ``cv2.VideoCapture`` (through the loop's source), stops cooperatively (a flag, never
``terminate()``), and signals the GUI only when a new frame waits and the previous one was
taken, so frames never queue up in the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, QTimer, Signal

from ..camera_loop import CameraLoop, CameraState, Frame
from ..quality import QualityReport
from ..sources import FrameSource


class CameraThread(QThread):
    """Runs the camera loop; ``frameReady`` → call :meth:`take`; ``stateChanged(state, detail)``."""

    frameReady = Signal()
    stateChanged = Signal(str, str)

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        *,
        fps: float,
        stall_timeout_s: float,
        reconnect_interval_s: float,
        analyse: Callable[[np.ndarray], QualityReport] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("camera")
        self.loop = CameraLoop(
            open_source,
            fps=fps,
            stall_timeout_s=stall_timeout_s,
            reconnect_interval_s=reconnect_interval_s,
            analyse=analyse,
            on_frame=self.frameReady.emit,
            on_state=lambda state, detail: self.stateChanged.emit(state.value, detail),
        )
        # The watchdog: a read blocked inside a stalled driver cannot report itself.
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(250)
        self._watchdog.timeout.connect(self._check_stall)

    def _check_stall(self) -> None:
        # Slots return None: PySide6 mishandles the reference count of a bool returned by a
        # lambda slot, which crashes at interpreter exit.
        self.loop.check_stall(time.monotonic())

    def start_camera(self) -> None:
        self.start()
        self._watchdog.start()

    def run(self) -> None:
        self.loop.run()

    def take(self) -> Frame | None:
        """The latest frame, or None."""
        return self.loop.latest.take()

    @property
    def state(self) -> CameraState:
        return self.loop.state

    def stop(self, timeout_ms: int = 3000) -> bool:
        """Ask the loop to stop and wait for the thread; True when it finished."""
        self._watchdog.stop()
        self.loop.stop()
        return self.wait(timeout_ms)
