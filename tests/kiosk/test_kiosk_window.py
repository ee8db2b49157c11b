"""The real window, driven like a shopper would (offscreen), on the demo shop and the real model."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from kiosk.camera_loop import CameraState
from kiosk.demo.stills import empty_frame, pair_frame
from kiosk.testing import PluggableCamera, StillCamera


def _held(demo_assets, demo_frames, sku: str) -> np.ndarray:
    """A frame of the replay video where ``sku`` is held up."""
    frames = demo_assets.held_frames(sku)
    return demo_frames[frames[len(frames) // 2]]


def _tap(qtbot, widget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


@pytest.mark.parametrize("sku", ["DEMO-005", "DEMO-016", "DEMO-008"])
def test_tap_find_shows_the_right_product_and_its_details(
    qtbot, make_window, demo_assets, demo_frames, demo_skus, sku
):
    camera = StillCamera(_held(demo_assets, demo_frames, sku))
    window = make_window(camera.open, recognition={"auto_mode": False})
    panel = window.scan.panel
    assert panel.state == "idle"
    _tap(qtbot, window.scan.find_button)
    qtbot.waitUntil(lambda: panel.state == "confident", timeout=5000)
    best = panel.cards[0]
    assert best.product.sku == sku
    assert best.name_label.full_text == best.product.name
    assert "6px solid" in best.styleSheet()  # the best match is emphasised
    _tap(qtbot, best)
    assert window.stack.currentWidget() is window.details
    assert window.details.name.full_text == best.product.name
    assert window.details.similar_model.rowCount() > 0
    pairs = window.details.pairs_model
    shown = [pairs.product(i).sku for i in range(pairs.rowCount())]
    assert shown == [s for s in best.product.related if s in demo_skus][:3]
    _tap(qtbot, window.details.back_button)
    assert window.stack.currentWidget() is window.scan


def test_auto_mode_recognises_a_replayed_product_without_a_tap(
    qtbot, make_window, demo_assets, demo_frames, tmp_path
):
    import cv2

    folder = tmp_path / "replay"
    folder.mkdir()
    for i, n in enumerate(demo_assets.held_frames("DEMO-016")[:20]):
        cv2.imwrite(str(folder / f"{i:03d}.png"), demo_frames[n])
    camera = PluggableCamera(folder, fps=30)
    window = make_window(camera.open, recognition={"auto_mode": True, "steady_s": 0.2})
    panel = window.scan.panel
    qtbot.waitUntil(lambda: panel.state == "confident", timeout=8000)
    assert panel.cards[0].product.sku == "DEMO-016"
    scans = len(window.controller.runner.latencies_ms)
    qtbot.wait(1500)  # the same steady scene is not scanned over and over
    assert len(window.controller.runner.latencies_ms) <= scans + 1


def test_not_sure_offers_the_candidates(qtbot, make_window):
    camera = StillCamera(pair_frame("DEMO-008", "DEMO-009"))
    window = make_window(camera.open, recognition={"auto_mode": False})
    _tap(qtbot, window.scan.find_button)
    panel = window.scan.panel
    qtbot.waitUntil(lambda: panel.state == "not_sure", timeout=5000)
    assert panel.title.text() == "Is it one of these?"
    skus = [c.product.sku for c in panel.cards]
    assert {"DEMO-008", "DEMO-009"} <= set(skus) and len(skus) == 5  # up to five to choose from
    _tap(qtbot, panel.cards[1])
    assert window.stack.currentWidget() is window.details


def test_no_match_asks_for_staff_offers_the_closest_and_browses_by_category(qtbot, make_window):
    camera = StillCamera(empty_frame())
    window = make_window(camera.open, recognition={"auto_mode": False})
    _tap(qtbot, window.scan.find_button)
    panel = window.scan.panel
    qtbot.waitUntil(lambda: panel.state == "no_match", timeout=5000)
    assert "please ask a member of staff" in panel.title.text()
    assert len(panel.cards) == 3  # the closest products first
    assert [b.text() for b in panel.category_buttons] == ["Browse by category"]
    _tap(qtbot, panel.category_buttons[0])
    assert window.stack.currentWidget() is window.browse
    names = list(window.browse.category_buttons)
    assert "Fruit & veg" in names and "Drinks" in names


def test_keyboard_search_finds_products_by_name_and_category(qtbot, make_window):
    window = make_window(StillCamera(empty_frame()).open)
    _tap(qtbot, window.scan.search_button)
    page = window.search
    assert window.stack.currentWidget() is page
    page.keyboard.type_text("crisps")
    assert page.field.text() == "crisps"
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=3000)
    assert {page.model.product(i).sku for i in range(2)} == {"DEMO-013", "DEMO-014"}
    _tap(qtbot, page.keyboard.keys["clear"])
    page.keyboard.type_text("dairy")
    qtbot.waitUntil(lambda: page.model.rowCount() == 1, timeout=3000)
    assert page.model.product(0).sku == "DEMO-008"
    _tap(qtbot, page.keyboard.keys["⌫"])
    assert page.field.text() == "dair"
    qtbot.waitUntil(lambda: bool(page.results.cards), timeout=3000)
    _tap(qtbot, page.results.cards[0])
    assert window.stack.currentWidget() is window.details


def test_idle_reset_shows_the_attract_screen_and_wipes_the_session(
    qtbot, make_window, demo_assets, demo_frames
):
    camera = StillCamera(_held(demo_assets, demo_frames, "DEMO-016"))
    window = make_window(camera.open, ui={"idle_timeout_s": 1.5}, recognition={"auto_mode": False})
    _tap(qtbot, window.scan.find_button)
    qtbot.waitUntil(lambda: window.scan.panel.state == "confident", timeout=5000)
    assert window.scan.panel.recent and len(window.services.cache) == 1
    _tap(qtbot, window.scan.language_button)
    assert window.scan.find_button.text() == "Dieses Produkt finden"
    with qtbot.waitSignal(window.sessionReset, timeout=4000):
        pass  # no touches for 1.5 s
    assert window.stack.currentWidget() is window.attract
    assert window.scan.panel.state == "idle" and window.scan.panel.recent == []
    assert window.controller.last_frame is None and not window.scan.preview.has_frame
    assert len(window.services.cache) == 0
    assert window.scan.find_button.text() == "Find this product"  # back to the default language
    _tap(qtbot, window.attract)
    assert window.stack.currentWidget() is window.scan


def test_camera_unplug_shows_unavailable_and_recovers(qtbot, make_window, tmp_path):
    import cv2

    folder = tmp_path / "replay"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), empty_frame())
    camera = PluggableCamera(folder, fps=30)
    window = make_window(camera.open, camera={"reconnect_interval_s": 0.2})
    preview = window.scan.preview
    assert preview.overlay == ""
    camera.unplug()
    t0 = time.monotonic()
    qtbot.waitUntil(lambda: preview.overlay == "Camera unavailable", timeout=2000)
    assert time.monotonic() - t0 < 2.0
    assert not preview.has_frame
    camera.plug_in()
    qtbot.waitUntil(lambda: preview.overlay == "" and preview.has_frame, timeout=3000)
    assert window.controller.camera.state is CameraState.LIVE


def test_kiosk_mode_refuses_to_close_until_staff_exit_with_the_pin(qtbot, make_window):
    window = make_window(
        StillCamera(empty_frame()).open,
        ui={"fullscreen": True, "long_press_s": 0.5, "staff_pin": "4321", "hide_cursor": True},
    )
    from PySide6.QtWidgets import QApplication

    assert window.windowFlags() & Qt.WindowType.FramelessWindowHint
    assert QApplication.overrideCursor().shape() == Qt.CursorShape.BlankCursor
    window.close()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.isVisible()
    qtbot.mousePress(window.scan.brand, Qt.MouseButton.LeftButton)
    qtbot.mouseRelease(window.scan.brand, Qt.MouseButton.LeftButton, delay=100)
    assert window.stack.currentWidget() is window.scan  # a short tap does nothing
    qtbot.mousePress(window.scan.brand, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.pin.parentWidget(), timeout=2000)
    qtbot.mouseRelease(window.scan.brand, Qt.MouseButton.LeftButton)
    window.pin.enter("1111")
    assert window.pin.message.text() == "Wrong PIN"
    assert window.stack.currentWidget() is window.pin.parentWidget()
    window.pin.enter("4321")
    assert window.stack.currentWidget() is window.staff
    rows = window.staff.values
    assert rows["staff_model"].text().startswith("efficientnet-lite0-retail 1.0.0 · int8")
    assert rows["staff_catalog_version"].text() == window.services.finder.catalog_version
    assert rows["staff_camera"].text().startswith("live")
    _tap(qtbot, window.staff.exit_button)
    assert not window.isVisible()
    assert QApplication.overrideCursor() is None
    assert window.controller.camera is None and window.controller.services is None


def test_throttling_lowers_camera_fps_and_shows_on_the_staff_page(qtbot, make_window, tmp_path):
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("82000\n")
    window = make_window(StillCamera(empty_frame()).open, thermal={"poll_s": 0.2})
    loop = window.controller.camera.loop
    qtbot.waitUntil(lambda: loop.fps == 10, timeout=2000)
    window._open_staff()
    assert window.staff.values["staff_throttling"].text() == "ON: CPU 82 °C"
    (zone / "temp").write_text("50000\n")
    qtbot.waitUntil(lambda: loop.fps == 30, timeout=2000)
    window.refresh_staff()
    assert window.staff.values["staff_throttling"].text() == "off"


def test_recognition_stays_off_the_gui_thread_and_drops_stale_requests(
    qtbot, make_window, demo_assets, demo_frames
):
    frame = _held(demo_assets, demo_frames, "DEMO-005")
    window = make_window(
        StillCamera(frame).open, recognition={"auto_mode": False}, cache={"size": 0}
    )
    runner = window.controller.runner
    window.controller.stall.reset()
    results = []
    runner.finished.connect(lambda rec, _t: results.append(rec))
    for _ in range(5):  # five taps in a row: only the last one's answer is shown
        runner.submit(frame, time.monotonic())
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    qtbot.wait(100)
    assert len(results) == 1 and runner.dropped >= 3
    for _ in range(10):
        runner.submit(frame, time.monotonic())
        qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert window.controller.stall.max_stall_busy_ms < 100


def test_closing_mid_scan_leaves_no_thread_running(qtbot, make_window, demo_assets, demo_frames):
    import threading

    from PySide6.QtCore import QThread

    before = {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}
    camera = StillCamera(_held(demo_assets, demo_frames, "DEMO-001"))
    window = make_window(camera.open, recognition={"auto_mode": False}, cache={"size": 0})
    c = window.controller
    camera_thread: QThread = c.camera
    pool = c.runner.pool
    for _ in range(3):
        c.runner.submit(c.last_frame.image, time.monotonic())  # a scan in flight, two queued
    t0 = time.monotonic()
    window.staff_exit()
    assert time.monotonic() - t0 < 2.0
    assert not camera_thread.isRunning()
    assert pool.activeThreadCount() == 0
    after = {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}
    assert after <= before


def test_a_republished_catalog_is_swapped_in_while_running(
    qtbot, make_window, demo_db, demo_assets, tmp_path
):
    import json
    import shutil

    from catalog import import_products, index_catalog
    from kiosk.services import open_embedder
    from kiosk.settings import load_settings
    from kiosk.testing import FixedBackend
    from kiosk.ui.main_window import KioskWindow

    db = tmp_path / "store" / "catalog.db"
    db.parent.mkdir()
    shutil.copy(demo_db, db)
    settings = load_settings(
        data_dir=tmp_path / "data",
        ui={"fullscreen": False},
        thermal={"sysfs_root": tmp_path / "sys"},
        catalog_poll_s=0.3,
    )
    window = KioskWindow(settings, FixedBackend(settings, StillCamera(empty_frame()).open, db))
    qtbot.addWidget(window)
    window.start()
    qtbot.waitUntil(lambda: window.services is not None, timeout=15000)
    before = window.services.finder
    image = demo_assets.root / "images" / "DEMO-005.png"
    new = tmp_path / "new.json"
    new.write_text(
        json.dumps(
            [
                {
                    "sku": "NEW-1",
                    "name": "Cherry Cola Zero",
                    "price": 1.29,
                    "category": "Drinks",
                    "image": str(image),
                }
            ]
        )
    )
    import_products(db, new)
    embedder = open_embedder(load_settings())
    try:
        index_catalog(db, embedder)
    finally:
        embedder.close()
    qtbot.waitUntil(lambda: window.services.finder is not before, timeout=5000)
    assert window.services.recognizer.finder is window.services.finder
    window.open_page(window.search)
    window.search.keyboard.type_text("zero")
    qtbot.waitUntil(lambda: window.search.model.rowCount() == 1, timeout=3000)
    assert window.search.model.product(0).sku == "NEW-1"
    window.staff_exit()


def test_the_keypad_slows_down_a_pin_guesser_and_warns_about_the_default_pin(qtbot, make_window):
    window = make_window(StillCamera(empty_frame()).open, ui={"fullscreen": False})
    window.open_page(window.pin.parentWidget())
    for guess in range(5):
        window.pin.enter(f"{guess:04d}")
    assert window.pin.message.text().startswith("Wrong PIN. Try again in ")
    window.pin.enter("2468")  # the right (default) PIN, during the delay: still refused
    assert window.stack.currentWidget() is window.pin.parentWidget()
    window.pin.guard._until = 0  # the delay is over
    window.pin.enter("2468")
    assert window.stack.currentWidget() is window.staff
    assert "still the default" in window.staff.values["staff_warning"].text()


def _fully_visible(grid) -> int:
    view = grid.viewport()
    return sum(
        view.rect().contains(card.geometry().translated(grid.widget().pos())) for card in grid.cards
    )


def test_search_shows_four_results_over_the_keyboard_and_drags_with_a_finger(qtbot, make_window):
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    window = make_window(StillCamera(empty_frame()).open)
    _tap(qtbot, window.scan.search_button)
    page = window.search
    page.keyboard.type_text("c")
    qtbot.waitUntil(lambda: len(page.results.cards) >= 8, timeout=3000)
    qtbot.wait(100)
    assert page.keyboard.isVisible() and _fully_visible(page.results) >= 4
    view, bar = page.results.viewport(), page.results.verticalScrollBar()
    assert bar.maximum() > 0 and bar.value() == 0

    def mouse(kind, y, buttons):
        pos = QPointF(view.width() / 2, y)
        event = QMouseEvent(
            kind,
            pos,
            view.mapToGlobal(pos),
            Qt.MouseButton.LeftButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(view, event)

    held = Qt.MouseButton.LeftButton
    mouse(QEvent.Type.MouseButtonPress, view.height() - 10, held)
    for step in range(1, 16):  # a finger drags up
        qtbot.wait(16)
        mouse(QEvent.Type.MouseMove, view.height() - 10 - step * 8, held)
    mouse(QEvent.Type.MouseButtonRelease, view.height() - 130, Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: bar.value() > 40, timeout=3000)


def test_search_that_finds_nothing_offers_a_way_on(qtbot, make_window):
    window = make_window(StillCamera(empty_frame()).open)
    _tap(qtbot, window.scan.search_button)
    page = window.search
    assert page.hint.isVisible() and not page.browse_button.isVisible()  # nothing typed yet
    page.keyboard.type_text("zzzz")
    qtbot.waitUntil(lambda: page.browse_button.isVisible(), timeout=3000)
    assert "zzzz" in page.hint.text() and page.clear_button.isVisible()
    _tap(qtbot, page.clear_button)
    assert page.field.text() == ""
    page.keyboard.type_text("zzzz")
    qtbot.waitUntil(lambda: page.browse_button.isVisible(), timeout=3000)
    _tap(qtbot, page.browse_button)
    assert window.stack.currentWidget() is window.browse and window.browse.category_buttons


def test_the_staff_page_tells_a_manager_about_the_catalog_and_todays_scans(
    qtbot, make_window, demo_assets, demo_frames
):
    from kiosk.ui.staff_info import readable_id

    camera = StillCamera(_held(demo_assets, demo_frames, "DEMO-016"))
    window = make_window(camera.open, recognition={"auto_mode": False})
    window.find_now()
    qtbot.waitUntil(lambda: window.scan.panel.state == "confident", timeout=5000)
    camera.show(empty_frame())
    qtbot.wait(300)
    window.find_now()
    qtbot.waitUntil(lambda: window.scan.panel.state == "no_match", timeout=5000)
    window._open_staff()
    rows = {k: v.text() for k, v in window.staff.values.items()}
    summary = window.services.finder.summary()
    assert rows["staff_scans"] == "2: 1 found, 0 not sure, 1 no match"
    assert rows["staff_products"].startswith(f"{summary.products} products, ")
    assert f"{summary.enrolled_photos} in-store shots" in rows["staff_products"]
    assert rows["staff_model"] == readable_id(window.services.embedder.model_id)
    window.set_language("de")  # every label follows the language
    labels = {k: w.text() for k, w in window.staff._keys.items()}
    assert labels["staff_scans"] == "Scans heute" and labels["staff_camera"] == "Kamera"
    assert window.staff.values["staff_scans"].text().startswith("2: 1 gefunden")
    assert window.staff.values["staff_throttling"].text() == "aus"  # values follow too
    assert window.staff.values["staff_camera"].text().startswith("läuft")
    assert window.staff.exit_button.text() == "Kiosk beenden"


@pytest.mark.parametrize("mirror", [False, True])
def test_the_preview_shows_the_frame_scaled_to_fit_and_mirrored_when_asked(qtbot, mirror):
    from kiosk.ui.preview import PreviewWidget

    preview = PreviewWidget(0.8, mirror=mirror)
    qtbot.addWidget(preview)
    preview.resize(800, 600)
    frame = np.zeros((240, 320, 3), np.uint8)
    frame[:, :160] = (0, 0, 255)  # left half red, right half blue (BGR)
    frame[:, 160:] = (255, 0, 0)
    preview.set_frame(frame)
    shot = preview.grab().toImage()
    # 320x240 fits 800x600 exactly at 2.5x; the guide's shade darkens the outer edge
    left, right = shot.pixelColor(20, 300), shot.pixelColor(780, 300)
    reds = (left.red(), right.red()) if not mirror else (right.red(), left.red())
    blues = (right.blue(), left.blue()) if not mirror else (left.blue(), right.blue())
    assert reds[0] > 80 and reds[1] < 20 and blues[0] > 80 and blues[1] < 20
    # a new frame is shown (not the scaled copy of the last one)
    preview.set_frame(np.full((240, 320, 3), (0, 255, 0), np.uint8))
    centre = preview.grab().toImage().pixelColor(400, 300)
    assert centre.green() > 200 and centre.red() < 20 and centre.blue() < 20
    preview.clear()
    assert not preview.has_frame
