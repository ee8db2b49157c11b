"""The catalog as a staff list: every product with its photo counts, thumbnails, shots as queries.

For the staff window (``aislelens staff``): :class:`CatalogListing` keeps one read-only
connection, so the window can fetch thumbnails row by row as they scroll into view;
:func:`create_catalog` makes the empty catalog a new store starts from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .adapter import load_adaptation
from .db import get_meta, open_catalog, open_catalog_readonly, reading, write_lock
from .decisions import DEFAULT_THRESHOLDS, DecisionThresholds
from .evaluate import Query
from .imagefiles import resolve_stored
from .products import PRODUCT_SELECT, product_from_row, product_thumbnail
from .types import Product


@dataclass(frozen=True)
class ListedProduct:
    """A product and what it has to be found by."""

    product: Product
    catalog_photos: int
    enrolled_shots: int
    embedded: int  # of its photos, how many have a current vector


def create_catalog(db_path: str | os.PathLike[str]) -> None:
    """An empty catalog at ``db_path`` (its folder must exist); an existing catalog is left as
    it is, and a file that is not a catalog raises :class:`SchemaError` untouched."""
    db_path = Path(db_path)
    with write_lock(db_path):
        open_catalog(db_path, create=True).close()


class CatalogListing:
    """A read-only view of one catalog for the staff list; ``close()`` when done."""

    def __init__(self, db_path: str | os.PathLike[str]) -> None:
        self.db_path = Path(db_path)
        self._db = open_catalog_readonly(self.db_path)

    def products(self) -> list[ListedProduct]:
        """Every product, by name, with its catalog photos, enrolled shots and vectors."""
        with reading(self.db_path):
            q = self._db.conn.execute
            rows = q(f"{PRODUCT_SELECT} ORDER BY p.name COLLATE NOCASE, p.sku").fetchall()
            photos: dict[tuple[int, str], int] = {
                (pid, kind): n
                for pid, kind, n in q(
                    "SELECT product_id, kind, count(*) FROM images GROUP BY product_id, kind"
                )
            }
            embedded = dict(
                q(
                    "SELECT i.product_id, count(*) FROM embeddings e JOIN images i "
                    "ON i.id = e.image_id WHERE e.sha256 = i.sha256 GROUP BY i.product_id"
                ).fetchall()
            )
        return [
            ListedProduct(
                product_from_row(row),
                photos.get((row[0], "catalog"), 0),
                photos.get((row[0], "enrolled"), 0),
                embedded.get(row[0], 0),
            )
            for row in rows
        ]

    def thumbnail(self, sku: str) -> bytes | None:
        with reading(self.db_path):
            return product_thumbnail(self._db, sku)

    def enrolled_queries(self) -> list[Query]:
        """Every enrolled shot as a labelled query (image, its product's SKU), for ``eval``."""
        with reading(self.db_path):
            rows = self._db.conn.execute(
                "SELECT i.id, i.path, p.sku FROM images i JOIN products p ON p.id = i.product_id "
                "WHERE i.kind = 'enrolled' ORDER BY p.sku, i.id"
            ).fetchall()
        return [
            Query(row, resolve_stored(path, self.db_path.parent), sku)
            for row, (_, path, sku) in enumerate(rows, start=1)
        ]

    def thresholds(self) -> DecisionThresholds:
        """The decision thresholds the kiosk uses on this catalog now (unless its settings
        give their own): the current store adaptation's, else the defaults."""
        with reading(self.db_path):
            stored = load_adaptation(self._db, get_meta(self._db, "bundle_id") or "")
        return stored.thresholds if stored is not None else DEFAULT_THRESHOLDS

    def close(self) -> None:
        self._db.close()
