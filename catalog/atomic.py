"""Writing a file so that readers see the old one or the new one, never a part of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's or a folder's entry to disk (a folder: the names renamed into it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` to a temporary file beside ``path``, fsynced, then swapped in with
    ``os.replace`` and the folder synced: a reader, or the next start after a power cut, sees
    the old file or the new one. The temporary file is removed again on any failure; one a
    kill left behind is named ``NAME.tmp…`` (index_store's and kiosk.releases' clean-ups
    recognise it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # the file keeps its mode; a new one gets 0644 (mkstemp's own 0600 would hide an
        mode = path.stat().st_mode & 0o7777  # index built by root from the kiosk's user)
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
