"""The camera loop: read frames, keep only the latest, notice stalls, reconnect.

Qt-free so it is tested without a display; :class:`kiosk.ui.camera_thread.CameraThread` runs
:meth:`CameraLoop.run` inside a ``QThread``. The loop never queues frames: each new frame
replaces the one in :class:`LatestFrame`, and the consumer is notified only when it has taken
the previous one, so a slow GUI sees fewer frames, never older ones.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .errors import CameraError
from .quality import QualityReport
from .sources import FrameSource

log = logging.getLogger(__name__)


class CameraState(enum.Enum):
    STARTING = "starting"
    LIVE = "live"
    UNAVAILABLE = "unavailable"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Frame:
    """One camera frame. The array is never written to after it is published."""

    image: np.ndarray
    seq: int
    t: float  # time.monotonic() when it was read
    analysis: QualityReport | None = None  # what the loop's ``analyse`` hook said about it


class LatestFrame:
    """A one-slot mailbox between the camera thread and its consumer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._taken = True

    def put(self, frame: Frame) -> bool:
        """Replace the frame; True when the consumer had taken the previous one (notify it)."""
        with self._lock:
            self._frame = frame
            was_taken, self._taken = self._taken, False
            return was_taken

    def take(self) -> Frame | None:
        """The latest frame (None before the first); marks it taken."""
        with self._lock:
            self._taken = True
            return self._frame

    def clear(self) -> None:
        """Drop the frame (idle reset: no pixels stay in memory)."""
        with self._lock:
            self._frame = None
            self._taken = True


class CameraLoop:
    """Reads a :class:`FrameSource` until stopped, reconnecting whenever it fails.

    ``open_source`` is called for the first connection and every reconnection; it raises
    :class:`CameraError` while the camera is away. ``on_frame`` is called (in the camera
    thread) when a new frame is waiting and the previous one was taken; ``on_state`` on each
    state change.
    """

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        *,
        fps: float,
        stall_timeout_s: float = 1.5,
        reconnect_interval_s: float = 1.0,
        analyse: Callable[[np.ndarray], QualityReport] | None = None,
        on_frame: Callable[[], None] | None = None,
        on_state: Callable[[CameraState, str], None] | None = None,
    ) -> None:
        self._open_source = open_source
        self.fps = fps
        self.stall_timeout_s = stall_timeout_s
        self.reconnect_interval_s = reconnect_interval_s
        self._analyse = analyse
        self._on_frame = on_frame
        self._on_state = on_state
        self.latest = LatestFrame()
        self.state = CameraState.STARTING
        self.description = ""
        self._stop = threading.Event()
        self._state_lock = threading.Lock()
        self._seq = 0
        self._last_frame_t: float | None = None
        self._times: deque[float] = deque(maxlen=60)

    # -- control, from any thread -------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish; it exits within one frame or reconnect interval."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def set_fps(self, fps: float) -> None:
        """Cap the rate frames are taken at (throttling)."""
        self.fps = max(0.5, fps)

    def measured_fps(self) -> float:
        """Frames per second over the last couple of seconds."""
        times = list(self._times)
        if len(times) < 2 or time.monotonic() - times[-1] > self.stall_timeout_s:
            return 0.0
        return (len(times) - 1) / max(1e-6, times[-1] - times[0])

    def check_stall(self, now: float | None = None) -> bool:
        """Watchdog, called from another thread: True (and state UNAVAILABLE) when no frame
        arrived for ``stall_timeout_s`` — the source may be blocked inside ``read``."""
        now = time.monotonic() if now is None else now
        last = self._last_frame_t
        if (
            self.state is CameraState.LIVE
            and last is not None
            and now - last > self.stall_timeout_s
        ):
            self._set_state(CameraState.UNAVAILABLE, "no frames")
            return True
        return self.state is CameraState.UNAVAILABLE

    # -- the loop, in the camera thread --------------------------------------------------------
    def run(self) -> None:
        """Read frames until :meth:`stop`; never raises for camera failures."""
        try:
            while not self._stop.is_set():
                source = self._connect()
                if source is None:
                    break
                try:
                    self._pump(source)
                finally:
                    source.close()
        finally:
            self.latest.clear()
            self._set_state(CameraState.STOPPED, "")

    def _connect(self) -> FrameSource | None:
        while not self._stop.is_set():
            try:
                source = self._open_source()
            except CameraError as exc:
                self._set_state(CameraState.UNAVAILABLE, str(exc))
                self._stop.wait(self.reconnect_interval_s)
                continue
            self.description = source.description
            return source
        return None

    def _pump(self, source: FrameSource) -> None:
        last_taken = float("-inf")
        while not self._stop.is_set():
            image = source.read()
            if self._stop.is_set():
                return
            now = time.monotonic()
            if image is None:
                self._set_state(CameraState.UNAVAILABLE, f"{source.description} stopped")
                self._stop.wait(self.reconnect_interval_s)
                return
            # Throttled: drop frames that come much faster than the cap; the device keeps its
            # own pace. The 0.8 leaves room for jitter when the cap equals the device's rate.
            if now - last_taken < 0.8 / self.fps:
                continue
            last_taken = now
            self._seq += 1
            analysis = self._analyse(image) if self._analyse is not None else None
            self._last_frame_t = now
            self._times.append(now)
            if self.state is not CameraState.LIVE:
                self._set_state(CameraState.LIVE, source.description)
            if self.latest.put(Frame(image, self._seq, now, analysis)) and self._on_frame:
                self._on_frame()

    def _set_state(self, state: CameraState, detail: str) -> None:
        with self._state_lock:
            if state is self.state:
                return
            self.state = state
        if state is CameraState.UNAVAILABLE:
            log.warning("camera unavailable: %s", detail)
        else:
            log.info("camera %s %s", state.value, detail)
        if self._on_state is not None:
            self._on_state(state, detail)
