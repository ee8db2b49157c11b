"""The accuracy gate of a bundle: retrieval quality per precision on a labelled set.

The labelled set uses the CSV format of the grocery development set: ``products.csv`` with
``sku`` and ``image`` columns (the catalog: one or more reference images per product) and
``queries.csv`` with ``image`` and ``sku`` (shopper photos, the answer). Paths are absolute or
relative to the CSV. Every precision is scored by Recall@1/5/10 and MRR over products, and the
int8 model is compared with fp32 image by image (cosine). The gate fails when int8 loses more
than ``max_drop`` of Recall@1 or its mean cosine to fp32 falls below ``min_cosine``.
"""

from __future__ import annotations

import csv
import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..bundle import Bundle
from ..embedder import ImageEmbedder
from ..errors import DatasetError
from ..metrics import product_ranks, retrieval_scores


@dataclass
class LabelledSet:
    """Reference images and queries with their true SKUs."""

    gallery: list[tuple[Path, str]]
    queries: list[tuple[Path, str]]
    problems: list[str] = field(default_factory=list)  # one line per skipped row


def read_labelled_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, BOM allowed) checked for the required columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = reader.fieldnames or []
            missing = [c for c in required if c not in columns]
            if missing:
                raise DatasetError(
                    f"{path}: missing column(s) {', '.join(missing)} (has: {', '.join(columns) or 'none'})"
                )
            return list(reader)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def load_labelled_set(
    products_csv: Path, queries_csv: Path, *, split: str | None = None, limit: int | None = None
) -> LabelledSet:
    """Read a products/queries pair; rows with no image or an unknown SKU are reported, not fatal."""
    result = LabelledSet([], [])
    known: set[str] = set()
    for line, row in enumerate(read_labelled_csv(products_csv, ("sku", "image")), start=2):
        sku, image = (row.get("sku") or "").strip(), (row.get("image") or "").strip()
        if not sku or not image:
            result.problems.append(f"{products_csv}:{line}: missing sku or image")
            continue
        for part in image.split("|"):
            result.gallery.append((products_csv.parent / part.strip(), sku))
        known.add(sku)
    if not result.gallery:
        raise DatasetError(f"{products_csv}: no usable product rows")
    rows = read_labelled_csv(queries_csv, ("image", "sku"))
    for line, row in enumerate(rows, start=2):
        sku, image = (row.get("sku") or "").strip(), (row.get("image") or "").strip()
        if split and row.get("shot_split", split) != split:
            continue
        if not image:
            result.problems.append(f"{queries_csv}:{line}: missing image")
        elif sku not in known:
            result.problems.append(f"{queries_csv}:{line}: unknown SKU {sku!r}")
        else:
            result.queries.append((queries_csv.parent / image, sku))
    if limit is not None and len(result.queries) > limit:
        rng = np.random.default_rng(0)
        keep = sorted(rng.choice(len(result.queries), limit, replace=False))
        result.queries = [result.queries[i] for i in keep]
    if not result.queries:
        raise DatasetError(f"{queries_csv}: no usable query rows")
    return result


@dataclass
class VerifyReport:
    scores: dict[str, dict[str, Any]]  # precision -> metrics
    cosine: dict[str, float]  # statistics of int8-vs-fp32 cosine
    skipped: list[str]
    passed: bool
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scores": self.scores,
            "int8_vs_fp32_cosine": self.cosine,
            "skipped": self.skipped,
            "passed": self.passed,
            "reasons": self.reasons,
        }


def verify_bundle(
    bundle: Bundle,
    data: LabelledSet,
    *,
    precisions: list[str] | None = None,
    max_drop: float = 0.01,
    min_cosine: float = 0.95,
    threads: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> VerifyReport:
    """Score each precision on ``data`` and apply the int8 gate."""
    precisions = precisions or bundle.precisions
    scores: dict[str, dict[str, Any]] = {}
    query_vecs: dict[str, tuple[np.ndarray, list[int]]] = {}
    skipped: list[str] = list(data.problems)
    for precision in precisions:
        embedder = ImageEmbedder(bundle, precision, threads=threads)
        step = (
            (lambda k, p=precision: progress(p, k, len(data.gallery) + len(data.queries)))
            if progress
            else None
        )
        g = embedder.embed_files([p for p, _ in data.gallery], progress=step)
        q = embedder.embed_files([p for p, _ in data.queries], progress=step)
        embedder.close()
        if precision == precisions[0]:
            skipped += [f"{data.gallery[i][0]}: {why}" for i, why in g.failed]
            skipped += [f"{data.queries[i][0]}: {why}" for i, why in q.failed]
        ranks = product_ranks(
            q.vectors,
            g.vectors,
            [data.gallery[i][1] for i in g.ok],
            [data.queries[i][1] for i in q.ok],
        )
        scores[precision] = retrieval_scores(ranks).as_dict()
        query_vecs[precision] = (q.vectors, q.ok)
    cosine: dict[str, float] = {}
    reasons: list[str] = []
    if "int8" in scores and "fp32" in scores:
        a, a_ok = query_vecs["fp32"]
        b, b_ok = query_vecs["int8"]
        common = sorted(set(a_ok) & set(b_ok))
        ia = {j: k for k, j in enumerate(a_ok)}
        ib = {j: k for k, j in enumerate(b_ok)}
        cos = np.sum(a[[ia[j] for j in common]] * b[[ib[j] for j in common]], axis=1)
        cosine = {
            "mean": round(float(cos.mean()), 5),
            "p5": round(float(np.percentile(cos, 5)), 5),
            "min": round(float(cos.min()), 5),
        }
        drop = scores["fp32"]["recall_at_1"] - scores["int8"]["recall_at_1"]
        scores["int8"]["recall_at_1_drop"] = round(drop, 4)
        if drop > max_drop:
            reasons.append(
                f"int8 Recall@1 {scores['int8']['recall_at_1']:.3f} is {drop * 100:.1f} points below "
                f"fp32 {scores['fp32']['recall_at_1']:.3f} (allowed: {max_drop * 100:.1f})"
            )
        if cosine["mean"] < min_cosine:
            reasons.append(f"int8-vs-fp32 mean cosine {cosine['mean']:.4f} is below {min_cosine}")
    return VerifyReport(scores, cosine, skipped, not reasons, reasons)


def record_verification(bundle: Bundle, report: VerifyReport, dataset: str) -> None:
    """Write the figures into the bundle's manifest (kept per precision, with date and set)."""
    when = _dt.date.today().isoformat()
    for precision, figures in report.scores.items():
        bundle.manifest.verification[precision] = {**figures, "dataset": dataset, "date": when}
    if report.cosine:
        bundle.manifest.verification["int8_vs_fp32_cosine"] = {
            **report.cosine,
            "dataset": dataset,
            "date": when,
        }
    bundle.save_manifest()
