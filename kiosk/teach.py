"""Teaching the kiosk a product (staff, behind the PIN): pick the good shots while the product
is held up, then enrol them into the catalog and refit the store adaptation. Qt-free.

Only frames read after staff started a capture are ever considered, and only the part inside
the framing guide is kept, as the recogniser sees it. The shots are written as JPEGs into the
catalog's own folder (``enrolled/<sku>/``), nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catalog import CatalogError, CatalogSettings, enroll_frames, index_catalog
from models import ImageEmbedder

from .camera_loop import Frame
from .frames import crop_guide

#: shots a capture takes
WANTED_SHOTS = 5


class ShotCollector:
    """Keeps the frames worth enrolling: good (sharp, well lit, something in the guide) for
    ``steady_s`` in a row, and at least ``gap_s`` after the previous shot, so staff have time
    to turn the product a little between shots."""

    def __init__(
        self,
        *,
        steady_s: float,
        guide_fraction: float,
        started: float,
        wanted: int = WANTED_SHOTS,
        gap_s: float = 0.8,
    ) -> None:
        self.wanted = wanted
        self.started = started  # frames from before staff started are never used
        self.guide_fraction = guide_fraction
        self.steady_s, self.gap_s = steady_s, gap_s
        self._good_since: float | None = None
        self._last_shot = float("-inf")
        self.shots: list[np.ndarray] = []

    @property
    def done(self) -> bool:
        return len(self.shots) >= self.wanted

    def feed(self, frame: Frame) -> bool:
        """Look at one frame; True when it was kept as a shot."""
        report = frame.analysis
        if self.done or report is None or frame.t < self.started:
            return False
        if not report.ok:
            self._good_since = None
            return False
        if self._good_since is None:
            self._good_since = frame.t
        if frame.t - self._good_since < self.steady_s or frame.t - self._last_shot < self.gap_s:
            return False
        self._last_shot = frame.t
        self.shots.append(np.ascontiguousarray(crop_guide(frame.image, self.guide_fraction)))
        return True

    def clear(self) -> None:
        self.shots = []
        self._good_since = None
        self._last_shot = float("-inf")


@dataclass(frozen=True)
class TeachReport:
    sku: str
    added: int
    enrolled_total: int  # in-store shots the product has now
    adaptation: str  # what `index` did with the store adaptation
    #: why the shots are saved but not learnt yet (the catalog was busy, say): the next
    #: `catalog index` learns them
    postponed: str = ""


def teach_product(
    db_path: str | os.PathLike[str],
    sku: str,
    shots: list[np.ndarray],
    embedder: ImageEmbedder,
    settings: CatalogSettings | None = None,
) -> TeachReport:
    """Enrol ``shots`` for ``sku`` and index the catalog (embeds them, refits the adaptation).

    Runs off the GUI thread; raises :class:`catalog.CatalogError` (busy, unknown SKU, ...)."""
    from catalog import UnknownProductError, enrolled_shots

    report = enroll_frames(Path(db_path), sku, shots, settings=settings)
    if not report.added and report.issues:
        raise UnknownProductError(str(report.issues[0]))
    try:  # the shots are in the catalog now; learning them may have to wait
        indexed = index_catalog(db_path, embedder, settings=settings, verify=False)
    except CatalogError as exc:
        return TeachReport(sku, report.added, len(enrolled_shots(db_path, sku)), "", str(exc))
    action = indexed.adaptation.action if indexed.adaptation is not None else "none"
    return TeachReport(sku, report.added, len(enrolled_shots(db_path, sku)), action)
