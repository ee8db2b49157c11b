"""The kiosk's moving parts behind the screens: start-up, camera, recognition, throttling.

:class:`KioskController` is a ``QObject`` without widgets. It starts the camera thread as soon
as a camera exists, loads the model and catalog on the recognition pool (never on the GUI
thread), feeds frames to the preview, triggers auto scans, and applies throttling.
"""

from __future__ import annotations

import gc
import logging
import time

import cv2
import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from catalog.types import ProductFinder

from ..camera_loop import CameraState, Frame
from ..errors import ModelChangedError
from ..quality import QualityChecker, QualityReport, SceneTracker, SteadyTimer
from ..recognizer import Recognition, Recognizer
from ..services import START_ERRORS, Backend, CameraFactory, KioskServices, describe_error
from ..settings import KioskSettings
from ..tally import ScanTally
from ..throttle import ThrottleMonitor, ThrottleState
from .camera_thread import CameraThread
from .recognition import RecognitionRunner, Task
from .stall import StallMeter

log = logging.getLogger(__name__)


class KioskController(QObject):
    """Start-up, the camera, recognition and throttling; the window only displays."""

    frameShown = Signal(object)  # Frame
    cameraStateChanged = Signal(str, str)
    progress = Signal(str, int, int)
    ready = Signal(object)  # KioskServices
    startFailed = Signal(str)
    recognized = Signal(object)  # Recognition
    recognitionFailed = Signal(str)
    busyChanged = Signal(bool)
    throttleChanged = Signal(object)  # ThrottleState
    catalogChanged = Signal(object)  # the new ProductFinder
    #: the scene a shown result was about is gone: "empty" (only background in the guide)
    #: or "changed" (something else is there)
    resultStale = Signal(str)
    #: on the attract screen, a product was held up in front of the camera
    productPresented = Signal()
    #: after start-up, one scan of a catalog photo went through model and catalog (or why not)
    selfTestPassed = Signal(str)
    selfTestFailed = Signal(str)
    #: a new catalog needs another model bundle: restart the kiosk to load it (the reason)
    restartNeeded = Signal(str)

    def __init__(
        self,
        settings: KioskSettings,
        backend: Backend,
        *,
        t_start: float | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.backend = backend
        self.t_start = time.monotonic() if t_start is None else t_start
        self.first_frame_s: float | None = None
        self.ready_s: float | None = None
        self.services: KioskServices | None = None
        self.camera: CameraThread | None = None
        self.last_frame: Frame | None = None
        self.last_quality: QualityReport | None = None
        self.auto = settings.recognition.auto_mode
        self.paused = False  # the attract screen pauses scanning (the camera keeps running)
        self.watch_for_shoppers = False  # on the attract screen: wake when a product appears
        r = settings.recognition
        self.quality = QualityChecker(settings.quality, r.guide_fraction)
        self.steady = SteadyTimer(r.steady_s, r.auto_interval_s)
        self.scene = SceneTracker(r.scene_change, r.stale_after_s)  # what the result is about
        self._idle_scene = SceneTracker(r.scene_change, r.steady_s)  # the attract screen's view
        self._scene_left = False
        self.tally = ScanTally()  # today's scans by outcome (the staff page)
        self.runner = RecognitionRunner(self)
        self.runner.finished.connect(self._on_recognized)
        self.runner.failed.connect(self.recognitionFailed)
        self.runner.busyChanged.connect(self._on_busy)
        self.stall = StallMeter(parent=self)
        self.monitor = ThrottleMonitor(settings.thermal, settings.camera.fps, r.auto_interval_s)
        self._throttle_timer = QTimer(self)
        self._throttle_timer.setInterval(int(settings.thermal.poll_s * 1000))
        self._throttle_timer.timeout.connect(self.poll_throttle)
        self._startup: Task | None = None
        self._catalog_timer = QTimer(self)
        self._catalog_timer.setInterval(int(settings.catalog_poll_s * 1000))
        self._catalog_timer.timeout.connect(self.check_catalog)
        self._closed = False

    # -- start-up -------------------------------------------------------------------------------
    def start(self) -> None:
        """Find the camera and load the services on the pool; the GUI stays responsive."""
        self.stall.start()
        self._throttle_timer.start()
        self.poll_throttle()

        def work(task: Task) -> KioskServices:
            report = task.signals.progress.emit
            factory = self.backend.camera(report)
            task.signals.step.emit(factory)  # the camera can start before the model loads
            return self.backend.open(report)

        task = Task(work)
        task.signals.progress.connect(self.progress)
        task.signals.step.connect(self._start_camera)
        task.signals.done.connect(self._on_ready)
        task.signals.error.connect(self._on_start_failed)
        self._startup = task
        self.runner.run_task(task)

    def _on_ready(self, services: KioskServices) -> None:
        if self._closed:  # closed while loading: nothing will use them
            services.close()
            return
        self.services = services
        if services.catalog_db is not None and self.settings.catalog_poll_s > 0:
            self._catalog_timer.start()
        self.runner.recognizer = services.recognizer
        self.ready_s = time.monotonic() - self.t_start
        # Everything loaded so far lives as long as the kiosk: keep the cyclic garbage
        # collector from walking it again (full collections would otherwise pause the GUI
        # thread for tens of milliseconds).
        gc.collect()
        gc.freeze()
        log.info(
            "ready after %.2f s (model %s, catalog %s)",
            self.ready_s,
            services.embedder.model_id,
            services.finder.catalog_version,
        )
        self.ready.emit(services)
        self._self_test(services)

    def _self_test(self, services: KioskServices) -> None:
        """Scan one catalog photo on the pool, as a shopper's frame would be scanned."""

        def work(_task: Task) -> str:
            finder = services.finder
            sku = next((p.sku for c in finder.categories() for p in finder.browse(c, 1)), None)
            data = finder.thumbnail(sku) if sku else None
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if image is None:  # a catalog without photos: a grey frame still exercises it all
                image = np.full((240, 320, 3), 128, np.uint8)
            frame = cv2.copyMakeBorder(image, 60, 60, 60, 60, cv2.BORDER_REPLICATE)
            rec = Recognizer(
                services.embedder, lambda: finder, self.settings.recognition, cache=None
            ).recognize(frame)
            return f"self-test scan {rec.outcome.value} in {rec.timings_ms['total']:.0f} ms"

        task = Task(work)
        task.signals.done.connect(lambda text: self.selfTestPassed.emit(str(text)))
        task.signals.error.connect(lambda exc: self.selfTestFailed.emit(describe_error(exc)))
        self._self_test_task = task
        self.runner.run_task(task)

    def _on_start_failed(self, exc: BaseException) -> None:
        log.error("start-up failed: %s", describe_error(exc))
        if not isinstance(exc, START_ERRORS):
            log.exception("unexpected start-up error", exc_info=exc)
        self.startFailed.emit(describe_error(exc))

    def _start_camera(self, factory: CameraFactory) -> None:
        c = self.settings.camera
        self.camera = CameraThread(
            factory,
            fps=self.monitor.state.camera_fps,
            stall_timeout_s=c.stall_timeout_s,
            reconnect_interval_s=c.reconnect_interval_s,
            analyse=self.quality.check,
            parent=self,
        )
        self.camera.frameReady.connect(self._on_frame)
        self.camera.stateChanged.connect(self._on_camera_state)
        self.camera.start_camera()

    # -- frames ---------------------------------------------------------------------------------
    def _on_frame(self) -> None:
        if self.camera is None:
            return
        frame = self.camera.take()
        if frame is None:
            return
        if self.first_frame_s is None:
            self.first_frame_s = time.monotonic() - self.t_start
            log.info("first frame after %.2f s", self.first_frame_s)
        self.last_frame = frame
        report = self.last_quality = frame.analysis
        self.frameShown.emit(frame)
        if report is None:
            return
        gone = self.scene.update(report, frame.t)
        if gone:
            self.steady.reset()  # what is there now is a new scene: scan it when steady
            self._scene_left = True
            self.resultStale.emit(gone)
        if self.paused:
            self._watch(report, frame.t)
            return
        if not self.auto or self.services is None or self.runner.busy:
            return
        if self.steady.update(report, frame.t):
            self._submit(frame)

    def _watch(self, report: QualityReport, now: float) -> None:
        """On the attract screen: a steady, scannable scene unlike the one it went idle on
        means someone is holding a product up."""
        if not self.watch_for_shoppers or self.services is None:
            return
        if not self._idle_scene.marked:
            self._idle_scene.mark(report)  # the counter as it was when the kiosk went idle
        elif not report.ok:
            self._idle_scene.restart()  # moving, dark, empty: the steady time starts again
        elif self._idle_scene.update(report, now) == "changed":
            self.watch_for_shoppers = False
            self.productPresented.emit()

    def _submit(self, frame: Frame) -> None:
        self.scene.mark(frame.analysis)  # the result will be about this scene
        self._scene_left = False
        self.runner.submit(frame.image, frame.t)

    def _on_camera_state(self, state: str, detail: str) -> None:
        if state != CameraState.LIVE.value:
            self.last_frame = None  # never scan a frame from before the camera went away
            self.quality.reset()
        self.cameraStateChanged.emit(state, detail)

    # -- recognition ----------------------------------------------------------------------------
    def find_now(self) -> bool:
        """Scan the latest frame now (the "Find this product" button); False if impossible."""
        frame = self.last_frame
        if frame is None or self.services is None:
            return False
        self.steady.reset()
        self._submit(frame)
        return True

    def set_auto(self, on: bool) -> None:
        self.auto = on
        self.steady.reset()

    def _on_busy(self, busy: bool) -> None:
        self.stall.busy = busy
        self.busyChanged.emit(busy)

    def _on_recognized(self, rec: Recognition, frame_time: float) -> None:
        if self._scene_left:
            # the scene it was about left while the model ran: never show it
            log.info("result dropped: the scene changed while it was computed")
            return
        self.tally.add(rec.outcome.value)
        self.recognized.emit(rec)

    # -- a re-published catalog ------------------------------------------------------------------
    def check_catalog(self) -> None:
        """Look for a newer catalog on the pool; swap it in on the GUI thread when found."""
        services = self.services
        if services is None:
            return
        task = Task(lambda _task: services.newer_finder())
        task.signals.done.connect(self._swap_catalog)
        task.signals.error.connect(self._catalog_failed)
        self.runner.run_task(task)

    def _catalog_failed(self, exc: BaseException) -> None:
        if isinstance(exc, ModelChangedError):
            self._catalog_timer.stop()  # once: the kiosk restarts on the new model
            self.restartNeeded.emit(str(exc))
            return
        log.warning("catalog reload failed: %s", describe_error(exc))

    def _swap_catalog(self, finder: ProductFinder | None) -> None:
        if finder is None or self.services is None:
            return
        old = self.services.swap_finder(finder)
        log.info("catalog swapped in: version %s", finder.catalog_version)
        # Close the old one on the pool, after any scan that is still searching it.
        self.runner.run_task(Task(lambda _task: old.close()))
        self.catalogChanged.emit(finder)

    # -- throttling -----------------------------------------------------------------------------
    def poll_throttle(self) -> ThrottleState:
        state = self.monitor.poll()
        self.apply_throttle(state)
        return state

    def apply_throttle(self, state: ThrottleState) -> None:
        self.steady.interval_s = state.auto_interval_s
        if self.camera is not None:
            self.camera.loop.set_fps(state.camera_fps)
        self.throttleChanged.emit(state)

    # -- session and shutdown -------------------------------------------------------------------
    def reset_session(self) -> None:
        """Idle reset: forget frames, queued scans and cached results."""
        self.runner.cancel()
        self.last_frame = None
        self.last_quality = None
        if self.camera is not None:
            self.camera.loop.latest.clear()
        self.quality.reset()
        self.steady.reset()
        self.scene.reset()
        self._idle_scene.reset()
        if self.services is not None:
            self.services.cache.clear()

    def shutdown(self) -> None:
        """Stop the camera thread and the pool, then close the model and catalog."""
        self._closed = True
        self._catalog_timer.stop()
        self._throttle_timer.stop()
        self.stall.stop()
        if self.camera is not None:
            if not self.camera.stop():
                log.error("the camera thread did not stop in time")
            self.camera = None
        self.runner.shutdown()
        self.last_frame = None
        if self.services is not None:
            self.services.close()
            self.services = None
