"""Labelled photos (image, sku) searched against the catalog: the scans a calibration uses.

``aislelens catalog calibrate --db … photos.csv`` and the staff window both take their labelled
scans from here, so the two choose the same thresholds from the same file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from models import ImageEmbedder

from .calibration import MIN_FOUND, Samples
from .errors import CatalogError
from .evaluate import CANDIDATES, embed_queries, read_queries
from .finder import open_finder
from .progress import ProgressFactory
from .settings import CatalogSettings


def labelled_samples(
    db_path: str | os.PathLike[str],
    queries: str | os.PathLike[str],
    embedder: ImageEmbedder,
    *,
    settings: CatalogSettings | None = None,
    progress: ProgressFactory | None = None,
) -> tuple[Samples, list[str]]:
    """The best score, margin and rightness of each readable photo of ``queries`` (a CSV with
    image and sku columns), searched through the catalog's current store adaptation; and the
    rows skipped, one line each. Raises :class:`CatalogError` when the catalog has no current
    adaptation (it needs enrolled shots and an index run)."""
    db_path, queries = Path(db_path), Path(queries)
    items, issues = read_queries(queries)
    skipped = [str(i) for i in issues]
    finder = open_finder(db_path, settings=settings)
    try:
        if finder.adaptation is None:
            raise CatalogError(
                f"{db_path}: no current store adaptation to calibrate (it needs enrolled "
                f"shots); enrol in-store shots and run `aislelens catalog index --db {db_path}` "
                "first"
            )
        result = embed_queries(
            embedder, items, settings=settings, progress=progress, label="calibrate"
        )
        skipped += [f"row {items[i].row}: {why}" for i, why in result.failed]
        score, margin, correct, top = [], [], [], []
        for vector, i in zip(result.vectors, result.ok, strict=True):
            found = finder.search_vector(vector, k=CANDIDATES)
            skus = [m.product.sku for m in found.matches]
            score.append(found.matches[0].score if found.matches else -1.0)
            margin.append(found.margin)
            correct.append(bool(skus) and skus[0] == items[i].sku)
            top.append(items[i].sku in skus)
    finally:
        finder.close()
    samples = Samples(
        np.array(score),
        np.array(margin),
        np.array(correct, bool),
        np.array(top, bool),
        f"labelled photos ({queries.name})",
    )
    return samples, skipped


def require_enough(samples: Samples, queries: str | os.PathLike[str]) -> None:
    """Raise :class:`CatalogError` when too few labelled photos were usable to calibrate on."""
    if len(samples) < MIN_FOUND:
        raise CatalogError(
            f"{queries}: {len(samples)} usable labelled photos, at least {MIN_FOUND} are needed "
            "to calibrate on; the stored thresholds are unchanged"
        )
