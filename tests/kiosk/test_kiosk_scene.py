"""What is on screen is about what is in front of the camera: results clear when the product
leaves, follow a new product, follow the language; the attract screen wakes on the camera."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from kiosk.demo.stills import empty_frame
from kiosk.quality import QualityChecker, SceneTracker
from kiosk.settings import KioskSettings, load_settings
from kiosk.testing import StillCamera


def _held(demo_assets, demo_frames, sku: str) -> np.ndarray:
    frames = demo_assets.held_frames(sku)
    return demo_frames[frames[len(frames) // 2]]


def _results_log(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("results ")]


def test_the_panel_follows_the_camera_a_empty_b_a(
    qtbot, make_window, demo_assets, demo_frames, caplog
):
    caplog.set_level(logging.INFO, logger="kiosk")
    a, b = _held(demo_assets, demo_frames, "DEMO-005"), _held(demo_assets, demo_frames, "DEMO-016")
    camera = StillCamera(a)
    window = make_window(camera.open, recognition={"auto_mode": True, "steady_s": 0.2})
    panel = window.scan.panel

    def showing(sku: str) -> bool:
        return panel.state == "confident" and panel.cards[0].product.sku == sku and not panel.faded

    qtbot.waitUntil(lambda: showing("DEMO-005"), timeout=8000)
    camera.show(empty_frame())  # the shopper takes it away: the result goes at once
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=3000)
    assert panel.cards == []
    camera.show(b)  # the next product: its own result as soon as it is steady
    qtbot.waitUntil(lambda: showing("DEMO-016"), timeout=8000)
    camera.show(a)  # straight from B to A, nothing in between: B fades, then A is shown
    qtbot.waitUntil(lambda: panel.faded or showing("DEMO-005"), timeout=3000)
    qtbot.waitUntil(lambda: showing("DEMO-005"), timeout=8000)
    log = _results_log(caplog)
    assert log[:4] == [
        "results found sku=DEMO-005",
        "results cleared",
        "results found sku=DEMO-016",
        "results found sku=DEMO-005",
    ], log


def test_switching_language_redraws_the_result(qtbot, make_window, demo_assets, demo_frames):
    camera = StillCamera(_held(demo_assets, demo_frames, "DEMO-016"))
    window = make_window(camera.open, recognition={"auto_mode": False})
    panel = window.scan.panel
    window.find_now()
    qtbot.waitUntil(lambda: panel.state == "confident", timeout=5000)
    assert panel.title.text() == "We found it"
    window.set_language("de")
    assert panel.title.text() == "Gefunden" and panel.state == "confident"
    assert panel.cards[0].product.sku == "DEMO-016"
    window.set_language("en")
    assert panel.title.text() == "We found it"
    shown = [w.text() for w in panel.findChildren(type(panel.title)) if w.isVisible()]
    assert "Also possible" in shown and "Auch möglich" not in shown


def test_a_product_held_up_wakes_the_attract_screen(qtbot, make_window, demo_assets, demo_frames):
    camera = StillCamera(empty_frame())
    window = make_window(camera.open, recognition={"auto_mode": True, "steady_s": 0.2})
    window.go_idle()
    assert window.stack.currentWidget() is window.attract
    qtbot.wait(1500)  # the empty counter does not wake it
    assert window.stack.currentWidget() is window.attract
    camera.show(_held(demo_assets, demo_frames, "DEMO-016"))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.scan, timeout=4000)
    qtbot.waitUntil(lambda: window.scan.panel.state == "confident", timeout=8000)
    assert window.scan.panel.cards[0].product.sku == "DEMO-016"


def test_scanning_counts_as_using_the_kiosk(qtbot, make_window, demo_assets, demo_frames):
    frames = [_held(demo_assets, demo_frames, s) for s in ("DEMO-005", "DEMO-016")]
    camera = StillCamera(frames[0])
    window = make_window(
        camera.open,
        ui={"idle_timeout_s": 2.0},
        recognition={"auto_mode": True, "steady_s": 0.2, "auto_interval_s": 0.2},
    )
    resets: list[bool] = []
    window.sessionReset.connect(lambda: resets.append(True))
    for i in range(6):  # 4.5 s of scanning without a touch: no idle reset
        camera.show(frames[i % 2])
        qtbot.wait(750)
    assert resets == [] and window.stack.currentWidget() is window.scan
    qtbot.waitUntil(lambda: bool(resets), timeout=5000)  # then nobody: it does reset


def test_the_idle_timer_waits_until_the_kiosk_is_ready(qtbot, tmp_path, demo_db):
    from kiosk.ui.main_window import KioskWindow

    class SlowBackend:
        def __init__(self, settings):
            from kiosk.testing import FixedBackend

            self.inner = FixedBackend(settings, StillCamera(empty_frame()).open, demo_db)

        def camera(self, progress=None):
            return self.inner.camera(progress)

        def open(self, progress=None):
            import time

            time.sleep(2.5)  # building the demo shop
            return self.inner.open(progress)

    settings = load_settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        ui={"fullscreen": False, "idle_timeout_s": 1.0},
        thermal={"sysfs_root": tmp_path / "sys"},
    )
    window = KioskWindow(settings, SlowBackend(settings))
    qtbot.addWidget(window)
    window.start()
    qtbot.wait(1500)  # longer than the idle timeout, still building: no attract screen
    assert not window.idle_timer.isActive() and window.stack.currentWidget() is window.scan
    qtbot.waitUntil(lambda: window.services is not None, timeout=15000)
    assert window.idle_timer.isActive()
    window.staff_exit()


@pytest.mark.parametrize("kind", ["empty", "changed"])
def test_scene_tracker_needs_the_change_to_last(kind):
    s = KioskSettings()
    checker = QualityChecker(s.quality, s.recognition.guide_fraction)
    rng = np.random.default_rng(0)
    held = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    held = np.repeat(np.repeat(held[::16, ::16], 16, 0), 16, 1)
    other = np.ascontiguousarray(held[::-1])
    gone = np.full_like(held, 128) if kind == "empty" else other
    tracker = SceneTracker(change=9.0, hold_s=0.4)
    tracker.mark(checker.check(held))
    assert tracker.update(checker.check(held), 0.0) == ""
    assert tracker.update(checker.check(gone), 0.1) == ""  # a moment: not yet
    assert tracker.update(checker.check(held), 0.2) == ""  # back: it never left
    assert tracker.update(checker.check(gone), 0.3) == ""
    assert tracker.update(checker.check(gone), 0.8) == kind
    assert not tracker.marked and tracker.update(checker.check(gone), 0.9) == ""


def test_a_result_about_the_empty_counter_stays_while_it_is_empty(qtbot, make_window):
    camera = StillCamera(empty_frame())
    window = make_window(camera.open, recognition={"auto_mode": False})
    window.find_now()
    qtbot.waitUntil(lambda: window.scan.panel.state == "no_match", timeout=5000)
    qtbot.wait(1000)
    assert window.scan.panel.state == "no_match"
