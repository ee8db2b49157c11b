"""What can be wrong between products although each one is valid on its own.

A "goes well with" SKU that is not in the catalog (the kiosk leaves it out), and one photo —
the same bytes — on several products: the kiosk cannot tell those products apart by it (see
:mod:`catalog.finder`, which says so instead of picking one). ``import`` warns about both for
the products of its file; ``check`` looks at the whole catalog.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True)
class MissingRelated:
    """Product ``sku`` names ``related`` as "goes well with", and no product has that SKU."""

    sku: str
    related: str


@dataclass(frozen=True)
class SharedPhoto:
    """One photo (by its bytes' sha256) that several products have as a reference image."""

    sha256: str
    #: (sku, path as stored) of each product that has it, in catalog order
    products: tuple[tuple[str, str], ...]

    @property
    def skus(self) -> list[str]:
        return [sku for sku, _ in self.products]


def missing_related(db: Database, skus: Iterable[str] | None = None) -> list[MissingRelated]:
    """ "Goes well with" SKUs that are not in the catalog, of ``skus`` (default: every product)."""
    known = {r[0] for r in db.conn.execute("SELECT sku FROM products")}
    wanted = None if skus is None else set(skus)
    out = []
    for sku, related in db.conn.execute("SELECT sku, related FROM products ORDER BY id"):
        if wanted is not None and sku not in wanted:
            continue
        out += [MissingRelated(sku, str(r)) for r in json.loads(related or "[]") if r not in known]
    return out


#: sha256 of the photos that more than one product has
_SHARED_SHA = "SELECT sha256 FROM images GROUP BY sha256 HAVING count(DISTINCT product_id) > 1"


def shared_photos(db: Database) -> list[SharedPhoto]:
    """Photos whose bytes are a reference image of more than one product."""
    groups: dict[str, dict[str, str]] = {}
    for sha, sku, path in db.conn.execute(
        "SELECT i.sha256, p.sku, i.path FROM images i JOIN products p ON p.id = i.product_id "
        f"WHERE i.sha256 IN ({_SHARED_SHA}) ORDER BY p.id, i.id"
    ):
        groups.setdefault(sha, {}).setdefault(sku, path)
    return [SharedPhoto(sha, tuple(found.items())) for sha, found in groups.items()]


def shared_photo_products(db: Database) -> dict[int, frozenset[str]]:
    """Product id → the sha256 of its embedded photos that another product has too."""
    out: dict[int, set[str]] = {}
    for pid, sha in db.conn.execute(
        "SELECT DISTINCT i.product_id, i.sha256 FROM images i JOIN embeddings e "
        f"ON e.image_id = i.id WHERE i.sha256 IN ({_SHARED_SHA})"
    ):
        out.setdefault(pid, set()).add(sha)
    return {pid: frozenset(shas) for pid, shas in out.items()}
