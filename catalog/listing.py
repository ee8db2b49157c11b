"""The catalog as rows for staff: ``list_products`` (``catalog list``) and :class:`CatalogListing`
(the staff window: one read-only connection, so thumbnails load row by row as they scroll into
view; enrolled shots as eval queries; the thresholds in use); :func:`create_catalog` makes the
empty catalog a new store starts from.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .adapter import load_adaptation
from .db import get_meta, open_catalog, open_catalog_readonly, reading, write_lock
from .decisions import DEFAULT_THRESHOLDS, DecisionThresholds
from .evaluate import Query
from .imagefiles import resolve_stored
from .products import PRODUCT_SELECT, product_from_row, product_thumbnail
from .textsearch import find_text
from .types import Product

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts ``S2`` before ``S10`` (numbers by value, text by any case)."""
    return tuple(
        (0, int(part)) if part.isdecimal() else (1, part.casefold())
        for part in _DIGITS.split(text)
        if part
    )


@dataclass(frozen=True)
class ProductRow:
    """One product as the staff list shows it."""

    sku: str
    name: str
    price: float | None
    currency: str
    aisle: str
    category: str
    subcategory: str
    in_stock: bool
    catalog_photos: int
    enrolled_shots: int  # in-store shots staff enrolled

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_products(
    db_path: str | os.PathLike[str],
    *,
    category: str | None = None,
    in_stock: bool | None = None,
    with_shots: bool | None = None,
    text: str | None = None,
) -> list[ProductRow]:
    """The catalog's products, by SKU (``S2`` before ``S10``), or best match first with ``text`` (the catalog's text
    search: words, inner words, then misspellings). ``category`` (any case), ``in_stock`` and ``with_shots``
    (has enrolled shots or not) filter when given. Read-only."""
    where: list[str] = ["1"]
    args: list[str | int] = []
    if category is not None:
        where.append("p.category = ? COLLATE NOCASE")
        args.append(category)
    if in_stock is not None:
        where.append("p.in_stock = ?")
        args.append(int(in_stock))
    if with_shots is not None:
        where.append(
            f"{'' if with_shots else 'NOT '}EXISTS (SELECT 1 FROM images s WHERE "
            "s.product_id = p.id AND s.kind = 'enrolled')"
        )
    db = open_catalog_readonly(db_path)
    try:
        with reading(db_path):
            rows = db.conn.execute(
                "SELECT p.sku, p.name, p.price, p.currency, p.aisle, p.category, p.subcategory, "
                "p.in_stock, count(CASE WHEN i.kind = 'catalog' THEN 1 END), "
                "count(CASE WHEN i.kind = 'enrolled' THEN 1 END) "
                "FROM products p LEFT JOIN images i ON i.product_id = p.id "
                f"WHERE {' AND '.join(where)} GROUP BY p.id",
                args,
            ).fetchall()
            found = [
                ProductRow(sku, name, price, cur, aisle, cat, sub, bool(stock), photos, shots)
                for sku, name, price, cur, aisle, cat, sub, stock, photos, shots in rows
            ]
            if text is None:
                return sorted(found, key=lambda r: natural_key(r.sku))
            total = db.conn.execute("SELECT count(*) FROM products").fetchone()[0]
            ranked = [hit.product.sku for hit in find_text(db, text, max(1, total))]
    finally:
        db.close()
    by_sku = {row.sku: row for row in found}
    return [by_sku[sku] for sku in ranked if sku in by_sku]


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

    def find(self, text: str, k: int = 1000) -> list[str]:
        """SKUs the catalog's text search finds for ``text`` (``catalog search --text``)."""
        with reading(self.db_path):
            return [hit.product.sku for hit in find_text(self._db, text, k)]

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
