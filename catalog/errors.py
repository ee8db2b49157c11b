"""Errors raised by the catalog.

    CatalogError                    base of everything below
"""

from __future__ import annotations


class CatalogError(Exception):
    """Base class of every error raised by :mod:`catalog`."""
