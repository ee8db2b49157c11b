"""``aislelens update``: fetch, verify, check and switch to a new release, and go back by itself.

The kiosk's state folder (``<data_dir>/updates``)::

    tuf/                 TUF's trusted metadata (python-tuf's ngclient keeps it)
    downloads/N.tar      a release being fetched (``.partial`` until verified; resumed)
    versions/N/          complete, checked releases: store.db (+ index files, bundles/)
    current -> versions/N       what the kiosk runs (its catalog_db is current/store.db)
    previous -> versions/M      where a failed release goes back to
    state.json           the release on probation (not yet confirmed by a READY kiosk)
    reports.jsonl        outcomes not yet delivered to the fleet endpoint

Every step leaves a state a kiosk can start from: a version folder appears (renamed) only once
complete and checked; ``current`` and ``previous`` are symlinks replaced atomically
(``os.replace``); ``state.json`` is written before the switch, so a power cut after it is
seen at the next start. A release the kiosk has not confirmed READY within
``max_start_attempts`` starts is switched back from (``--boot``, run before the kiosk starts)
and never retried.

Verification is python-tuf's: the trusted root comes with the installation, metadata must be
signed by the keys it names, be newer than what was seen (rollback), and unexpired (freeze);
a target must match its signed length and sha256.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import signal
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuf.api.exceptions import DownloadError, LengthOrHashMismatchError, RepositoryError
from tuf.api.metadata import Metadata, TargetFile, Targets
from tuf.ngclient import Updater, UpdaterConfig

from catalog import CatalogError, open_finder
from catalog.db import get_meta, open_catalog_readonly
from catalog.publish import (
    RELEASE_DB,
    PublishError,
    Release,
    in_rollout,
    run_selftest,
    selftest_passes,
    tar_members_ok,
)
from models import ImageEmbedder, ModelError

from .releases import Outcome, UpdateState, default_kiosk_id, fsync_dir, report_of
from .settings import RecognitionSettings, bundle_choice

log = logging.getLogger(__name__)

#: test hook: ``AISLELENS_UPDATE_CRASH_AT=<step>`` kills the process (SIGKILL) at that step, as a
#: power cut would; the steps are those of :data:`STEPS`
CRASH_ENV = "AISLELENS_UPDATE_CRASH_AT"
STEPS = (
    "downloading",  # half of the release fetched
    "downloaded",  # verified, not yet unpacked
    "unpacked",  # versions/.new-N complete, not yet checked
    "checked",  # health check passed, versions/N in place
    "probation",  # state.json names N, links not yet changed
    "previous",  # previous -> the old current
    "current",  # current -> versions/N, old versions not yet removed
)
CHUNK = 1 << 16

EmbedderOpener = Callable[[str, str | None], ImageEmbedder]


class UpdateError(Exception):
    """Why a release was refused or could not be fetched; the running version is untouched."""


def _crash_point(step: str) -> None:
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def health_check(
    folder: Path,
    release: Release,
    opener: EmbedderOpener | None = None,
    recognition: RecognitionSettings | None = None,
) -> tuple[bool, str]:
    """Does the unpacked release work here: its bundle loads, its catalog opens with it (made by
    the same bundle: no mix and match), and its self-test scan scores as when published.

    ``recognition``: the kiosk's settings. When they name a bundle or a precision, that is
    the model the kiosk will open, so a release made with another one is refused here,
    before the switch. ``opener`` (tests, benchmarks): a shared embedder, not closed."""
    db = folder / RELEASE_DB
    try:
        rdb = open_catalog_readonly(db)
        try:
            vectors = get_meta(rdb, "bundle_id")
            ref = get_meta(rdb, "bundle_ref")
            precision = get_meta(rdb, "bundle_precision")
        finally:
            rdb.close()
        if vectors != release.bundle:
            return False, f"the catalog's vectors are {vectors}, the release says {release.bundle}"
        if release.bundle_name is not None:
            ref = str(folder / "bundles" / release.bundle_name)
        if not ref:
            return False, "the catalog names no bundle"
        if opener is not None:
            embedder = opener(ref, precision)
        else:
            bundle, chosen = bundle_choice(recognition or RecognitionSettings(), ref, precision)
            embedder = ImageEmbedder.open(bundle, chosen)
        try:
            if embedder.model_id != release.bundle:
                pins = recognition is not None and (
                    recognition.bundle is not None or recognition.precision != "auto"
                )
                pinned = " (the kiosk's settings choose it)" if pins else ""
                return False, (
                    f"the bundle is {embedder.model_id}{pinned}, the catalog was made with "
                    f"{release.bundle}"
                )
            open_finder(db, bundle_id=embedder.model_id).close()
            measured = run_selftest(db, embedder, list(release.selftest.get("image_ids", [])))
        finally:
            if opener is None:
                embedder.close()
    except (CatalogError, ModelError, OSError) as exc:
        return False, str(exc)
    return selftest_passes(release.selftest, measured)


class KioskUpdater:
    """One kiosk's view of the release repository at ``url`` (which serves ``metadata/`` and
    ``targets/``), trusting ``root`` (the repository's first root.json)."""

    def __init__(
        self,
        state: UpdateState,
        url: str,
        root: bytes,
        *,
        channel: str = "stable",
        kiosk_id: str | None = None,
        opener: EmbedderOpener | None = None,
        timeout_s: float = 30.0,
        health: Callable[[Path, Release], tuple[bool, str]] | None = None,
        recognition: RecognitionSettings | None = None,
    ) -> None:
        self.state = state.make()
        self.url = url.rstrip("/") + "/"
        self.root = root
        self.channel = channel
        self.kiosk_id = kiosk_id or default_kiosk_id()
        self.opener = opener
        self.timeout_s = timeout_s
        self.health = health or (
            lambda folder, rel: health_check(folder, rel, self.opener, recognition)
        )

    def _updater(self) -> Updater:
        tuf_dir = self.state.top / "tuf"
        tuf_dir.mkdir(exist_ok=True)
        return Updater(
            metadata_dir=str(tuf_dir),
            metadata_base_url=self.url + "metadata/",
            target_base_url=self.url + "targets/",
            config=UpdaterConfig(max_root_rotations=64),
            bootstrap=self.root,
        )

    def _pick(self, updater: Updater) -> tuple[Release, TargetFile] | None:
        """The newest release of the channel whose rollout includes this kiosk."""
        bad = set(self.state.read().get("bad", []))
        # the targets role as refresh() verified and stored it
        targets = Metadata[Targets].from_file(str(self.state.top / "tuf" / "targets.json"))
        best: Release | None = None
        for path, target in targets.signed.targets.items():
            release = Release.from_target(target)
            if release is None or release.channel != self.channel or path != release.path:
                continue
            if release.version in bad or not in_rollout(release, self.kiosk_id):
                continue
            if best is None or release.version > best.version:
                best = release
        if best is None:
            return None
        info = updater.get_targetinfo(best.path)
        return (best, info) if info is not None else None

    def check_once(self) -> Outcome:
        state = self.state
        state.tidy()
        try:
            updater = self._updater()
            updater.refresh()
        except (RepositoryError, DownloadError) as exc:
            return self._refused(None, f"the repository's metadata was refused: {exc}")
        except OSError as exc:
            return Outcome("unreachable", state.current, str(exc), self.channel)
        picked = self._pick(updater)
        current = state.current
        if picked is None or (current is not None and picked[0].version <= current):
            return Outcome("up-to-date", current, "", self.channel)
        release, target = picked
        try:
            tar = self._download(release, target)
        except UpdateError as exc:
            return self._refused(release.version, str(exc))
        except OSError as exc:
            return Outcome("unreachable", current, f"download: {exc}", self.channel)
        _crash_point("downloaded")
        try:
            folder = self._unpack(release, tar)
        except UpdateError as exc:
            return self._refused(release.version, str(exc))
        _crash_point("unpacked")
        ok, why = self.health(folder, release)
        if not ok:
            shutil.rmtree(folder, ignore_errors=True)
            tar.unlink(missing_ok=True)
            self._mark_bad(release.version)
            outcome = Outcome("failed", release.version, f"health check: {why}", self.channel)
            self._report(outcome)
            log.error(
                "update refused: release %s failed its health check: %s", release.version, why
            )
            return outcome
        final = state.versions / str(release.version)
        shutil.rmtree(final, ignore_errors=True)
        folder.replace(final)
        fsync_dir(state.versions)
        tar.unlink(missing_ok=True)
        _crash_point("checked")
        self.switch(release.version)
        state.tidy()
        log.info("updated to release %s (%s)", release.version, why)
        return Outcome("updated", release.version, why, self.channel)

    def switch(self, version: int) -> None:
        state = self.state
        old = state.current
        data = state.read()
        data.update(pending=version, attempts=0, previous=old, channel=self.channel)
        state.write(data)
        _crash_point("probation")
        if old is not None:
            state.set_link("previous", old)
        _crash_point("previous")
        state.set_link("current", version)
        _crash_point("current")

    def _refused(self, release: int | None, reason: str) -> Outcome:
        log.error("update refused: %s (still running release %s)", reason, self.state.current)
        outcome = Outcome("refused", release, reason, self.channel)
        self._report(outcome)
        return outcome

    def _mark_bad(self, version: int) -> None:
        data = self.state.read()
        data["bad"] = sorted({*data.get("bad", []), version})
        self.state.write(data)

    def _report(self, outcome: Outcome) -> None:
        self.state.queue_report(report_of(outcome, self.kiosk_id))

    # -- download --------------------------------------------------------------------------------
    def _download(self, release: Release, target: TargetFile) -> Path:
        """Fetch the release into downloads/, resuming a partial file; verified by TUF's
        length and hashes before it is renamed to its final name."""
        sha = target.hashes["sha256"]
        final = self.state.downloads / f"{release.version}.{sha[:16]}.tar"
        partial = final.with_name(final.name + ".partial")
        for stale in self.state.downloads.glob("*.partial"):
            if stale != partial:
                stale.unlink()
        dirname, _, basename = release.path.rpartition("/")
        url = f"{self.url}targets/{dirname}/{sha}.{basename}"
        have = partial.stat().st_size if partial.exists() else 0
        if have > target.length:
            partial.unlink()
            have = 0
        if have < target.length:
            self._fetch(url, partial, have, target.length)
        with open(partial, "rb") as fh:
            try:
                target.verify_length_and_hashes(fh)
            except LengthOrHashMismatchError as exc:
                partial.unlink()
                raise UpdateError(
                    f"the downloaded release does not match its signature ({exc})"
                ) from None
        partial.replace(final)
        return final

    def _fetch(self, url: str, partial: Path, have: int, length: int) -> None:
        """Append the rest of the file to ``partial``. A broken connection keeps what came
        (OSError: resumed next time); a server file of another size than the signed one is
        refused (UpdateError), its partial removed."""
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416:
                partial.unlink(missing_ok=True)
                raise UpdateError(
                    f"the server's release is shorter than its signed {length:,} bytes"
                ) from None
            raise OSError(f"{url}: HTTP {exc.code}") from None
        with response:
            resumed = response.status == 206
            total = _total_size(response.headers, resumed)
            if total is not None and total != length:
                partial.unlink(missing_ok=True)
                raise UpdateError(
                    f"the server's release is {total:,} bytes, signed: {length:,} (truncated "
                    "or replaced)"
                )
            got = have if resumed else 0
            half = length // 2
            try:
                with open(partial, "ab" if resumed else "wb") as fh:
                    while chunk := response.read(CHUNK):
                        got += len(chunk)
                        if got > length:
                            raise UpdateError(f"{url}: more bytes than the signed {length:,}")
                        fh.write(chunk)
                        if got >= half > got - len(chunk):
                            fh.flush()
                            os.fsync(fh.fileno())
                            _crash_point("downloading")
                    fh.flush()
                    os.fsync(fh.fileno())
            except http.client.HTTPException as exc:  # the connection broke mid-file
                raise OSError(f"interrupted after {got:,} of {length:,} bytes ({exc!r})") from None
        if got < length:
            raise OSError(f"interrupted after {got:,} of {length:,} bytes: resumed next time")

    def _unpack(self, release: Release, tar_path: Path) -> Path:
        folder = self.state.versions / f".new-{release.version}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        try:
            with tarfile.open(tar_path) as tar:
                for member in tar_members_ok(tar):
                    out = folder / member.name
                    out.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    assert src is not None
                    with src, open(out, "wb") as fh:
                        shutil.copyfileobj(src, fh, CHUNK)
                        fh.flush()
                        os.fsync(fh.fileno())
        except (tarfile.TarError, PublishError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            tar_path.unlink(missing_ok=True)
            raise UpdateError(f"release {release.version}: unreadable ({exc})") from None
        if not (folder / RELEASE_DB).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            raise UpdateError(f"release {release.version} holds no {RELEASE_DB}")
        fsync_dir(folder)
        return folder


def send_reports(
    state: UpdateState, url: str, *, token: str | None = None, timeout_s: float = 5.0
) -> int:
    """Deliver queued outcome reports (at most 100 a run); those not delivered stay queued."""
    path = state.top / "reports.jsonl"
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    except OSError:
        return 0
    sent = 0
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for line in lines[:100]:
        request = urllib.request.Request(url, data=line.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
        except (OSError, urllib.error.HTTPError) as exc:
            log.warning("fleet report not delivered (%s): kept for the next run", exc)
            break
        sent += 1
    rest = lines[sent:]
    tmp = path.with_name(".reports.jsonl.tmp")
    tmp.write_text("".join(f"{ln}\n" for ln in rest))
    os.replace(tmp, path)
    return sent


def _total_size(headers: Any, resumed: bool) -> int | None:
    """The size of the whole file on the server, from Content-Range (206) or -Length (200)."""
    if resumed:
        rng = headers.get("Content-Range", "")
        total = rng.rpartition("/")[2]
        return int(total) if total.isdigit() else None
    size = headers.get("Content-Length")
    return int(size) if size and size.isdigit() else None
