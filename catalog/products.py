"""Reading products back out of the database: rows to :class:`Product`, browsing (text search
is :mod:`catalog.textsearch`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlite_utils import Database

from .types import Product

#: Product columns in the order of the SELECTs below.
PRODUCT_SELECT = (
    "SELECT p.id, p.sku, p.name, p.price, p.currency, p.category, p.subcategory, p.aisle, "
    "p.description, p.in_stock, p.attributes, p.related, "
    "(SELECT count(*) FROM images i WHERE i.product_id = p.id) AS image_count FROM products p"
)


def product_from_row(row: tuple[Any, ...]) -> Product:
    """A :class:`Product` from a row of :data:`PRODUCT_SELECT` (id first)."""
    (
        _id,
        sku,
        name,
        price,
        currency,
        category,
        subcategory,
        aisle,
        description,
        in_stock,
        attributes,
        related,
        image_count,
    ) = row
    return Product(
        sku=sku,
        name=name,
        price=price,
        currency=currency,
        category=category,
        subcategory=subcategory,
        aisle=aisle,
        description=description,
        in_stock=bool(in_stock),
        attributes=json.loads(attributes or "{}"),
        related=tuple(json.loads(related or "[]")),
        image_count=int(image_count),
    )


def products_by_id(db: Database, ids: Iterable[int]) -> dict[int, Product]:
    """Products keyed by database id (missing ids are left out)."""
    ids = list(dict.fromkeys(int(i) for i in ids))
    out: dict[int, Product] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"{PRODUCT_SELECT} WHERE p.id IN ({marks})", chunk):
            out[row[0]] = product_from_row(row)
    return out


def product_by_sku(db: Database, sku: str) -> Product | None:
    row = db.execute(f"{PRODUCT_SELECT} WHERE p.sku = ?", [sku]).fetchone()
    return product_from_row(row) if row else None


def products_by_sku(db: Database, skus: Iterable[str]) -> dict[str, Product]:
    skus = list(dict.fromkeys(skus))
    out: dict[str, Product] = {}
    for start in range(0, len(skus), 500):
        chunk = skus[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.execute(f"{PRODUCT_SELECT} WHERE p.sku IN ({marks})", chunk):
            out[row[1]] = product_from_row(row)
    return out


def product_thumbnail(db: Database, sku: str) -> bytes | None:
    """The encoded display thumbnail of the product's first catalog photo, if it has one."""
    row = db.execute(
        "SELECT t.data FROM thumbnails t JOIN images i ON i.id = t.image_id "
        "JOIN products p ON p.id = i.product_id WHERE p.sku = ? ORDER BY i.id LIMIT 1",
        [sku],
    ).fetchone()
    return bytes(row[0]) if row else None


def categories(db: Database) -> list[str]:
    """Non-empty categories, alphabetically."""
    rows = db.execute(
        "SELECT DISTINCT category FROM products WHERE category != '' ORDER BY category COLLATE NOCASE"
    )
    return [r[0] for r in rows]


def browse(db: Database, category: str, limit: int = 60) -> list[Product]:
    """Products of one category by name (subcategory first)."""
    rows = db.execute(
        f"{PRODUCT_SELECT} WHERE p.category = ? "
        "ORDER BY p.subcategory COLLATE NOCASE, p.name COLLATE NOCASE LIMIT ?",
        [category, int(limit)],
    )
    return [product_from_row(r) for r in rows]
