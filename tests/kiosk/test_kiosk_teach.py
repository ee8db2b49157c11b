"""Staff teach the kiosk a product: pick it, hold it up, save the shots; they are enrolled in
the catalog's folder, learnt, listed and deletable, and never taken from a shopper's frames."""

from __future__ import annotations

import shutil
import time

import numpy as np
from PySide6.QtCore import Qt

from catalog import enrolled_shots
from kiosk.camera_loop import Frame
from kiosk.frames import crop_guide
from kiosk.quality import QualityChecker
from kiosk.settings import KioskSettings, load_settings
from kiosk.teach import ShotCollector
from kiosk.testing import FixedBackend, StillCamera


def _held(demo_assets, demo_frames, sku: str, at: float = 0.5) -> np.ndarray:
    frames = demo_assets.held_frames(sku)
    return demo_frames[frames[int(len(frames) * at)]]


def test_shots_are_steady_spaced_and_never_from_before_the_start(demo_assets, demo_frames):
    s = KioskSettings()
    checker = QualityChecker(s.quality, s.recognition.guide_fraction)
    a, b = (
        _held(demo_assets, demo_frames, "DEMO-016", 0.3),
        _held(demo_assets, demo_frames, "DEMO-016", 0.7),
    )
    collector = ShotCollector(steady_s=0.3, guide_fraction=0.8, started=10.0, wanted=3)
    t = 0.0
    for _ in range(40):  # a shopper's frames, before staff started: never kept
        t += 0.05
        assert not collector.feed(Frame(a, 0, t, checker.check(a)))
    t = 10.0
    for turn in range(8):  # staff hold it, turn it a little, hold it again
        for _ in range(12):
            t += 0.05
            image = a if turn % 2 == 0 else b
            collector.feed(Frame(image, 0, t, checker.check(image)))
    assert len(collector.shots) == 3 and collector.done
    side = int(0.8 * min(a.shape[:2]))
    assert all(shot.shape[:2] == (side, side) for shot in collector.shots)  # the guide only


def test_staff_teach_a_product_from_the_kiosk(qtbot, tmp_path, demo_db, demo_assets, demo_frames):
    from kiosk.ui.main_window import KioskWindow

    db = tmp_path / "store" / "catalog.db"
    db.parent.mkdir()
    shutil.copy(demo_db, db)
    settings = load_settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        ui={"fullscreen": False},
        thermal={"sysfs_root": tmp_path / "sys"},
        recognition={"auto_mode": False, "steady_s": 0.25},
    )
    shopper = _held(demo_assets, demo_frames, "DEMO-005")
    camera = StillCamera(shopper)
    window = KioskWindow(settings, FixedBackend(settings, camera.open, db))
    qtbot.addWidget(window)
    window.start()
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.services is not None, timeout=15000)
    try:
        sku = "DEMO-016"
        before = len(enrolled_shots(db, sku))
        version = window.services.finder.catalog_version
        window._open_staff()
        qtbot.mouseClick(window.staff.teach_button, Qt.MouseButton.LeftButton)
        teach = window.teach
        assert window.stack.currentWidget() is teach
        name = window.services.finder.product(sku).name
        teach.picker.keyboard.type_text(name.split()[0].lower())
        qtbot.waitUntil(
            lambda: any(c.product.sku == sku for c in teach.picker.results.cards), timeout=3000
        )
        card = next(c for c in teach.picker.results.cards if c.product.sku == sku)
        qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
        assert teach.capturing and teach.title.full_text == name
        poses = [_held(demo_assets, demo_frames, sku, at) for at in (0.3, 0.7)]
        end = time.monotonic() + 15
        while len(teach.collector.shots) < 3 and time.monotonic() < end:
            camera.show(poses[len(teach.collector.shots) % 2])  # turned a little each time
            qtbot.wait(700)
        shots = list(teach.collector.shots)
        assert len(shots) >= 3
        if teach.delete_buttons:  # deleting an old shot keeps the ones being taken
            qtbot.mouseClick(teach.delete_buttons[0], Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: not teach.saving, timeout=60000)
            assert len(teach.collector.shots) >= len(shots) and teach.save_button.isEnabled()
            before -= 1
            shots = list(teach.collector.shots)
        guide = crop_guide(shopper, 0.8).astype(np.int16)
        assert all(
            np.abs(s.astype(np.int16) - guide).mean() > 10 for s in shots
        )  # not the shopper's
        qtbot.mouseClick(teach.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not teach.saving, timeout=60000)
        assert "Saved" in teach.status.full_text, teach.status.full_text
        now = enrolled_shots(db, sku)
        assert len(now) == before + len(shots)
        assert all(s.path.is_relative_to(db.parent / "enrolled") for s in now[before:])
        qtbot.waitUntil(lambda: window.services.finder.catalog_version != version, timeout=10000)
        assert len(teach.delete_buttons) >= 1
        qtbot.mouseClick(teach.delete_buttons[-1], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not teach.saving, timeout=60000)
        assert len(enrolled_shots(db, sku)) == len(now) - 1
        assert not now[-1].path.exists()
    finally:
        window.staff_exit()
