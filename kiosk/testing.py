"""Stand-ins for tests, screenshots and benchmarks: cameras a test controls and a fixed backend.

:class:`PluggableCamera` is a replay source that a test can "unplug" and "plug back in";
:class:`StillCamera` shows whatever frame it is given; :class:`FixedBackend` serves a given
camera and catalog database with the real model.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from .errors import CameraUnavailableError
from .services import CameraFactory, KioskServices, Progress, make_services, open_embedder
from .settings import KioskSettings
from .sources import FrameSource, ReplaySource


class PluggableCamera:
    """A replay camera that a test can unplug (reads fail, reopening fails) and plug back in."""

    def __init__(self, path: str | Path, fps: float = 30.0) -> None:
        self.path = Path(path)
        self.fps = fps
        self._plugged = threading.Event()
        self._plugged.set()
        self.opened = 0

    def unplug(self) -> None:
        self._plugged.clear()

    def plug_in(self) -> None:
        self._plugged.set()

    def open(self) -> FrameSource:
        """The factory for :class:`kiosk.camera_loop.CameraLoop`."""
        if not self._plugged.is_set():
            raise CameraUnavailableError("camera unplugged")
        self.opened += 1
        return _PluggedSource(ReplaySource(self.path, fps=self.fps), self._plugged)


class _PluggedSource:
    def __init__(self, inner: ReplaySource, plugged: threading.Event) -> None:
        self._inner = inner
        self._plugged = plugged
        self.description = inner.description

    def read(self) -> np.ndarray | None:
        return self._inner.read() if self._plugged.is_set() else None

    def close(self) -> None:
        self._inner.close()


class StillCamera:
    """A camera showing whatever frame a test or a screenshot script puts in front of it.

    ``show(frame)`` changes the picture; :meth:`open` is the camera factory. Frames stay in
    memory, as a real camera's would.
    """

    def __init__(self, frame: np.ndarray, fps: float = 30.0) -> None:
        self.frame = frame
        self.fps = fps
        self.noise = 2.0  # a little sensor noise so consecutive frames are not identical
        self._rng = np.random.default_rng(0)

        self.plugged = True

    def show(self, frame: np.ndarray) -> None:
        self.frame = frame

    def unplug(self) -> None:
        self.plugged = False

    def plug_in(self) -> None:
        self.plugged = True

    def open(self) -> FrameSource:
        if not self.plugged:
            raise CameraUnavailableError("camera unplugged")
        return _StillSource(self)


class _StillSource:
    description = "still camera"

    def __init__(self, camera: StillCamera) -> None:
        self._camera = camera
        self._next = 0.0
        self._closed = threading.Event()

    def read(self) -> np.ndarray | None:
        now = time.monotonic()
        if self._next > now:
            self._closed.wait(self._next - now)
        if self._closed.is_set() or not self._camera.plugged:
            return None
        self._next = max(now, self._next) + 1.0 / self._camera.fps
        frame = self._camera.frame
        if self._camera.noise:
            n = int(self._camera.noise)
            noise = self._camera._rng.integers(-n, n + 1, frame.shape, dtype=np.int16)
            return np.clip(frame + noise, 0, 255).astype(np.uint8)
        return frame.copy()

    def close(self) -> None:
        self._closed.set()


class FixedBackend:
    """A :class:`kiosk.services.Backend` over a given camera factory and catalog database."""

    def __init__(self, settings: KioskSettings, camera: CameraFactory, db: Path) -> None:
        self.settings = settings
        self._camera = camera
        self._db = db

    def camera(self, progress: Progress | None = None) -> CameraFactory:
        return self._camera

    def open(self, progress: Progress | None = None) -> KioskServices:
        from catalog import open_finder

        embedder = open_embedder(self.settings)
        try:
            finder = open_finder(self._db, bundle_id=embedder.model_id)
        except BaseException:
            embedder.close()
            raise
        return make_services(self.settings, embedder, finder, self._db)
