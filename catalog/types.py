"""Plain data the catalog hands out, and the read-only interface the kiosk searches through.

Services return these dataclasses; the kiosk's Qt models adapt them. Nothing here touches
SQLite or hnswlib, so the kiosk can be tested against a fake :class:`ProductFinder`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from .decisions import DecisionThresholds


@dataclass(frozen=True)
class Product:
    """One product as shoppers and staff see it."""

    sku: str
    name: str
    price: float | None = None  # in `currency` units; None when unknown
    currency: str = "EUR"
    category: str = ""
    subcategory: str = ""
    aisle: str = ""  # aisle or location in the store, e.g. "Aisle 4" or "Fresh produce"
    description: str = ""
    in_stock: bool = True
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    related: tuple[str, ...] = ()  # "goes well with" SKUs
    image_count: int = 0  # reference images (catalog photo + enrolled shots)

    def as_listing(self) -> dict[str, Any]:
        """What a list of results shows of it, as JSON (the staff tool, the REST service)."""
        return {
            "sku": self.sku,
            "name": self.name,
            "price": self.price,
            "currency": self.currency,
            "category": self.category,
            "aisle": self.aisle,
            "in_stock": self.in_stock,
        }


@dataclass(frozen=True)
class Match:
    """A product found by image search."""

    product: Product
    #: cosine similarity, -1..1: to the product's prototype in the store-adapted space when the
    #: catalog has an adaptation (catalog.adaptation), else to its best reference image
    score: float


@dataclass(frozen=True)
class SearchResult:
    """Top-k products for one query vector, best first."""

    matches: list[Match]
    #: score of the first product minus the second (1.0 when only one product matched); the
    #: kiosk shows "Is it one of these?" when the score or the margin is low.
    margin: float
    #: where the time went, e.g. {"search": 0.4, "lookup": 0.2} in milliseconds
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: SKUs tied first because they have the same photo (identical bytes) and the scan is
    #: nearest to it: nothing tells them apart, so the kiosk shows them as candidates, never
    #: "We found it" (catalog.decisions), in SKU order; () when the first place is not such a tie
    shared_photo: tuple[str, ...] = ()


class MatchKind(StrEnum):
    """How a text search hit matched what was typed; hits come in this order."""

    WORD = "word"  # every word typed starts a word of the product ("gran smi": Granny Smith)
    INNER = "inner"  # … or sits inside one ("milch": Vollmilch)
    TYPO = "typo"  # … or is a close misspelling of one ("vollmlch": Vollmilch)
    LOOKS = "looks"  # the bundle's text tower: products whose photos are nearest to the words


@dataclass(frozen=True)
class TextHit:
    """A product found by text search, and how."""

    product: Product
    kind: MatchKind
    #: TYPO: letters changed, added, dropped or swapped to go from the words typed to the
    #: product's (0 for the other kinds)
    edits: int = 0
    #: TYPO: the catalog's words the misspelt ones were taken for, e.g. ("vollmilch",)
    corrected: tuple[str, ...] = ()


@dataclass(frozen=True)
class CatalogSummary:
    """What a store manager wants to know about the catalog a kiosk searches."""

    name: str  # the database file's name
    products: int
    catalog_photos: int
    enrolled_photos: int  # in-store shots staff took
    updated: str  # when the catalog file last changed (ISO 8601, local time), "" if unknown


@runtime_checkable
class ProductFinder(Protocol):
    """Read-only search over a published catalog: everything the kiosk needs from it.

    Implementations never add to an index while searching it; a new catalog version is a new
    finder object that replaces the old one as a whole.
    """

    #: changes whenever the catalog's products, images or index change (cache key)
    catalog_version: str
    #: id of the model bundle (and precision) that made the catalog's vectors
    bundle_id: str
    #: what turns a result into "found" / "not sure" / "no match" (catalog.decisions)
    decision_thresholds: DecisionThresholds

    def search_vector(
        self,
        vector: np.ndarray,
        k: int = 5,
        *,
        category: str | None = None,
        in_stock_only: bool = False,
    ) -> SearchResult:
        """Products nearest to an L2-normalised query embedding."""
        ...

    def search_text(self, query: str, k: int = 20) -> list[Product]:
        """Products matching the words typed: as words or word beginnings, then inside words,
        then (when little matched) misspelt (catalog.textsearch)."""
        ...

    def product(self, sku: str) -> Product | None: ...

    def similar(self, sku: str, k: int = 6) -> list[Match]:
        """Products that look most like ``sku`` (excluding itself)."""
        ...

    def goes_well_with(self, sku: str) -> list[Product]:
        """The related products staff linked to ``sku``, in their order."""
        ...

    def categories(self) -> list[str]: ...

    def browse(self, category: str, limit: int = 60) -> list[Product]: ...

    def thumbnail(self, sku: str) -> bytes | None:
        """The encoded (JPEG or PNG) display thumbnail of the product's catalog image."""
        ...

    def summary(self) -> CatalogSummary:
        """Counts and date of the catalog (for the staff page)."""
        ...

    def close(self) -> None: ...
