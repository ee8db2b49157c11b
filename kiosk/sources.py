"""Where frames come from: the ``FrameSource`` interface, its backends and the one factory.

:class:`CaptureSource` wraps ``cv2.VideoCapture`` (a device index or a stream URL);
:class:`ReplaySource` plays a video file or a folder of images as if it were a camera, at the
camera's frame rate, for tests, the demo and the benchmarks. :func:`open_source` picks one
from the ``camera.source`` setting. Frames are 8-bit BGR arrays that the caller owns.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .errors import CameraUnavailableError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@runtime_checkable
class FrameSource(Protocol):
    """A camera-like stream of frames."""

    #: what it is, for the staff page and logs, e.g. "camera 0" or "replay demo (240 images)"
    description: str

    def read(self) -> np.ndarray | None:
        """Block until the next frame; None when the source failed (unplugged, stream ended)."""
        ...

    def close(self) -> None:
        """Release the device or file; safe to call twice."""
        ...


class CaptureSource:
    """A live camera or stream through ``cv2.VideoCapture``."""

    def __init__(self, target: int | str, *, width: int, height: int, fps: float) -> None:
        self.description = f"camera {target}" if isinstance(target, int) else f"stream {target}"
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            2000,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            1500,  # a stalled stream errors instead of hanging
        ]
        self._cap = cv2.VideoCapture(target, cv2.CAP_ANY, params)
        if not self._cap.isOpened():
            self._cap.release()
            raise CameraUnavailableError(f"cannot open {self.description}")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the latest frame, not a backlog

    def read(self) -> np.ndarray | None:
        ok, frame = self._cap.read()
        return frame if ok and frame is not None else None

    def close(self) -> None:
        self._cap.release()


#: How often a replayed video file is checked for having been deleted, truncated or replaced.
CHANGE_CHECK_S = 0.5


def _identity(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class ReplaySource:
    """Plays a video file or an image folder at ``fps``, looping, like a camera would.

    ``read`` paces itself: it returns the next frame no earlier than ``1/fps`` after the
    previous one. Images are decoded one at a time, so a long folder costs no memory.
    """

    def __init__(self, path: str | Path, *, fps: float = 30.0, loop: bool = True) -> None:
        self.path = Path(path)
        self.fps = fps
        self.loop = loop
        self._index = 0
        self._next_due = 0.0
        self._closed = threading.Event()
        self._video: cv2.VideoCapture | None = None
        self._identity: tuple[int, int, int, int] | None = None
        self._checked = 0.0
        self._images: list[Path] = []
        if self.path.is_dir():
            self._images = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self._images:
                raise CameraUnavailableError(f"{self.path}: no images to replay")
            self.description = f"replay {self.path.name} ({len(self._images)} images)"
        elif self.path.is_file():
            self._identity = _identity(self.path)
            self._video = cv2.VideoCapture(str(self.path))
            if not self._video.isOpened():
                raise CameraUnavailableError(f"{self.path}: not a readable video")
            self.description = f"replay {self.path.name}"
        else:
            raise CameraUnavailableError(f"{self.path}: no such video file or image folder")

    def _file_changed(self) -> bool:
        """True when the video was deleted, truncated or replaced since it was opened: the
        open handle would keep playing the old bytes (or loop over what is left of them),
        so it is reported as a camera that went away; reconnecting opens what is there now."""
        try:
            return _identity(self.path) != self._identity
        except OSError:
            return True

    def _next_frame(self) -> np.ndarray | None:
        if self._video is not None:
            now = time.monotonic()
            if now - self._checked >= CHANGE_CHECK_S:
                self._checked = now
                if self._file_changed():
                    log.warning("replay: %s was deleted or changed", self.path.name)
                    return None
            ok, frame = self._video.read()
            if not ok and self._file_changed():
                log.warning("replay: %s was deleted or changed", self.path.name)
                return None
            if not ok and self.loop:
                self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = self._video.read()
            return frame if ok else None
        if self._index >= len(self._images):
            if not self.loop:
                return None
            self._index = 0
        path = self._images[self._index]
        self._index += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("replay: skipping unreadable %s", path.name)
        return image

    def read(self) -> np.ndarray | None:
        if self._closed.is_set():
            return None
        now = time.monotonic()
        if self._next_due > now:
            self._closed.wait(self._next_due - now)
        self._next_due = max(now, self._next_due) + 1.0 / self.fps
        for _ in range(3):  # tolerate a few unreadable images in a row
            frame = self._next_frame()
            if frame is not None or self._video is not None or not self.loop:
                return frame
        return None

    def close(self) -> None:
        self._closed.set()
        if self._video is not None:
            self._video.release()


def open_source(
    spec: str, *, width: int = 1280, height: int = 720, fps: float = 30.0, loop: bool = True
) -> FrameSource:
    """The source ``spec`` names: a device index ("0"), a URL, a video file or an image folder.

    Raises :class:`CameraUnavailableError` when it cannot be opened now.
    """
    if spec.strip().isdigit():
        return CaptureSource(int(spec), width=width, height=height, fps=fps)
    if "://" in spec:
        return CaptureSource(spec, width=width, height=height, fps=fps)
    return ReplaySource(spec, fps=fps, loop=loop)
