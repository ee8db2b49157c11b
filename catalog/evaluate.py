"""``catalog eval``: how well the catalog finds the right product for labelled photos.

Queries go through the same path as the kiosk (``finder.search_vector``), so the figures
include what the HNSW index loses, if anything. Recall@k and MRR come from
:func:`models.metrics.retrieval_scores`; MRR counts a product ranked below 100 as not found.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models import EmbedReport, ImageEmbedder
from models.metrics import retrieval_scores

from .decisions import DEFAULT_THRESHOLDS, Decision, DecisionThresholds, decide_result
from .finder import CatalogFinder
from .importfile import ImportIssue, read_image_sku_rows
from .progress import ProgressFactory, start_progress, ticker
from .settings import CatalogSettings

RANK_DEPTH = 100
#: candidates the kiosk shows under "Is it one of these?" (its default recognition.top_k)
CANDIDATES = 5


@dataclass
class DecisionCounts:
    """How often each kiosk decision would be shown for the queries, and how often it is right."""

    found: int = 0
    found_correct: int = 0
    not_sure: int = 0
    not_sure_in_candidates: int = 0  # the right product among the candidates shown
    no_match: int = 0
    thresholds: DecisionThresholds = DEFAULT_THRESHOLDS

    def add(self, decision: Decision, correct: bool, in_candidates: bool) -> None:
        if decision is Decision.FOUND:
            self.found += 1
            self.found_correct += int(correct)
        elif decision is Decision.NOT_SURE:
            self.not_sure += 1
            self.not_sure_in_candidates += int(in_candidates)
        else:
            self.no_match += 1

    @property
    def n(self) -> int:
        return self.found + self.not_sure + self.no_match

    @property
    def found_precision(self) -> float:
        return self.found_correct / self.found if self.found else 0.0

    @property
    def found_share(self) -> float:
        return self.found / self.n if self.n else 0.0

    def as_dict(self) -> dict[str, Any]:
        t = self.thresholds
        return {
            "found": {"n": self.found, "correct": self.found_correct},
            "not_sure": {"n": self.not_sure, "correct_in_candidates": self.not_sure_in_candidates},
            "no_match": {"n": self.no_match},
            "thresholds": {
                "confident_score": round(t.confident_score, 4),
                "confident_margin": round(t.confident_margin, 4),
                "min_score": round(t.min_score, 4),
                "source": t.source,
            },
        }


@dataclass(frozen=True)
class Confusion:
    """A product the search put first in place of the right one, and how often."""

    sku: str  # the right product
    name: str
    found_sku: str  # what came first instead
    found_name: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "found": self.found_sku,
            "found_name": self.found_name,
            "count": self.count,
        }


@dataclass(frozen=True)
class Query:
    row: int
    path: Path
    sku: str


@dataclass
class EvalReport:
    n: int
    recall_at_1: float
    recall_at_5: float
    recall_at_10: float
    mrr: float
    latency_ms: dict[str, float]  # p50 / p95 of one search (k as the kiosk asks)
    per_category: dict[str, dict[str, float]] = field(default_factory=dict)
    confused: list[Confusion] = field(default_factory=list)  # the ten commonest, commonest first
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (row, reason)
    not_in_catalog: int = 0  # queries whose SKU the catalog lacks (counted as misses)
    index_kind: str = ""
    catalog_size: int = 0  # reference vectors searched
    decisions: DecisionCounts = field(default_factory=DecisionCounts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "recall_at_1": round(self.recall_at_1, 4),
            "recall_at_5": round(self.recall_at_5, 4),
            "recall_at_10": round(self.recall_at_10, 4),
            "mrr": round(self.mrr, 4),
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
            "per_category": self.per_category,
            "confused": [c.as_dict() for c in self.confused],
            "skipped": [{"row": r, "reason": why} for r, why in self.skipped],
            "not_in_catalog": self.not_in_catalog,
            "index_kind": self.index_kind,
            "catalog_size": self.catalog_size,
            "decisions": self.decisions.as_dict(),
        }


def read_queries(path: str | os.PathLike[str]) -> tuple[list[Query], list[ImportIssue]]:
    """Rows of a CSV with ``image`` and ``sku`` columns (paths absolute or relative to it)."""
    rows, issues = read_image_sku_rows(Path(path))
    return [Query(row, image, sku) for row, image, sku in rows], issues


def evaluate_vectors(
    finder: CatalogFinder,
    vectors: np.ndarray,
    skus: Sequence[str],
    *,
    k: int = 10,
    thresholds: DecisionThresholds | None = None,
    progress: ProgressFactory | None = None,
    label: str = "eval: searching",
) -> EvalReport:
    """Score already embedded queries against the catalog; ``thresholds`` (default: the
    catalog's) decide what the kiosk would have shown for each. ``progress`` gets one bar,
    advanced once per query."""
    depth = max(1, min(RANK_DEPTH, finder.searchable_products))
    ranks = np.zeros(len(skus), dtype=np.int64)
    latencies: list[float] = []
    confusions: Counter[tuple[str, str]] = Counter()
    categories: dict[str, str] = {}
    decisions = DecisionCounts(thresholds=thresholds or finder.decision_thresholds)
    bar = start_progress(progress, len(skus), label)
    try:
        for i, (vector, sku) in enumerate(zip(vectors, skus, strict=True)):
            t0 = time.perf_counter()
            shown = finder.search_vector(vector, k=k)
            latencies.append((time.perf_counter() - t0) * 1e3)
            found = [m.product.sku for m in finder.search_vector(vector, k=depth).matches]
            ranks[i] = found.index(sku) + 1 if sku in found else 0
            decisions.add(
                decide_result(shown, decisions.thresholds),
                correct=bool(ranks[i] == 1),
                in_candidates=bool(1 <= ranks[i] <= CANDIDATES),
            )
            if found and found[0] != sku:
                confusions[(sku, found[0])] += 1
            if sku not in categories:
                product = finder.product(sku)
                categories[sku] = product.category if product else ""
            bar.update(1)
    finally:
        bar.close()
    scores = retrieval_scores(ranks)
    per_cat: dict[str, list[int]] = defaultdict(list)
    for sku, rank in zip(skus, ranks.tolist(), strict=True):
        per_cat[categories[sku] or "(none)"].append(rank)
    lat = np.array(latencies) if latencies else np.zeros(1)
    return EvalReport(
        n=scores.n,
        recall_at_1=scores.recall_at_1,
        recall_at_5=scores.recall_at_5,
        recall_at_10=scores.recall_at_10,
        mrr=scores.mrr,
        latency_ms={"p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95))},
        per_category={
            cat: {
                "n": len(r),
                "recall_at_1": round(float(np.mean(np.array(r) == 1)), 4),
                "recall_at_5": round(float(np.mean((np.array(r) >= 1) & (np.array(r) <= 5))), 4),
            }
            for cat, r in sorted(per_cat.items())
        },
        confused=_named(finder, confusions.most_common(10)),
        not_in_catalog=sum(1 for s in skus if not categories.get(s) and finder.product(s) is None),
        index_kind=finder.index_kind,
        catalog_size=len(finder),
        decisions=decisions,
    )


def _named(finder: CatalogFinder, pairs: list[tuple[tuple[str, str], int]]) -> list[Confusion]:
    """The confused pairs with the products' names ("" for a SKU the catalog lacks)."""
    names: dict[str, str] = {}
    for (sku, found), _ in pairs:
        for s in (sku, found):
            if s not in names:
                product = finder.product(s)
                names[s] = product.name if product else ""
    return [Confusion(t, names[t], f, names[f], c) for (t, f), c in pairs]


def embed_queries(
    embedder: ImageEmbedder,
    queries: Sequence[Query],
    *,
    settings: CatalogSettings | None = None,
    progress: ProgressFactory | None = None,
    label: str = "eval",
) -> EmbedReport:
    """The query photos embedded (decoded on a thread pool, with a progress bar); unreadable
    ones are in ``failed``."""
    settings = settings or CatalogSettings()
    bar = start_progress(progress, len(queries), label)
    try:
        return embedder.embed_files(
            [str(q.path) for q in queries],
            batch_size=settings.batch_size,
            workers=settings.decode_workers,
            progress=ticker(bar),
            fast=settings.fast_preprocess,
        )
    finally:
        bar.close()


def evaluate_queries(
    finder: CatalogFinder,
    embedder: ImageEmbedder,
    queries: Sequence[Query],
    *,
    k: int = 10,
    settings: CatalogSettings | None = None,
    progress: ProgressFactory | None = None,
) -> EvalReport:
    """Embed the query photos (unreadable ones are skipped and listed) and score them.

    ``progress`` (``factory(total, description)`` → a bar, see :mod:`catalog.progress`) gets
    two bars: "eval: embedding" advanced per photo, then "eval: searching" per query."""
    result = embed_queries(
        embedder, queries, settings=settings, progress=progress, label="eval: embedding"
    )
    report = evaluate_vectors(
        finder, result.vectors, [queries[i].sku for i in result.ok], k=k, progress=progress
    )
    report.skipped = [(queries[i].row, why) for i, why in result.failed]
    return report
