"""The live camera preview with its framing guide, hint banner and camera-state overlay."""

from __future__ import annotations

import time
from collections import deque

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..frames import guide_box
from . import theme


class PreviewWidget(QWidget):
    """Paints the latest frame scaled to fit, darkens outside the guide, shows hints.

    Each frame is scaled once, when it is first painted, with one OpenCV call into a reused
    buffer already in the screen's pixel layout, and then drawn unscaled: QPainter's smooth
    scaling of a BGR image costs 2.4 ms of CPU spread over both cores per frame, this 0.9 ms
    on the GUI thread alone, which leaves the model's core to the model.
    """

    def __init__(
        self, guide_fraction: float, mirror: bool = False, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.guide_fraction = guide_fraction
        self.mirror = mirror
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(480, 360)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._pixels: np.ndarray | None = None  # keeps the QImage's buffer alive
        self._image: QImage | None = None
        #: the current frame scaled to the widget, as painted (BGRA: QImage's RGB32)
        self._scaled_pixels: np.ndarray | None = None
        self._scaled: QImage | None = None
        self._scaled_key: tuple[int, int, int] | None = None
        self._frame_no = 0
        self.hint = ""
        self.overlay = ""  # "Camera unavailable" and the like: covers the picture
        self.overlay_detail = ""
        self.busy = False
        self._painted: deque[float] = deque(maxlen=60)

    def set_frame(self, pixels: np.ndarray) -> None:
        """Show ``pixels`` (8-bit BGR, not modified afterwards by anyone)."""
        pixels = np.ascontiguousarray(pixels)
        h, w = pixels.shape[:2]
        self._pixels = pixels
        self._image = QImage(pixels.data, w, h, pixels.strides[0], QImage.Format.Format_BGR888)
        self._frame_no += 1
        self.update()

    def clear(self) -> None:
        """Forget the frame (idle reset: no pixels kept)."""
        self._pixels = None
        self._image = None
        self._scaled_pixels = None
        self._scaled = None
        self._scaled_key = None
        self.update()

    def _scaled_frame(self, width: int, height: int) -> QImage | None:
        """The current frame scaled to ``width`` × ``height`` device pixels (and mirrored when
        asked), made at most once per frame and size."""
        pixels = self._pixels
        if pixels is None or width < 1 or height < 1 or pixels.ndim != 3 or pixels.shape[2] != 3:
            return None
        key = (self._frame_no, width, height)
        if key == self._scaled_key and self._scaled is not None:
            return self._scaled
        buf = self._scaled_pixels
        if buf is None or buf.shape != (height, width, 4):
            buf = self._scaled_pixels = np.empty((height, width, 4), np.uint8)
        shrink = width < pixels.shape[1]
        scaled = cv2.resize(
            pixels,
            (width, height),
            interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
        )
        if self.mirror:
            scaled = cv2.flip(scaled, 1)
        cv2.cvtColor(scaled, cv2.COLOR_BGR2BGRA, dst=buf)
        image = QImage(buf.data, width, height, buf.strides[0], QImage.Format.Format_RGB32)
        image.setDevicePixelRatio(self.devicePixelRatioF())
        self._scaled, self._scaled_key = image, key
        return image

    @property
    def has_frame(self) -> bool:
        return self._image is not None

    def display_fps(self, *, live: bool = False) -> float:
        """Frames painted per second over the last 60 painted; with ``live``, 0 when nothing
        was painted in the last second (the preview is hidden or the camera is away)."""
        times = list(self._painted)
        if len(times) < 2 or (live and time.monotonic() - times[-1] > 1.0):
            return 0.0
        return (len(times) - 1) / max(1e-6, times[-1] - times[0])

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#05090d"))
        target = QRectF(self.rect())
        if self._image is not None and not self.overlay:
            iw, ih = self._image.width(), self._image.height()
            scale = min(self.width() / iw, self.height() / ih)
            target = QRectF(
                (self.width() - iw * scale) / 2,
                (self.height() - ih * scale) / 2,
                iw * scale,
                ih * scale,
            )
            ratio = self.devicePixelRatioF()
            scaled = self._scaled_frame(
                round(target.width() * ratio), round(target.height() * ratio)
            )
            if scaled is not None:
                p.drawImage(QPointF(round(target.x()), round(target.y())), scaled)
            else:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
                p.drawImage(target, self._image)
            self._paint_guide(p, target, iw, ih, scale)
            self._painted.append(time.monotonic())
        if self.overlay:
            self._paint_overlay(p)
        elif self.hint:
            self._paint_banner(p, self.hint, theme.ACCENT)
        elif self.busy:
            self._paint_banner(p, "…", theme.ON_DARK)
        p.end()

    def _paint_guide(self, p: QPainter, target: QRectF, iw: int, ih: int, scale: float) -> None:
        x, y, side, _ = guide_box(iw, ih, self.guide_fraction)
        g = QRectF(target.x() + x * scale, target.y() + y * scale, side * scale, side * scale)
        outside = QPainterPath()
        outside.addRect(target)
        inner = QPainterPath()
        inner.addRoundedRect(g, 24, 24)
        p.fillPath(outside.subtracted(inner), QColor(0, 0, 0, 110))
        pen = QPen(QColor(theme.ACCENT if not self.busy else theme.ON_DARK), 8)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        arm = g.width() * 0.18
        for cx, cy, dx, dy in (
            (g.left(), g.top(), 1, 1),
            (g.right(), g.top(), -1, 1),
            (g.left(), g.bottom(), 1, -1),
            (g.right(), g.bottom(), -1, -1),
        ):
            p.drawLine(int(cx), int(cy), int(cx + dx * arm), int(cy))
            p.drawLine(int(cx), int(cy), int(cx), int(cy + dy * arm))

    def _paint_banner(self, p: QPainter, text: str, colour: str) -> None:
        font = QFont(self.font())
        font.setPixelSize(34)
        font.setBold(True)
        p.setFont(font)
        width = p.fontMetrics().horizontalAdvance(text) + 60
        box = QRectF((self.width() - width) / 2, self.height() - 100, width, 68)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(10, 16, 24, 215))
        p.drawRoundedRect(box, 18, 18)
        p.setPen(QColor(colour))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_overlay(self, p: QPainter) -> None:
        p.fillRect(self.rect(), QColor("#1b2633"))
        font = QFont(self.font())
        font.setPixelSize(40)
        font.setBold(True)
        p.setFont(font)
        p.setPen(QColor(theme.WARN))
        r = QRectF(self.rect())
        p.drawText(
            r.adjusted(20, 0, -20, -60),
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            self.overlay,
        )
        if self.overlay_detail:
            font.setPixelSize(24)
            font.setBold(False)
            p.setFont(font)
            p.setPen(QColor(theme.ON_DARK))
            p.drawText(
                r.adjusted(20, 80, -20, 0), Qt.AlignmentFlag.AlignCenter, self.overlay_detail
            )
