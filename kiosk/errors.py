"""Errors raised by the kiosk.

    KioskError                      base of everything below
"""

from __future__ import annotations


class KioskError(Exception):
    """Base class of every error raised by :mod:`kiosk`."""
