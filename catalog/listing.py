"""``list_products``: the catalog as rows for staff (``catalog list``, the desktop window)."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from typing import Any

from .db import open_catalog_readonly, reading
from .textsearch import find_text

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
