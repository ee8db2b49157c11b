"""Screenshots of every screen, on the demo shop: ``python -m kiosk.ui.shots OUT_DIR``.

Run it under a real X server (``xvfb-run -s "-screen 0 1280x800x24" python -m kiosk.ui.shots
docs/screenshots``): it drives the real window through the live preview, a result, the details
page, "not sure", "no match", search, browse, the attract screen, the staff page, teaching a
product and a camera outage, and saves each as PNG. Only the project's own drawn demo products appear.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from ..demo.stills import empty_frame, pair_frame, product_frame
from ..services import CameraFactory, DemoBackend, Progress
from ..settings import load_settings
from ..testing import StillCamera
from .app import dispose
from .main_window import KioskWindow


class _ShotBackend(DemoBackend):
    def __init__(self, settings, still: StillCamera) -> None:
        super().__init__(settings)
        self.still = still

    def camera(self, progress: Progress | None = None) -> CameraFactory:
        return self.still.open


def wait_until(app: QApplication, done: Callable[[], bool], timeout: float = 20.0) -> None:
    """Run the event loop (no sleeping on the GUI thread) until ``done()`` (also used by the
    staff window's screenshots)."""
    loop = QEventLoop()
    poll = QTimer()

    def check() -> None:
        if done():
            loop.quit()

    poll.timeout.connect(check)
    poll.start(5)
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    loop.exec()
    poll.stop()
    if not done():
        raise TimeoutError("the window did not reach the expected state")


def settle(app: QApplication, seconds: float = 0.4) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--language", default="en", choices=["en", "de"])
    parser.add_argument("--format", default="png", choices=["png", "jpg"])
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    data = Path(tempfile.mkdtemp(prefix="aislelens-shots-"))
    settings = load_settings(
        data_dir=data,
        ui={"fullscreen": False, "language": args.language},
        recognition={"auto_mode": False},
    )
    still = StillCamera(product_frame("DEMO-001", seed=4, hand=1))
    window = KioskWindow(settings, _ShotBackend(settings, still))
    window.start()
    window.resize(1280, 800)
    c = window.controller
    wait_until(app, lambda: c.services is not None and window.scan.preview.has_frame, 120)
    suffix = "" if args.language == "en" else f"-{args.language}"

    def shoot(name: str) -> None:
        settle(app)
        window.grab().save(str(args.out / f"{name}{suffix}.{args.format}"), quality=88)
        print("saved", name + suffix)

    def scan(frame, state: str) -> None:
        window.stack.setCurrentWidget(window.scan)
        still.show(frame)
        settle(app, 0.3)
        window.find_now()
        wait_until(app, lambda: window.scan.panel.state == state)

    try:
        _tour(
            app, window, still, shoot, scan, settings.ui.staff_pin.get_secret_value(), args.language
        )
    finally:
        window.staff_exit()
        dispose(window)
    return 0


def _tour(app, window, still, shoot, scan, pin: str, language: str) -> None:
    """Visit every screen in turn."""
    still.show(product_frame("DEMO-001", seed=4, gain=0.22))  # too dark: shows a hint
    shoot("01-live-preview-hint")
    scan(product_frame("DEMO-001", seed=2), "confident")
    shoot("02-results")
    window.scan.panel.cards[0].activated.emit(window.scan.panel.cards[0].product.sku)
    shoot("03-details")
    scan(pair_frame("DEMO-008", "DEMO-009"), "not_sure")
    shoot("04-not-sure")
    scan(empty_frame(), "no_match")
    shoot("05-no-match")
    window.open_page(window.search)
    window.search.keyboard.type_text("c")  # several results above the keyboard
    wait_until(app, lambda: window.search.model.rowCount() > 0)
    shoot("06-search-keyboard")
    window.go_back()
    window.open_browse("Fruit & veg")
    shoot("07-browse")
    window.go_idle()
    shoot("08-attract")
    window.wake()
    window.open_page(window.pin.parentWidget())
    window.pin.enter(pin)
    settle(app, 1.2)
    shoot("09-staff")
    window.open_teach()  # shots taken, not saved: the cached demo catalog stays as it is
    window.teach.start("DEMO-016")
    still.show(product_frame("DEMO-016", seed=2))
    wait_until(
        app, lambda: window.teach.collector is not None and len(window.teach.collector.shots) >= 3
    )
    shoot("11-teach")
    window.leave_staff()
    still.unplug()
    wait_until(app, lambda: bool(window.scan.preview.overlay))
    shoot("10-camera-unavailable")


if __name__ == "__main__":
    raise SystemExit(main())
