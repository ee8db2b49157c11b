"""Errors raised by the catalog.

Every message names the database, file, row or SKU it is about, so the edges (CLI, kiosk) can
show it as one line without a traceback::

    CatalogError                    base of everything below
    ├── CatalogNotFoundError        no catalog database at that path
    ├── SchemaError                 not a catalog, or made by a newer AisleLens
    ├── CatalogBusyError            another process is writing the catalog
    ├── BundleMismatchError         the catalog's vectors were made by a different model bundle
    ├── NotIndexedError             a search needs embeddings and the catalog has none yet
    ├── UnknownProductError         a SKU that is not in the catalog (or not restorable)
    ├── ProductExistsError          restoring a SKU the catalog holds again
    ├── CatalogDamagedError         SQLite found the database file damaged while reading it
    ├── InputFileError              an import, enrol or query file cannot be read at all
    ├── OutputFileError             an export file cannot be written (format, place)
    └── IndexFileError              the vector index on disk cannot be used
        ├── IndexCorruptError       truncated, altered or unreadable (checksum, size, format)
        └── IndexStaleError         built from other vectors than the database now holds
"""

from __future__ import annotations


class CatalogError(Exception):
    """Base class of every error raised by :mod:`catalog`."""


class CatalogNotFoundError(CatalogError):
    """There is no catalog database at the given path."""


class SchemaError(CatalogError):
    """The file is not a catalog database, or its schema is newer than this code."""


class CatalogDamagedError(CatalogError):
    """SQLite reported the database file damaged ("database disk image is malformed")."""


class CatalogBusyError(CatalogError):
    """Another process holds the catalog's write lock."""


class BundleMismatchError(CatalogError):
    """The catalog's vectors were made by a different model bundle (or precision)."""


class NotIndexedError(CatalogError):
    """The catalog has no embeddings yet: run ``aislelens catalog index``."""


class UnknownProductError(CatalogError):
    """A SKU that is not in the catalog."""


class ProductExistsError(CatalogError):
    """A removed product cannot be restored: its SKU is in the catalog again."""


class OutputFileError(CatalogError):
    """An export cannot be written: unknown format, a folder that cannot be made, no space."""


class InputFileError(CatalogError):
    """A file given to import, enrol or eval cannot be read at all (as opposed to bad rows)."""


class IndexFileError(CatalogError):
    """The vector index file cannot be used; it can always be rebuilt from the database."""


class IndexCorruptError(IndexFileError):
    """The index file is truncated, altered or not an index (size or checksum mismatch)."""


class IndexStaleError(IndexFileError):
    """The index was built from other vectors than the database holds now."""
