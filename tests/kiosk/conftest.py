"""Kiosk fixtures: a small demo shop on disk, the real model, windows driven by pytest-qt, and a
guard that fails any test leaving a camera thread, a pool worker or a Python thread running."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QThread, QThreadPool

from kiosk.demo.build import DemoAssets, build_demo
from kiosk.demo.products import DEMO_PRODUCTS
from kiosk.services import CameraFactory, open_demo_catalog, open_embedder
from kiosk.settings import KioskSettings, load_settings
from kiosk.testing import FixedBackend
from kiosk.ui.qtfix import guard_singleton_refcounts

guard_singleton_refcounts()  # a whole test session of Qt calls: see kiosk/ui/qtfix.py

#: a shop small enough to build in seconds, with look-alikes (two cans, two crisp bags, two
#: round fruits) so that "not sure" is reachable
TEST_SKUS = (
    "DEMO-001",
    "DEMO-005",
    "DEMO-006",
    "DEMO-008",
    "DEMO-009",
    "DEMO-013",
    "DEMO-014",
    "DEMO-016",
    "DEMO-017",
    "DEMO-019",
    "DEMO-023",
    "DEMO-024",
)
TEST_ITEMS = tuple(d for d in DEMO_PRODUCTS if d.product.sku in TEST_SKUS)


# -- the thread guard -----------------------------------------------------------------------------
_started_qthreads: list[QThread] = []
_used_pools: list[QThreadPool] = []
_orig_qthread_start = QThread.start
_orig_pool_start = QThreadPool.start


def _tracking_qthread_start(self: QThread, *args: Any) -> None:
    _started_qthreads.append(self)
    _orig_qthread_start(self, *args)


def _tracking_pool_start(self: QThreadPool, *args: Any) -> None:
    _used_pools.append(self)
    _orig_pool_start(self, *args)


@pytest.fixture(autouse=True)
def no_threads_left(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail the test if it leaves a QThread, a busy pool or a new Python thread running."""
    monkeypatch.setattr(QThread, "start", _tracking_qthread_start)
    monkeypatch.setattr(QThreadPool, "start", _tracking_pool_start)
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        running = _still_running(before)
        if not running:
            break
        time.sleep(0.05)
    running = _still_running(before)
    _started_qthreads.clear()
    _used_pools.clear()
    assert not running, f"threads left running after the test: {running}"


def _still_running(before: set[threading.Thread]) -> list[str]:
    names = []
    for t in _started_qthreads:
        try:
            if t.isRunning():
                names.append(f"QThread {t.objectName() or t}")
        except RuntimeError:  # the C++ object is gone: it certainly is not running
            pass
    for pool in _used_pools:
        try:
            if pool.activeThreadCount() > 0:
                names.append(f"pool {pool.objectName() or pool} busy")
        except RuntimeError:
            pass
    names += [
        t.name
        for t in threading.enumerate()
        if t not in before and t.is_alive() and not isinstance(t, threading._DummyThread)
    ]
    return names


# -- the demo shop --------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def demo_skus() -> tuple[str, ...]:
    """The SKUs of the test shop."""
    return TEST_SKUS


@pytest.fixture(scope="session")
def demo_assets(tmp_path_factory: pytest.TempPathFactory) -> DemoAssets:
    """A 12-product demo (drawings, enrolled shots, a replay video), built once per run."""
    return build_demo(tmp_path_factory.mktemp("demo-cache"), TEST_ITEMS, hold_s=1.2)


@pytest.fixture(scope="session")
def demo_db(demo_assets: DemoAssets) -> Path:
    """The demo's catalog, imported and indexed with the real default bundle."""
    settings = load_settings()
    embedder = open_embedder(settings)
    try:
        open_demo_catalog(demo_assets, embedder).close()
    finally:
        embedder.close()
    return demo_assets.root / "catalog.db"


@pytest.fixture(scope="session")
def demo_frames(demo_assets: DemoAssets) -> list[np.ndarray]:
    """Every frame of the demo's replay video, decoded."""
    import cv2

    cap = cv2.VideoCapture(str(demo_assets.camera))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def kiosk_settings(tmp_path: Path, **overrides: Any) -> KioskSettings:
    """Windowed kiosk settings writing only under ``tmp_path``."""
    ui = {"fullscreen": False, **overrides.pop("ui", {})}
    thermal = {"sysfs_root": tmp_path / "sys", **overrides.pop("thermal", {})}
    return load_settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        ui=ui,
        thermal=thermal,
        **overrides,
    )


@pytest.fixture
def make_window(qtbot: Any, tmp_path: Path, demo_db: Path) -> Callable[..., Any]:
    """``make_window(camera_factory, **settings)`` → a started, ready KioskWindow (settings as
    nested dicts, e.g. ``ui={"idle_timeout_s": 1}``).

    The window is closed through the staff exit at the end of the test.
    """
    from kiosk.ui.main_window import KioskWindow

    windows: list[KioskWindow] = []

    def make(source: CameraFactory, *, wait_frame: bool = True, **overrides: Any) -> KioskWindow:
        settings = kiosk_settings(tmp_path, **overrides)
        window = KioskWindow(settings, FixedBackend(settings, source, demo_db))
        qtbot.addWidget(window)
        windows.append(window)
        window.start()
        window.resize(1280, 800)
        qtbot.waitUntil(lambda: window.services is not None, timeout=15000)
        if wait_frame:
            qtbot.waitUntil(lambda: window.controller.last_frame is not None, timeout=5000)
        return window

    yield make
    for window in windows:
        if window.isVisible() or window.controller.camera is not None:
            window.staff_exit()
