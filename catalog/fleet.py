"""Kiosks' update outcomes, as the fleet endpoint (``POST /v1/fleet/report``) records them.

One SQLite file on the back office. ``aislelens publish --promote`` reads it to decide whether a
rollout stage may be widened: per kiosk, its latest report about that release counts.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .errors import CatalogError

#: outcomes that count against a release (a refusal of tampered files is the repository's
#: fault, not the release's, and is reported but not counted)
FAILED = ("failed", "rolled-back")
STATUSES = ("ok", "updated", "refused", "failed", "rolled-back")


class FleetError(CatalogError):
    pass


class FleetLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS reports (
                    id INTEGER PRIMARY KEY, kiosk_id TEXT NOT NULL, channel TEXT NOT NULL,
                    release INTEGER, status TEXT NOT NULL, reason TEXT NOT NULL,
                    at REAL NOT NULL, received REAL NOT NULL)"""
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS reports_release ON reports (channel, release)"
            )
            self._db.commit()
        except sqlite3.Error as exc:
            raise FleetError(f"{path}: cannot open the fleet log ({exc})") from None

    def record(self, report: dict[str, Any]) -> None:
        """Store one report; raises ValueError with a one-line reason for a malformed one."""
        kiosk = report.get("kiosk_id")
        status = report.get("status")
        release = report.get("release")
        if not isinstance(kiosk, str) or not 1 <= len(kiosk) <= 128:
            raise ValueError("kiosk_id must be a string of 1 to 128 characters")
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if release is not None and (not isinstance(release, int) or isinstance(release, bool)):
            raise ValueError("release must be a whole number or null")
        channel = str(report.get("channel") or "")[:32]
        reason = str(report.get("reason") or "")[:500]
        at = report.get("at")
        at = float(at) if isinstance(at, int | float) and not isinstance(at, bool) else time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO reports (kiosk_id, channel, release, status, reason, at, received)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (kiosk, channel, release, status, reason, at, time.time()),
            )
            self._db.commit()

    def outcomes(self, channel: str, release: int) -> tuple[int, int]:
        """(kiosks whose latest word on ``release`` is ok, kiosks that failed it)."""
        with self._lock:
            rows = self._db.execute(
                """SELECT status FROM reports r WHERE channel = ? AND release = ?
                   AND status IN ('ok', 'failed', 'rolled-back')
                   AND id = (SELECT max(id) FROM reports WHERE kiosk_id = r.kiosk_id
                             AND channel = r.channel AND release = r.release
                             AND status IN ('ok', 'failed', 'rolled-back'))""",
                (channel, release),
            ).fetchall()
        failed = sum(1 for (status,) in rows if status in FAILED)
        return len(rows) - failed, failed

    def close(self) -> None:
        self._db.close()
