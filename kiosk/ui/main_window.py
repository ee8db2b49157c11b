"""The kiosk window: screens in a stack, navigation, idle reset, kiosk lock and staff exit."""

from __future__ import annotations

import logging
import random
import time

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import QApplication, QGridLayout, QMainWindow, QStackedWidget, QWidget

from catalog.types import ProductFinder

from ..camera_loop import CameraState, Frame
from ..i18n import LANGUAGES_CYCLE, Translator
from ..quality import QualityReport
from ..recognizer import Recognition
from ..services import Backend, KioskServices
from ..settings import KioskSettings
from ..throttle import ThrottleState
from . import theme
from .controller import KioskController
from .pages import AttractPage, BrowsePage, DetailsPage, SearchPage
from .qtfix import guard_singleton_refcounts
from .scan_page import ScanPage
from .staff import PinPad, StaffPage
from .staff_info import diagnostic_rows, store_rows
from .teach import TeachPage
from .widgets import Thumbnails

log = logging.getLogger(__name__)

DEFAULT_PIN_WARNING = (
    "the staff PIN is still the default one: set ui.staff_pin in the settings file"
)

#: how long a result for a changed scene stays, faded, waiting for the new scan's result
FADED_FOR_MS = 2500

IDLE_EVENTS = {
    QEvent.Type.MouseButtonPress,
    QEvent.Type.TouchBegin,
    QEvent.Type.KeyPress,
    QEvent.Type.TouchUpdate,
    QEvent.Type.Wheel,
}


class KioskWindow(QMainWindow):
    """The shopper app. In kiosk mode it refuses to close until staff exit with the PIN."""

    sessionReset = Signal()
    closing = Signal()  # the window accepted a close: the kiosk is stopping

    def __init__(
        self,
        settings: KioskSettings,
        backend: Backend,
        *,
        t_start: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        guard_singleton_refcounts()  # before the first frame: see qtfix.py
        super().__init__(parent)
        self.settings = settings
        self.i18n = Translator(settings.ui.language)
        self.locked = settings.ui.fullscreen
        self._staff_exit = False
        self._closing = False
        self.services: KioskServices | None = None
        self.controller = KioskController(settings, backend, t_start=t_start, parent=self)
        self.thumbs = Thumbnails(self._thumbnail)
        tr = lambda: self.i18n  # noqa: E731 (pages always see the current language)
        u, r = settings.ui, settings.recognition
        self.scan = ScanPage(
            self.thumbs,
            tr,
            guide_fraction=r.guide_fraction,
            mirror=settings.camera.mirror,
            long_press_s=u.long_press_s,
            auto=r.auto_mode,
        )
        self.details = DetailsPage(self.thumbs, tr)
        self.search = SearchPage(self.thumbs, tr, self.current_finder)
        self.browse = BrowsePage(self.thumbs, tr, self.current_finder)
        self.attract = AttractPage(tr)
        self.staff = StaffPage(self.i18n)
        self.teach = TeachPage(
            self.thumbs,
            tr,
            self.current_finder,
            lambda: self.services,
            guide_fraction=r.guide_fraction,
            steady_s=r.steady_s,
        )
        self.pin = PinPad(u.staff_pin.get_secret_value(), self.i18n)
        if self.pin.guard.is_default:
            log.warning(DEFAULT_PIN_WARNING)
        self.stack = QStackedWidget()
        for page in (
            self.scan,
            self.details,
            self.search,
            self.browse,
            self.attract,
            self.staff,
            self.teach,
            self._centred(self.pin),
        ):
            self.stack.addWidget(page)
        self.setCentralWidget(self.stack)
        # scanning runs while the scan page shows, and only then: derived in one place
        self.stack.currentChanged.connect(self._on_page_changed)
        self.setStyleSheet(theme.STYLE)
        self.setWindowTitle("AisleLens")
        self.setMinimumSize(1024, 640)
        self._history: list[QWidget] = []
        self._wire()
        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.setInterval(int(u.idle_timeout_s * 1000))
        self.idle_timer.timeout.connect(self.go_idle)
        self._fade_timer = QTimer(self)  # a faded result goes if no new one comes
        self._fade_timer.setSingleShot(True)
        self._fade_timer.setInterval(FADED_FOR_MS)
        self._fade_timer.timeout.connect(self.scan.panel.clear_results)
        self._staff_timer = QTimer(self)
        self._staff_timer.setInterval(1000)
        self._staff_timer.timeout.connect(self.refresh_staff)
        self.scan.panel.show_message(self.i18n("starting"))
        self.scan.find_button.setEnabled(False)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        if self.locked:
            self.setWindowFlags(
                self.windowFlags()
                | Qt.WindowType.FramelessWindowHint
                | Qt.WindowType.WindowStaysOnTopHint
            )
        self._cursor_hidden = False
        if u.hide_cursor:  # an override wins over every widget's own cursor (the cards')
            QApplication.setOverrideCursor(Qt.CursorShape.BlankCursor)
            self._cursor_hidden = True

    def _centred(self, widget: QWidget) -> QWidget:
        holder = QWidget()
        grid = QGridLayout(holder)
        grid.addWidget(widget, 0, 0, Qt.AlignmentFlag.AlignCenter)
        return holder

    def _wire(self) -> None:
        c = self.controller
        c.frameShown.connect(self._on_frame)
        c.cameraStateChanged.connect(self._on_camera_state)
        c.progress.connect(self._on_progress)
        c.ready.connect(self._on_ready)
        c.startFailed.connect(self._on_start_failed)
        c.recognized.connect(self._on_recognized)
        c.recognitionFailed.connect(lambda _msg: self.scan.panel.show_error())
        c.busyChanged.connect(self._on_busy)
        c.throttleChanged.connect(lambda _s: self.refresh_staff())
        c.catalogChanged.connect(self._on_catalog_changed)
        c.resultStale.connect(self._on_result_stale)
        c.productPresented.connect(self._on_product_presented)
        s = self.scan
        s.findRequested.connect(self.find_now)
        s.autoToggled.connect(c.set_auto)
        s.searchRequested.connect(lambda: self.open_page(self.search))
        s.browseRequested.connect(lambda: self.open_browse(""))
        s.languageRequested.connect(self.next_language)
        s.brand.longPressed.connect(lambda: self.open_page(self.pin.parentWidget()))
        s.panel.productChosen.connect(self.open_details)
        s.panel.categoryChosen.connect(self.open_browse)
        for page in (self.details, self.search, self.browse):
            page.back.connect(self.go_back)
            page.productChosen.connect(self.open_details)
        self.search.browseRequested.connect(lambda: self.open_browse(""))
        self.attract.touched.connect(self.wake)
        self.pin.accepted.connect(self._open_staff)
        self.pin.cancelled.connect(self.go_back)
        self.staff.back.connect(self.leave_staff)
        self.staff.exitRequested.connect(self.staff_exit)
        self.staff.resetRequested.connect(self.go_idle)
        self.staff.teachRequested.connect(self.open_teach)
        self.teach.back.connect(self._open_staff)
        self.teach.taught.connect(lambda _r: self.controller.check_catalog())

    # -- start-up ------------------------------------------------------------------------------
    def start(self) -> None:
        """Show the window (full screen in kiosk mode) and start the controller."""
        if self.settings.ui.fullscreen:
            self.showFullScreen()
        else:
            self.resize(1280, 800)
            self.show()
        self.controller.start()  # the idle timer starts once ready (not while the demo builds)

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        percent = int(100 * done / max(1, total))
        self.scan.panel.show_message(self.i18n("preparing_demo", percent=percent), stage)

    def _on_ready(self, services: KioskServices) -> None:
        self.services = services
        self.scan.panel.set_category_source(
            lambda: f.categories() if (f := self.current_finder()) is not None else []
        )
        self.scan.find_button.setEnabled(True)
        self.scan.panel.show_idle()
        self.idle_timer.start()
        products = [
            p for c in services.finder.categories()[:6] for p in services.finder.browse(c, 3)
        ]
        picks = random.Random(7).sample(products, min(4, len(products)))
        self.attract.set_showcase([self.thumbs.get(p.sku) for p in picks])

    def _on_catalog_changed(self, finder: ProductFinder) -> None:
        self.thumbs.clear()  # everything else asks current_finder() each time

    def _on_start_failed(self, message: str) -> None:
        self.scan.panel.show_message(self.i18n("start_failed"))
        self.scan.find_button.setEnabled(False)

    def _on_page_changed(self, _index: int) -> None:
        self.controller.paused = self.stack.currentWidget() is not self.scan

    def current_finder(self) -> ProductFinder | None:
        """The catalog being searched now: the services own it (a re-published catalog is
        swapped in there); None before it is loaded and once the window closes."""
        return None if self.services is None or self._closing else self.services.finder

    def _thumbnail(self, sku: str) -> bytes | None:
        finder = self.current_finder()
        return finder.thumbnail(sku) if finder is not None else None

    # -- camera and recognition ----------------------------------------------------------------
    def _on_frame(self, frame: Frame) -> None:
        if self.stack.currentWidget() is self.teach:
            self.teach.feed(frame)  # staff teaching a product: its own preview and shots
            return
        if self.stack.currentWidget() is not self.scan:
            return  # nothing to paint; the controller still scans in auto mode
        self.scan.preview.set_frame(frame.image)
        report = frame.analysis
        hint = report.hint if isinstance(report, QualityReport) else None
        self.scan.preview.hint = self.i18n(hint.value) if hint is not None else ""

    def _on_camera_state(self, state: str, detail: str) -> None:
        p = self.scan.preview
        if state == CameraState.UNAVAILABLE.value:
            p.overlay = self.i18n("camera_unavailable")
            p.overlay_detail = self.i18n("camera_reconnecting")
            p.clear()
        elif state == CameraState.LIVE.value:
            p.overlay = p.overlay_detail = ""
        p.update()

    def find_now(self) -> None:
        if self.controller.find_now():
            self.scan.panel.show_busy()

    def _on_busy(self, busy: bool) -> None:
        self.scan.preview.busy = busy

    def _on_recognized(self, rec: Recognition) -> None:
        if self.stack.currentWidget() in (self.attract, self.staff):
            return
        self._fade_timer.stop()
        self.scan.panel.show_recognition(rec)
        self.idle_timer.start()  # a shopper scanning is using the kiosk, touched or not

    def _on_result_stale(self, kind: str) -> None:
        """The scene the result was about left the guide: clear it, or fade it until the
        scan of what is there now answers."""
        panel = self.scan.panel
        if kind == "empty" or not self.controller.auto:
            self._fade_timer.stop()
            panel.clear_results()
        else:
            panel.fade()
            self._fade_timer.start()

    def _on_product_presented(self) -> None:
        if self.stack.currentWidget() is self.attract:
            log.info("woken by a product held up to the camera")
            self.wake()

    # -- navigation ----------------------------------------------------------------------------
    def open_page(self, page: QWidget | None) -> None:
        if page is None or page is self.stack.currentWidget():
            return
        current = self.stack.currentWidget()
        if current is not None:
            self._history.append(current)
        self.stack.setCurrentWidget(page)

    def go_back(self) -> None:
        page = self._history.pop() if self._history else self.scan
        if page is self.pin.parentWidget() or page is self.staff:
            page = self.scan
        self.stack.setCurrentWidget(page)

    def open_details(self, sku: str) -> None:
        finder = self.current_finder()
        if finder is not None and self.details.show_product(finder, sku):
            self.open_page(self.details)

    def open_browse(self, category: str) -> None:
        if self.current_finder() is None:
            return
        self.browse.load(category)
        self.open_page(self.browse)

    def next_language(self) -> None:
        self.set_language(LANGUAGES_CYCLE[self.i18n.language])

    def set_language(self, language: str) -> None:
        self.i18n = Translator(language)
        self.scan.retranslate()
        for page in (self.details, self.search, self.browse, self.attract):
            page.retranslate()
        if self.scan.panel.state == "message":
            self.scan.panel.show_idle()
        self.pin.set_translator(self.i18n)
        self.staff.set_translator(self.i18n)
        self.teach.retranslate()
        self.refresh_staff()

    # -- idle reset ----------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in IDLE_EVENTS and self.isVisible():
            self.idle_timer.start()
        return False

    def go_idle(self) -> None:
        """Attract screen, and wipe the session: results, history, frames, typed text."""
        self.controller.reset_session()
        self.scan.preview.clear()
        self.scan.panel.wipe()
        for page in (self.details, self.search, self.browse, self.teach):
            page.wipe()
        self._history.clear()
        if self.i18n.language != self.settings.ui.language:
            self.set_language(self.settings.ui.language)
        self.stack.setCurrentWidget(self.attract)
        self.controller.watch_for_shoppers = True
        self._fade_timer.stop()
        self._staff_timer.stop()
        self.sessionReset.emit()
        log.info("session reset")

    def wake(self) -> None:
        self.stack.setCurrentWidget(self.scan)
        self.controller.watch_for_shoppers = False
        self.idle_timer.start()

    # -- staff ---------------------------------------------------------------------------------
    def _open_staff(self) -> None:
        self._history = [self.scan]
        self.stack.setCurrentWidget(self.staff)
        self.refresh_staff()
        self._staff_timer.start()
        log.info("staff page opened")

    def open_teach(self) -> None:
        """Staff teach the kiosk a product (from the staff page)."""
        self._staff_timer.stop()
        self.teach.show_picker()
        self.stack.setCurrentWidget(self.teach)

    def leave_staff(self) -> None:
        self.teach.wipe()
        self._staff_timer.stop()
        self._history.clear()
        self.stack.setCurrentWidget(self.scan)

    def refresh_staff(self) -> None:
        if self.stack.currentWidget() is self.staff:
            store = store_rows(self.controller, self.i18n)
            if self.pin.guard.is_default:
                store.insert(0, ("staff_warning", self.i18n("staff_default_pin")))
            diagnostics = diagnostic_rows(
                self.controller, self.scan.preview.display_fps(), self.i18n
            )
            self.staff.show_info(store, diagnostics)

    @property
    def throttle_state(self) -> ThrottleState:
        return self.controller.monitor.state

    def staff_exit(self) -> None:
        """Staff leave kiosk mode: the only way to close the window while locked."""
        log.info("staff exit")
        self._staff_exit = True
        self.close()

    # -- closing -------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.locked and event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_F4, Qt.Key.Key_F11):
            event.accept()  # no keyboard way out for shoppers
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.locked and not self._staff_exit:
            event.ignore()
            return
        self.closing.emit()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        if self._cursor_hidden:
            QApplication.restoreOverrideCursor()
            self._cursor_hidden = False
        self.idle_timer.stop()
        self._fade_timer.stop()
        self._staff_timer.stop()
        self._closing = True  # a pending search must not run on the catalog about to close
        for page in (self.search, self.browse):
            page.wipe()
        t = time.perf_counter()
        self.teach.wipe()
        if not self.teach.shutdown():  # a save in progress finishes (one transaction) first
            log.error("the teaching job did not finish in time")
        self.controller.shutdown()
        self.scan.preview.clear()
        log.info("closed in %.0f ms", (time.perf_counter() - t) * 1000)
        event.accept()
