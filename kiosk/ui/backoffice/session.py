"""Which catalog the staff window works on: the one owner of its path, listing and settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from catalog.cli_common import open_embedder
from catalog.listing import CatalogListing, create_catalog
from catalog.settings import CatalogSettings
from models import ImageEmbedder

#: ``factory(db)`` → (the embedder the catalog is indexed with, how to name its bundle);
#: the default is what ``aislelens catalog index`` opens
EmbedderFactory = Callable[[Path], tuple[ImageEmbedder, str | None]]


def catalog_embedder(db: Path) -> tuple[ImageEmbedder, str | None]:
    """The catalog's own bundle and precision, else the default bundle (a new catalog)."""
    return open_embedder(db, None, None)


class CatalogSession(QObject):
    """``opened()`` when another catalog is open, ``changed()`` when a job wrote to it."""

    opened = Signal()
    changed = Signal()

    def __init__(
        self,
        settings: CatalogSettings,
        embedders: EmbedderFactory = catalog_embedder,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.embedders = embedders
        self.db: Path | None = None
        self.listing: CatalogListing | None = None

    def open(self, path: Path) -> None:
        """Work on the catalog at ``path``; raises CatalogError (nothing changes) if it is
        missing or not a catalog."""
        listing = CatalogListing(path)  # raises before anything is swapped
        self.close()
        self.db, self.listing = Path(path), listing
        self.opened.emit()

    def create(self, path: Path) -> None:
        """Make an empty catalog at ``path`` (an existing catalog is opened as it is)."""
        create_catalog(path)
        self.open(path)

    def thumbnail(self, sku: str) -> bytes | None:
        """The product's catalog thumbnail (encoded), if the open catalog has one."""
        return self.listing.thumbnail(sku) if self.listing is not None else None

    def require(self) -> Path:
        if self.db is None:
            raise RuntimeError("no catalog open")
        return self.db

    def close(self) -> None:
        if self.listing is not None:
            self.listing.close()
        self.db = self.listing = None
