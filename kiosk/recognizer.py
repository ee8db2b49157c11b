"""Frame in, search results out: crop the guide, embed, search, classify, cache.

Qt-free and single-threaded by design: the UI runs :meth:`Recognizer.recognize` on a
one-thread pool (see :mod:`kiosk.ui.recognition`), never on the GUI thread. Results are plain
dataclasses; the UI adapts them.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from catalog.decisions import Decision, DecisionThresholds, decide_result
from catalog.types import Match, ProductFinder, SearchResult
from models import ImageEmbedder, ModelError

from .cache import ResultCache, cache_scope, frame_signature
from .errors import RecognitionError
from .frames import crop_guide
from .settings import RecognitionSettings

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    """What the shopper is shown."""

    CONFIDENT = "confident"  # "We found it" — the best card emphasised
    NOT_SURE = "not_sure"  # "Is it one of these?"
    NO_MATCH = "no_match"  # "No match — please ask a member of staff" + browse


@dataclass(frozen=True)
class Recognition:
    """The answer for one frame."""

    outcome: Outcome
    matches: list[Match]
    margin: float
    #: milliseconds: hash, preprocess, inference, search, lookup, total
    timings_ms: dict[str, float] = field(default_factory=dict)
    from_cache: bool = False

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


OUTCOMES = {
    Decision.FOUND: Outcome.CONFIDENT,
    Decision.NOT_SURE: Outcome.NOT_SURE,
    Decision.NO_MATCH: Outcome.NO_MATCH,
}


def thresholds_for(finder: ProductFinder, settings: RecognitionSettings) -> DecisionThresholds:
    """The catalog's (calibrated) thresholds, with any the settings give in their place."""
    return finder.decision_thresholds.overridden(
        confident_score=settings.confident_score,
        confident_margin=settings.confident_margin,
        min_score=settings.min_score,
    )


def classify(result: SearchResult, thresholds: DecisionThresholds) -> Outcome:
    """Confident when the best score and its margin to the runner-up are both high enough."""
    return OUTCOMES[decide_result(result, thresholds)]


class Recognizer:
    """Recognises the product inside the framing guide of a camera frame."""

    def __init__(
        self,
        embedder: ImageEmbedder,
        finder: ProductFinder | Callable[[], ProductFinder],
        settings: RecognitionSettings,
        cache: ResultCache[Recognition] | None = None,
    ) -> None:
        """``finder``: the catalog to search, or where to get the current one (the kiosk's
        services own it, so a re-published catalog is swapped in one place)."""
        self.embedder = embedder
        self._finder_of: Callable[[], ProductFinder] = (
            finder if callable(finder) else (lambda: finder)
        )
        self.settings = settings
        self.cache = cache
        used = thresholds_for(self.finder, settings)
        if used.source.startswith("settings") and "calibrated" in used.source:
            log.warning(
                "recognition thresholds from the settings replace the catalog's calibrated "
                "ones (%s): scores of a store-adapted catalog are on another scale than raw "
                "cosines; remove them from the settings unless you mean it",
                used.source,
            )

    @property
    def finder(self) -> ProductFinder:
        return self._finder_of()

    @property
    def scope(self) -> str:
        return cache_scope(self.finder.catalog_version, self.embedder.model_id)

    def recognize(self, frame: np.ndarray) -> Recognition:
        """Recognise ``frame`` (8-bit BGR). Raises :class:`RecognitionError` on model or
        catalog failure."""
        t0 = time.perf_counter()
        finder = self.finder  # one catalog for the whole scan, even if a new one is swapped in
        scope = cache_scope(finder.catalog_version, self.embedder.model_id)
        region = crop_guide(frame, self.settings.guide_fraction)
        sig = frame_signature(region) if self.cache is not None else None
        t1 = time.perf_counter()
        if self.cache is not None and sig is not None:
            hit = self.cache.get(sig, scope)
            if hit is not None:
                total = (time.perf_counter() - t0) * 1000
                return replace(
                    hit, from_cache=True, timings_ms={"hash": (t1 - t0) * 1000, "total": total}
                )
        try:
            batch = self.embedder.preprocess.one(region, fast=self.settings.fast_preprocess)[None]
            t2 = time.perf_counter()
            vector = self.embedder.embed_batch(batch)[0]
            t3 = time.perf_counter()
            result = finder.search_vector(vector, k=self.settings.top_k)
            t4 = time.perf_counter()
        except ModelError as exc:
            raise RecognitionError(f"the model failed: {exc}") from exc
        except Exception as exc:  # the catalog's own errors, or SQLite's
            raise RecognitionError(f"the catalog search failed: {exc}") from exc
        search_total = (t4 - t3) * 1000
        lookup = float(result.timings_ms.get("lookup", 0.0))
        timings = {
            "hash": (t1 - t0) * 1000,
            "preprocess": (t2 - t1) * 1000,
            "inference": (t3 - t2) * 1000,
            "search": float(result.timings_ms.get("search", search_total - lookup)),
            "lookup": lookup,
            "total": (t4 - t0) * 1000,
        }
        recognition = Recognition(
            classify(result, thresholds_for(finder, self.settings)),
            list(result.matches),
            result.margin,
            timings,
        )
        if self.cache is not None and sig is not None:
            self.cache.put(sig, scope, recognition)
        best = recognition.best
        log.info(
            "scan %s sku=%s score=%.3f margin=%.3f total=%.1fms",
            recognition.outcome.value,
            best.product.sku if best else "-",
            best.score if best else 0.0,
            result.margin,
            timings["total"],
        )
        return recognition
