"""Is this frame worth recognising? Motion, blur, exposure and detail checks with shopper hints.

Runs on every camera frame in the camera thread (well under a millisecond: everything is done
on a 160 × 160 grey thumbnail of the framing guide) and never keeps more than the previous
thumbnail, which the idle reset wipes with everything else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import cv2
import numpy as np

from .frames import crop_guide
from .settings import QualitySettings

THUMB = 160


class Hint(enum.Enum):
    """What the shopper should do so the frame can be recognised (i18n keys)."""

    TOO_DARK = "hint_too_dark"
    TOO_BRIGHT = "hint_too_bright"
    HOLD_STILL = "hint_hold_still"
    MOVE_CLOSER = "hint_move_closer"
    BLURRY = "hint_blurry"


@dataclass(frozen=True)
class QualityReport:
    """Measurements of one frame and the most useful hint (None when it is good to scan)."""

    sharpness: float  # variance of the Laplacian of the thumbnail
    brightness: float  # mean grey level 0..255
    motion: float  # mean absolute grey difference to the previous frame
    detail: float  # fraction of edge pixels in the guide
    contrast: float  # standard deviation of the grey levels in the guide
    hint: Hint | None
    #: the guide as a blurred 40 × 40 grey thumbnail: what the scene looks like, coarsely
    #: enough that a steady hand does not change it (wiped with the frame on idle reset)
    signature: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: the guide holds nothing but background
    empty: bool = False

    @property
    def ok(self) -> bool:
        return self.hint is None


class QualityChecker:
    """Stateful per-frame checks (motion needs the previous frame)."""

    def __init__(self, settings: QualitySettings, guide_fraction: float) -> None:
        self.settings = settings
        self.guide_fraction = guide_fraction
        self._previous: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (idle reset, camera reconnect)."""
        self._previous = None

    def check(self, frame: np.ndarray) -> QualityReport:
        """Measure ``frame`` (8-bit BGR) and choose a hint."""
        region = crop_guide(frame, self.guide_fraction)
        grey = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY) if region.ndim == 3 else region
        thumb = cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
        sharpness = float(cv2.Laplacian(thumb, cv2.CV_32F).var())
        brightness = float(thumb.mean())
        small = cv2.GaussianBlur(
            cv2.resize(thumb, (40, 40), interpolation=cv2.INTER_AREA), (3, 3), 0
        )
        motion = 0.0
        if self._previous is not None:
            motion = float(cv2.absdiff(small, self._previous).mean())
        self._previous = small
        detail = float(np.count_nonzero(cv2.Canny(thumb, 60, 160))) / thumb.size
        contrast = float(thumb.std())
        hint = self._hint(sharpness, brightness, motion, detail, contrast)
        empty = contrast < self.settings.min_contrast
        return QualityReport(sharpness, brightness, motion, detail, contrast, hint, small, empty)

    def _hint(
        self, sharpness: float, brightness: float, motion: float, detail: float, contrast: float
    ) -> Hint | None:
        s = self.settings
        if brightness < s.min_brightness:
            return Hint.TOO_DARK
        if brightness > s.max_brightness:
            return Hint.TOO_BRIGHT
        if motion > s.max_motion:
            return Hint.HOLD_STILL
        if contrast < s.min_contrast:
            return Hint.MOVE_CLOSER  # nothing but background in the guide
        if sharpness < s.min_sharpness:
            return Hint.BLURRY  # something is there, out of focus or moving
        if detail < s.min_detail:
            return Hint.MOVE_CLOSER  # something small and far away
        return None


class SteadyTimer:
    """Auto mode's trigger: the frame has been good for ``steady_s`` and a scan is allowed."""

    def __init__(self, steady_s: float, interval_s: float) -> None:
        self.steady_s = steady_s
        self.interval_s = interval_s
        self._good_since: float | None = None
        self._last_scan = float("-inf")
        self._armed = True  # a scene change (motion) re-arms after a scan

    def reset(self) -> None:
        self._good_since = None
        self._armed = True

    def update(self, report: QualityReport, now: float) -> bool:
        """Feed one frame's report; True when auto mode should scan this frame."""
        if report.hint is Hint.HOLD_STILL or report.hint is Hint.MOVE_CLOSER:
            self._armed = True  # something moved or left: the next steady scene is new
        if not report.ok:
            self._good_since = None
            return False
        if self._good_since is None:
            self._good_since = now
        if (
            self._armed
            and now - self._good_since >= self.steady_s
            and now - self._last_scan >= self.interval_s
        ):
            self._last_scan = now
            self._armed = False
            return True
        return False


def scene_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute grey difference of two scene signatures (0..255)."""
    return float(cv2.absdiff(a, b).mean())


class SceneTracker:
    """Is what is in front of the camera still what a result (or the attract screen) was
    looking at?

    ``mark(report)`` remembers the scene of a scanned frame; ``update(report, now)`` then says
    "empty" once the guide has held only background, or "changed" once the scene has differed
    from the marked one by more than ``change`` grey levels, for ``hold_s`` in a row. A hand
    that shakes a little, or a shopper who pauses, is neither.
    """

    def __init__(self, change: float, hold_s: float) -> None:
        self.change = change
        self.hold_s = hold_s
        self._scene: np.ndarray | None = None
        self._was_empty = False
        self._since: float | None = None
        self._kind = ""

    @property
    def marked(self) -> bool:
        return self._scene is not None

    def mark(self, report: QualityReport | None) -> None:
        self._scene = None if report is None else report.signature
        self._was_empty = report is not None and report.empty  # then "empty" is no news
        self._since = None

    def reset(self) -> None:
        self.mark(None)

    def restart(self) -> None:
        """Start the hold time again (keeps the marked scene)."""
        self._since = None

    def update(self, report: QualityReport, now: float) -> str:
        """ "" while the marked scene is still there; "empty" or "changed" once it is gone
        (reported once: the mark is dropped)."""
        if self._scene is None or report.signature is None:
            return ""
        if report.empty and not self._was_empty:
            kind = "empty"
        elif scene_distance(report.signature, self._scene) > self.change:
            kind = "changed"
        else:
            self._since = None
            return ""
        if self._since is None or kind != self._kind:
            self._since, self._kind = now, kind
        if now - self._since < self.hold_s:
            return ""
        self.reset()
        return kind
