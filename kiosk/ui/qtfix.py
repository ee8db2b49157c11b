"""A guard against a reference-count bug in PySide6 6.12.0 on Python 3.11.

In that combination every void Qt method called from Python returns ``None`` without taking a
reference to it, and every ``Signal.emit`` does the same with ``True`` (measured: 200 calls of
``QTimer.start`` leave ``sys.getrefcount(None)`` 200 lower; 6.11.2 does not). From Python 3.12
``None`` and ``True`` are immortal and the bug is harmless; on 3.11 a kiosk that paints 30
frames a second drives their counts to zero within minutes and the interpreter aborts with
"none_dealloc" or "bool_dealloc". These singletons are never freed anyway, so the guard adds a
large constant to their reference counts once, which is what 3.12's immortality amounts to.
pyproject.toml excludes 6.12.0, so the guard only acts where someone installed it anyway;
remove it once the project requires Python ≥ 3.12.
"""

from __future__ import annotations

import ctypes
import logging
import sys

import PySide6

log = logging.getLogger(__name__)

_HEADROOM = 1 << 40  # far more leaked references than a process could ever make
_applied = False


def needs_guard(
    version: str = PySide6.__version__, python: tuple[int, int] = sys.version_info[:2]
) -> bool:
    """True for the affected PySide6 releases on a Python without immortal singletons."""
    return version.startswith("6.12.0") and python < (3, 12)


def guard_singleton_refcounts() -> bool:
    """Apply the guard once if this PySide6 needs it; True when it was applied (now or before)."""
    global _applied
    if _applied or not needs_guard() or sys.implementation.name != "cpython":
        return _applied
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object (non-debug builds).
        ctypes.c_ssize_t.from_address(id(singleton)).value += _HEADROOM
    _applied = True
    log.info(
        "PySide6 %s on Python %s: guarding None/True/False reference counts",
        PySide6.__version__,
        ".".join(map(str, sys.version_info[:2])),
    )
    return True
