"""The kiosk's releases on disk (``<data_dir>/updates``): which one runs, which one it goes back
to, and the start-up probation of a new one. No network and no TUF here: the kiosk itself
imports this module (to confirm a release once READY); :mod:`kiosk.updater` fetches.

    versions/N/          complete, checked releases: store.db (+ index files, bundles/)
    current -> versions/N       what the kiosk runs (its catalog_db is current/store.db)
    previous -> versions/M      where a failed release goes back to
    state.json           the release on probation, releases never to retry ("bad")
    reports.jsonl        outcomes not yet delivered to the fleet endpoint
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from catalog.atomic import fsync_path as fsync_dir
from catalog.atomic import write_atomic

log = logging.getLogger(__name__)

RELEASE_DB = "store.db"
#: a temporary state file older than this was left by a killed run
STALE_TEMP_S = 300


@dataclass(frozen=True)
class Outcome:
    #: up-to-date | updated (switched, on probation) | ok (READY on it) | refused | failed
    #: (its health check) | rolled-back (not READY after N starts) | unreachable | probation
    status: str
    release: int | None
    reason: str
    channel: str = ""

    def line(self) -> str:
        where = f"release {self.release}" if self.release is not None else "no release"
        return f"{self.status}: {where}{' — ' + self.reason if self.reason else ''}"


def write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(data).encode())


def default_kiosk_id() -> str:
    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = ""
    return machine or socket.gethostname()


class UpdateState:
    """The kiosk's releases on disk: which one runs, which one it falls back to."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.versions = top / "versions"
        self.downloads = top / "downloads"
        self.file = top / "state.json"

    def make(self) -> UpdateState:
        """Create the folders (the updater does; reading a kiosk's state creates nothing)."""
        for d in (self.top, self.versions, self.downloads):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def link(self, name: str) -> int | None:
        try:
            target = os.readlink(self.top / name)
        except OSError:
            return None
        folder = self.top / target
        if not (folder / RELEASE_DB).is_file():
            return None
        return int(Path(target).name)

    @property
    def current(self) -> int | None:
        return self.link("current")

    @property
    def previous(self) -> int | None:
        return self.link("previous")

    def catalog_db(self) -> Path:
        return self.top / "current" / RELEASE_DB

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {"bad": []}
        return data if isinstance(data, dict) else {"bad": []}

    def write(self, data: dict[str, Any]) -> None:
        write_json(self.file, data)

    def set_link(self, name: str, version: int) -> None:
        tmp = self.top / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(f"versions/{version}", tmp)
        os.replace(tmp, self.top / name)
        fsync_dir(self.top)

    def tidy(self) -> None:
        """Remove what an interrupted run left: unfinished folders and links, and releases
        that are neither current nor previous."""
        keep = {v for v in (self.current, self.previous) if v is not None}
        for path in self.versions.iterdir():
            if path.name.startswith(".") or (path.name.isdigit() and int(path.name) not in keep):
                shutil.rmtree(path, ignore_errors=True)
        for path in self.top.glob(".*.tmp"):
            path.unlink(missing_ok=True)
        stale = time.time() - STALE_TEMP_S  # (a younger one may be the kiosk's, being written)
        for path in self.top.glob(f"{self.file.name}.tmp*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < stale:
                    path.unlink()
        for path in self.downloads.iterdir():
            if not path.name.endswith(".partial"):
                path.unlink(missing_ok=True)

    def queue_report(self, report: dict[str, Any]) -> None:
        self.top.mkdir(parents=True, exist_ok=True)
        with open(self.top / "reports.jsonl", "a") as fh:
            fh.write(json.dumps(report) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def report_of(outcome: Outcome, kiosk_id: str) -> dict[str, Any]:
    return {**asdict(outcome), "kiosk_id": kiosk_id, "at": time.time()}


def boot_check(state: UpdateState, max_attempts: int = 3, kiosk_id: str | None = None) -> Outcome:
    """Before the kiosk starts: count a start of a release on probation; after
    ``max_attempts`` starts without READY, switch back to the previous release."""
    data = state.read()
    pending = data.get("pending")
    current = state.current
    if pending is None:
        return Outcome("up-to-date", current, "")
    if current != pending:  # the switch itself never happened (power cut before the link)
        data.pop("pending", None)
        state.write(data)
        return Outcome("up-to-date", current, "an unfinished switch was dropped")
    attempts = int(data.get("attempts", 0))
    if attempts < max_attempts:
        data["attempts"] = attempts + 1
        state.write(data)
        return Outcome("probation", current, f"start {attempts + 1} of {max_attempts}")
    previous = data.get("previous")
    data["bad"] = sorted({*data.get("bad", []), pending})
    data.pop("pending", None)
    state.write(data)
    if previous is not None and (state.versions / str(previous) / RELEASE_DB).is_file():
        state.set_link("current", previous)
        reason = f"not ready after {max_attempts} starts: back to release {previous}"
    else:
        reason = f"not ready after {max_attempts} starts, and no previous release to go back to"
    outcome = Outcome("rolled-back", pending, reason, str(data.get("channel", "")))
    state.queue_report(report_of(outcome, kiosk_id or default_kiosk_id()))
    log.error("release %s rolled back: %s", pending, reason)
    return outcome


def confirm_ready(state: UpdateState, kiosk_id: str | None = None) -> Outcome | None:
    """The kiosk became READY: the release on probation is good."""
    data = state.read()
    pending = data.get("pending")
    if pending is None or pending != state.current:
        return None
    data.pop("pending", None)
    data.pop("attempts", None)
    state.write(data)
    outcome = Outcome("ok", pending, "ready", str(data.get("channel", "")))
    state.queue_report(report_of(outcome, kiosk_id or default_kiosk_id()))
    return outcome
