"""The camera loop and frame sources, without Qt: latest frame only, stalls, reconnects, replay."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.camera_loop import CameraLoop, CameraState, Frame, LatestFrame
from kiosk.errors import CameraUnavailableError
from kiosk.sources import ReplaySource, open_source
from kiosk.testing import PluggableCamera


def _frames_folder(folder: Path, n: int = 5) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((48, 64, 3), i * 40, np.uint8)
        cv2.imwrite(str(folder / f"{i:03d}.png"), img)
    return folder


def _run(loop: CameraLoop) -> threading.Thread:
    thread = threading.Thread(target=loop.run, name="test-camera")
    thread.start()
    return thread


def test_latest_frame_is_a_single_slot_and_notifies_once_per_take():
    slot = LatestFrame()
    img = np.zeros((2, 2, 3), np.uint8)
    assert slot.put(Frame(img, 1, 0.0)) is True  # first frame: notify
    assert slot.put(Frame(img, 2, 0.1)) is False  # not taken yet: no second notification
    assert slot.put(Frame(img, 3, 0.2)) is False
    taken = slot.take()
    assert taken is not None and taken.seq == 3  # the latest, never a backlog
    assert slot.put(Frame(img, 4, 0.3)) is True
    slot.clear()
    assert slot.take() is None


def test_replay_folder_plays_in_order_loops_and_paces(tmp_path):
    src = ReplaySource(_frames_folder(tmp_path / "f", 3), fps=50)
    t0 = time.monotonic()
    values = [int(src.read()[0, 0, 0]) for _ in range(7)]  # type: ignore[index]
    elapsed = time.monotonic() - t0
    src.close()
    assert values == [0, 40, 80, 0, 40, 80, 0]
    assert elapsed >= 6 / 50 * 0.9  # paced like a 50 fps camera, not as fast as the disk
    assert src.read() is None  # closed


def test_replay_video_file_and_the_factory(tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30, (64, 48))
    for i in range(4):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    src = open_source(str(path), fps=200, loop=False)
    frames = [src.read() for _ in range(5)]
    src.close()
    assert all(f is not None and f.shape == (48, 64, 3) for f in frames[:4])
    assert frames[4] is None  # the end of a non-looping replay is a failed read


def _clip(path: Path, n: int = 30) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30, (64, 48))
    for i in range(n):
        writer.write(np.full((48, 64, 3), 8 * i, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize("fault", ["deleted", "truncated", "replaced"])
def test_a_replayed_video_that_goes_away_shows_camera_unavailable(tmp_path, fault):
    path = _clip(tmp_path / "clip.avi")
    states: list[tuple[CameraState, str]] = []
    loop = CameraLoop(
        lambda: open_source(str(path), fps=100),
        fps=100,
        stall_timeout_s=5.0,
        reconnect_interval_s=0.05,
        on_state=lambda s, d: states.append((s, d)),
    )
    thread = _run(loop)
    try:
        _wait(lambda: loop.state is CameraState.LIVE)
        if fault == "deleted":
            path.unlink()
        elif fault == "truncated":
            with open(path, "r+b") as fh:
                fh.truncate(path.stat().st_size // 3)
        else:
            path.write_bytes(b"not a video any more")
        _wait(lambda: loop.state is CameraState.UNAVAILABLE, timeout=3.0)
        time.sleep(0.3)
        if fault != "truncated":  # nothing playable there: it stays unavailable
            assert loop.state is CameraState.UNAVAILABLE
        _clip(path)  # the file comes back: the camera comes back by itself
        _wait(lambda: loop.state is CameraState.LIVE, timeout=3.0)
    finally:
        loop.stop()
        thread.join(2.0)
    assert CameraState.UNAVAILABLE in [s for s, _ in states]


def test_the_factory_reports_what_cannot_be_opened(tmp_path):
    with pytest.raises(CameraUnavailableError, match="no such video file"):
        open_source(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CameraUnavailableError, match="no images"):
        open_source(str(tmp_path / "empty"))
    with pytest.raises(CameraUnavailableError, match="cannot open"):
        open_source("57")  # no such device index


def test_loop_reconnects_after_an_unplug_and_stops_cooperatively(tmp_path):
    camera = PluggableCamera(_frames_folder(tmp_path / "f"), fps=100)
    states: list[CameraState] = []
    loop = CameraLoop(
        camera.open,
        fps=100,
        stall_timeout_s=0.5,
        reconnect_interval_s=0.05,
        on_state=lambda s, _d: states.append(s),
    )
    thread = _run(loop)
    try:
        _wait(lambda: loop.state is CameraState.LIVE)
        camera.unplug()
        _wait(lambda: loop.state is CameraState.UNAVAILABLE, timeout=2.0)  # within 2 s
        camera.plug_in()
        _wait(lambda: loop.state is CameraState.LIVE, timeout=2.0)
        assert camera.opened >= 2  # it opened the camera again by itself
    finally:
        t0 = time.monotonic()
        loop.stop()
        thread.join(2.0)
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    assert states[-1] is CameraState.STOPPED
    assert states.count(CameraState.UNAVAILABLE) >= 1
    assert loop.latest.take() is None  # no pixels kept after stopping


class _BlockingSource:
    """A source whose read hangs (a stalled USB camera) until released."""

    description = "stalling camera"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reads = 0

    def read(self) -> np.ndarray | None:
        self.reads += 1
        if self.reads > 3:
            self.release.wait()
            return None
        return np.zeros((8, 8, 3), np.uint8)

    def close(self) -> None:
        self.release.set()


def test_watchdog_notices_a_stalled_read_within_the_timeout():
    source = _BlockingSource()
    loop = CameraLoop(lambda: source, fps=100, stall_timeout_s=0.3, reconnect_interval_s=0.05)
    thread = _run(loop)
    try:
        _wait(lambda: source.reads > 3)
        t0 = time.monotonic()
        _wait(lambda: loop.check_stall(), timeout=2.0)
        assert time.monotonic() - t0 < 1.0
        assert loop.state is CameraState.UNAVAILABLE
    finally:
        loop.stop()
        source.release.set()
        thread.join(2.0)
    assert not thread.is_alive()


def test_throttled_loop_takes_fewer_frames(tmp_path):
    camera = PluggableCamera(_frames_folder(tmp_path / "f"), fps=100)
    loop = CameraLoop(camera.open, fps=100)
    seen: list[int] = []
    loop._on_frame = lambda: seen.append(1) or loop.latest.take()  # type: ignore[assignment]
    thread = _run(loop)
    try:
        time.sleep(0.5)
        fast = len(seen)
        loop.set_fps(10)
        seen.clear()
        time.sleep(0.5)
        slow = len(seen)
    finally:
        loop.stop()
        thread.join(2.0)
    assert fast >= 25 and slow <= 8


def _wait(cond, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
