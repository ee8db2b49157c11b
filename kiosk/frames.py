"""Frame geometry shared by the preview, the quality checks and recognition.

The framing guide is a centred square; recognition and the quality checks look only inside it,
so what the shopper lines up is exactly what the model sees.
"""

from __future__ import annotations

import numpy as np


def guide_box(width: int, height: int, fraction: float) -> tuple[int, int, int, int]:
    """(x, y, side, side) of the centred square guide, ``fraction`` of the shorter side."""
    side = max(1, round(min(width, height) * fraction))
    return (width - side) // 2, (height - side) // 2, side, side


def crop_guide(frame: np.ndarray, fraction: float) -> np.ndarray:
    """The part of ``frame`` inside the framing guide (a view, not a copy)."""
    h, w = frame.shape[:2]
    x, y, cw, ch = guide_box(w, h, fraction)
    return frame[y : y + ch, x : x + cw]
