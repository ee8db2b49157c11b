"""Signed over-the-air releases: a real TUF repository served on 127.0.0.1 (with Range
requests), a real kiosk updater, the demo catalog and the real model.

Every refusal leaves the running release untouched; an interrupted download resumes; a kill -9
at any step of a switch leaves a kiosk that starts a complete release; a release that never
becomes READY is switched back from by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, TargetFile
from tuf.api.serialization.json import JSONSerializer

from catalog import open_finder
from catalog.fleet import FleetLog
from catalog.publish import (
    PublishError,
    Release,
    Repository,
    cohort,
    init_repository,
    promote,
    publish_release,
)
from catalog.publish_server import RangeRequestHandler, make_server, serve_in_background
from kiosk import releases
from kiosk.releases import UpdateState, boot_check, confirm_ready
from kiosk.updater import STEPS, KioskUpdater, send_reports
from models.bundle import BUNDLES_DIR


class Server:
    """The repository on 127.0.0.1; ``cut_after`` bytes breaks the next target download."""

    def __init__(self, top: Path) -> None:
        self.cut_after: int | None = None
        self.ranges: list[str] = []
        outer = self

        class Handler(RangeRequestHandler):
            def send_head(self):  # type: ignore[no-untyped-def]
                if "/targets/" in self.path:
                    outer.ranges.append(self.headers.get("Range", ""))
                return super().send_head()

            def copyfile(self, source, outputfile):  # type: ignore[no-untyped-def]
                if outer.cut_after is not None and "/targets/" in self.path:
                    n, outer.cut_after = outer.cut_after, None
                    outputfile.write(source.read(n))
                    self.close_connection = True
                    return None
                return super().copyfile(source, outputfile)

        self.httpd = make_server(top, "127.0.0.1", 0, Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/"
        serve_in_background(self.httpd)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def repo(tmp_path: Path, demo_db: Path) -> Path:
    top = tmp_path / "repo"
    init_repository(top)
    publish_release(top, demo_db)
    return top


@pytest.fixture
def server(repo: Path):
    s = Server(repo)
    yield s
    s.close()


def kiosk(tmp_path: Path, repo: Path, server: Server, name: str = "k1", **kw) -> KioskUpdater:
    root = (repo / "public/metadata/1.root.json").read_bytes()
    state = UpdateState(tmp_path / name / "updates")
    return KioskUpdater(state, server.url, root, kiosk_id=name, timeout_s=10, **kw)


def opens(state: UpdateState) -> str:
    """The catalog version a kiosk starting now would run."""
    finder = open_finder(state.catalog_db())
    try:
        return finder.catalog_version
    finally:
        finder.close()


def relabelled_sku(db: Path) -> str:
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return str(con.execute("SELECT sku FROM products WHERE id = 1").fetchone()[0])
    finally:
        con.close()


def republish_with_product(repo: Path, demo_db: Path, tmp_path: Path, **kw) -> Release:
    """A second release: the same catalog with one product renamed."""
    db = tmp_path / "second" / "catalog.db"
    db.parent.mkdir(exist_ok=True)
    shutil.copy2(demo_db, db)
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("UPDATE products SET name = name || ' (new label)' WHERE id = 1")
    con.commit()
    con.close()
    return publish_release(repo, db, **kw)


def test_a_kiosk_updates_to_the_newest_release_and_keeps_the_previous(
    tmp_path, repo, server, demo_db
):
    k = kiosk(tmp_path, repo, server)
    first = k.check_once()
    assert first.status == "updated" and first.release == 1, first
    assert k.state.current == 1 and opens(k.state)
    assert k.check_once().status == "up-to-date"
    second = republish_with_product(repo, demo_db, tmp_path)
    assert second.version == 2
    assert k.check_once().status == "updated"
    assert (k.state.current, k.state.previous) == (2, 1)
    finder = open_finder(k.state.catalog_db())
    try:
        assert finder.product(relabelled_sku(demo_db)).name.endswith("(new label)")
    finally:
        finder.close()


def test_every_refusal_leaves_the_running_release_untouched(tmp_path, repo, server, demo_db):
    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated"
    release = republish_with_product(repo, demo_db, tmp_path)
    stored = next((repo / "public/targets/releases/stable").glob(f"*.{release.version}.tar"))
    original = stored.read_bytes()

    # tampered: one byte changed, same length
    data = bytearray(original)
    data[len(data) // 3] ^= 0xFF
    stored.write_bytes(bytes(data))
    out = k.check_once()
    assert out.status == "refused" and "does not match its signature" in out.reason
    assert k.state.current == 1 and not list(k.state.downloads.iterdir())

    # truncated on the server
    stored.write_bytes(original[: len(original) // 2])
    out = k.check_once()
    assert out.status == "refused" and "truncated" in out.reason, out
    assert k.state.current == 1
    stored.write_bytes(original)

    # metadata signed by a key the root does not trust
    metadata = repo / "public/metadata"
    saved = {p.name: p.read_bytes() for p in metadata.iterdir()}
    timestamp = Metadata.from_file(str(metadata / "timestamp.json"))
    timestamp.signed.version += 1
    timestamp.signatures.clear()
    timestamp.sign(CryptoSigner.generate_ed25519())
    timestamp.to_file(str(metadata / "timestamp.json"), JSONSerializer())
    out = k.check_once()
    assert out.status == "refused" and "metadata was refused" in out.reason, out
    assert k.state.current == 1

    # frozen: a validly signed timestamp that has expired
    online = Repository(repo).online_signer()
    timestamp.signed.expires = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    timestamp.signatures.clear()
    timestamp.sign(online)
    timestamp.to_file(str(metadata / "timestamp.json"), JSONSerializer())
    out = k.check_once()
    assert out.status == "refused" and "expired" in out.reason.lower(), out
    assert k.state.current == 1

    # back to good metadata (a newer timestamp): the update goes through
    for name, data in saved.items():
        (metadata / name).write_bytes(data)
    Repository(repo).refresh()
    assert k.check_once().status == "updated" and k.state.current == 2

    # rollback: the metadata of release 1's time, replayed
    for name in list(metadata.iterdir()):
        name.unlink()
    for name, data in saved.items():
        (metadata / name).write_bytes(data)
    out = k.check_once()
    assert out.status == "refused" and "version" in out.reason.lower(), out
    assert k.state.current == 2
    reports = [
        json.loads(line) for line in (k.state.top / "reports.jsonl").read_text().splitlines()
    ]
    assert [r["status"] for r in reports].count("refused") == 5


def _sign_release(repo: Path, tar_bytes: bytes, release: Release) -> None:
    """A release the publish command would refuse to make, signed by the real keys."""
    r = Repository(repo)
    target = TargetFile.from_data(release.path, tar_bytes, ["sha256"])
    target.unrecognized_fields["custom"] = release.custom()
    out = r.targets_dir / "releases" / release.channel
    (out / f"{target.hashes['sha256']}.{release.version}.tar").write_bytes(tar_bytes)
    targets = r.targets()
    targets.signed.targets[release.path] = target
    r.commit_targets(targets)


def _tar_of(files: dict[str, Path | bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_catalog_paired_with_another_bundle_is_refused(tmp_path, repo, server, demo_db):
    other = BUNDLES_DIR / "efficientnet-lite0"
    with pytest.raises(PublishError, match="vectors were made with"):
        publish_release(repo, demo_db, bundle=other)
    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated"
    first = Repository(repo).releases()[0]
    files: dict[str, Path | bytes] = {"store.db": demo_db}
    for f in other.iterdir():
        files[f"bundles/{other.name}/{f.name}"] = f
    mixed = replace(first, version=2, path="releases/stable/2.tar", bundle_name=other.name)
    _sign_release(repo, _tar_of(files), mixed)
    out = k.check_once()
    assert out.status == "failed" and "catalog was made with" in out.reason, out
    assert k.state.current == 1
    assert k.check_once().status == "up-to-date"  # a failed release is not retried


def test_a_release_with_a_broken_bundle_fails_its_health_check(tmp_path, repo, server, demo_db):
    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated"
    first = Repository(repo).releases()[0]
    bundle = BUNDLES_DIR / "efficientnet-lite0-retail"
    files: dict[str, Path | bytes] = {"store.db": demo_db}
    for f in bundle.iterdir():
        data = f.read_bytes()
        if f.suffix == ".onnx":
            data = data[: len(data) // 2]  # a half-copied model
        files[f"bundles/{bundle.name}/{f.name}"] = data
    broken = replace(first, version=2, path="releases/stable/2.tar", bundle_name=bundle.name)
    _sign_release(repo, _tar_of(files), broken)
    out = k.check_once()
    assert out.status == "failed" and "health check" in out.reason, out
    assert k.state.current == 1 and opens(k.state)


def test_a_bundle_published_with_the_catalog_is_what_the_kiosk_checks(
    tmp_path, repo, server, demo_db
):
    bundle = BUNDLES_DIR / "efficientnet-lite0-retail"
    release = republish_with_product(repo, demo_db, tmp_path, bundle=bundle)
    assert release.bundle_name == bundle.name
    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated" and k.state.current == 2
    assert (k.state.top / "current/bundles" / bundle.name / "manifest.json").is_file()
    from catalog.cli_common import catalog_bundle

    ref, _ = catalog_bundle(k.state.catalog_db())
    assert ref == str(k.state.top / "current" / "bundles" / bundle.name)


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path, repo, server):
    k = kiosk(tmp_path, repo, server)
    server.cut_after = 200_000
    out = k.check_once()
    assert out.status == "unreachable" and "interrupted" in out.reason, out
    partial = list(k.state.downloads.glob("*.partial"))
    assert len(partial) == 1 and partial[0].stat().st_size == 200_000
    assert k.state.current is None
    server.ranges.clear()
    assert k.check_once().status == "updated"
    assert server.ranges == ["bytes=200000-"]


def test_a_release_that_never_gets_ready_is_switched_back_from(tmp_path, repo, server, demo_db):
    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated"
    assert confirm_ready(k.state, "k1").status == "ok"
    republish_with_product(repo, demo_db, tmp_path)
    assert k.check_once().status == "updated" and k.state.current == 2
    for attempt in range(1, 4):  # three starts that crash before READY
        assert boot_check(k.state, 3, "k1").status == "probation", attempt
    back = boot_check(k.state, 3, "k1")
    assert back.status == "rolled-back" and back.release == 2
    assert k.state.current == 1 and opens(k.state)
    assert boot_check(k.state, 3, "k1").status == "up-to-date"
    assert k.check_once().status == "up-to-date"  # never retried
    statuses = [
        json.loads(line)["status"]
        for line in (k.state.top / "reports.jsonl").read_text().splitlines()
    ]
    assert statuses == ["ok", "rolled-back"]


def test_a_confirmed_release_stays(tmp_path, repo, server):
    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated"
    boot_check(k.state, 3, "k1")
    assert confirm_ready(k.state, "k1") is not None
    for _ in range(5):
        assert boot_check(k.state, 3, "k1").status == "up-to-date"
    assert k.state.current == 1


def test_staged_rollout_widens_only_when_the_stage_went_well(tmp_path, repo, server, demo_db):
    ids = [f"kiosk-{i}" for i in range(200)]
    assert all(0 <= cohort(i, "stable") < 100 for i in ids)
    republish_with_product(repo, demo_db, tmp_path, rollout=10)
    release = Repository(repo).releases()[-1]
    inside = [i for i in ids if cohort(i, "stable") < 10]
    assert 8 <= len(inside) <= 40  # about a tenth
    k_in = kiosk(tmp_path, repo, server, name=inside[0])
    outside = next(i for i in ids if 10 <= cohort(i, "stable") < 50)
    k_out = kiosk(tmp_path, repo, server, name=outside)
    assert k_in.check_once().release == 2
    assert k_out.check_once().release == 1  # the release before, which reaches everyone

    fleet = FleetLog(tmp_path / "fleet.db")
    for n, kid in enumerate(inside):
        status = "rolled-back" if n < 2 else "ok"
        fleet.record({"kiosk_id": kid, "channel": "stable", "release": 2, "status": status})
    with pytest.raises(PublishError, match="not widening"):
        promote(repo, "stable", 50, outcomes=fleet.outcomes, max_failure_rate=0.02)
    assert Repository(repo).releases()[-1].rollout == 10
    # the failed ones were fixed and reported ok again: the stage is clean
    for kid in inside[:2]:
        fleet.record({"kiosk_id": kid, "channel": "stable", "release": 2, "status": "ok"})
    widened = promote(repo, "stable", 50, outcomes=fleet.outcomes, max_failure_rate=0.02)
    assert widened.rollout == 50 and widened.version == release.version
    assert k_out.check_once().release == 2  # its cohort is inside 50 %
    fleet.close()


def test_reports_reach_the_fleet_endpoint(tmp_path, repo, server, demo_db):
    from fastapi.testclient import TestClient

    from kiosk.service import create_app

    app = create_app(demo_db, fleet_db=tmp_path / "fleet.db")
    with TestClient(app) as client:
        ok = client.post(
            "/v1/fleet/report",
            json={"kiosk_id": "k1", "channel": "stable", "release": 1, "status": "ok"},
        )
        assert ok.status_code == 200, ok.text
        for bad, why in (
            ({"kiosk_id": "k1", "status": "great"}, "status must be"),
            ({"status": "ok"}, "kiosk_id"),
            ({"kiosk_id": "k1", "status": "ok", "release": "two"}, "release"),
        ):
            r = client.post("/v1/fleet/report", json=bad)
            assert r.status_code == 422 and why in r.json()["error"]
        r = client.post(
            "/v1/fleet/report", content=b"{", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400
        assert 'aislelens_fleet_reports_total{status="ok"} 1.0' in client.get("/metrics").text
    log = FleetLog(tmp_path / "fleet.db")
    assert log.outcomes("stable", 1) == (1, 0)
    log.close()


def test_queued_reports_are_sent_and_kept_when_the_endpoint_is_down(tmp_path):
    state = UpdateState(tmp_path / "updates")
    state.queue_report({"kiosk_id": "k1", "status": "ok", "release": 1})
    assert send_reports(state, "http://127.0.0.1:9/v1/fleet/report", timeout_s=1) == 0
    assert len((state.top / "reports.jsonl").read_text().splitlines()) == 1


def test_the_kiosk_and_the_updater_agree_on_the_release_layout():
    from catalog import publish

    assert releases.RELEASE_DB == publish.RELEASE_DB


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_any_step_of_an_update_leaves_a_kiosk_that_starts(
    tmp_path, repo, server, demo_db, step
):
    """``aislelens update --once`` killed (SIGKILL, as a power cut) at ``step``: the kiosk's
    catalog is then release 1 or release 2, complete, and the next run finishes the job."""
    data = tmp_path / "data"
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'data_dir = "{data}"\ncatalog_db = "{data}/updates/current/store.db"\n'
        f'[update]\nrepository_url = "{server.url}"\n'
        f'trusted_root = "{repo}/public/metadata/1.root.json"\nkiosk_id = "k1"\n'
    )
    cmd = [str(Path(sys.executable).parent / "aislelens"), "update", "--config", str(config)]
    cmd.append("--once")
    env = dict(os.environ)
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    state = UpdateState(data / "updates")
    before = opens(state)
    republish_with_product(repo, demo_db, tmp_path)
    killed = subprocess.run(
        cmd, env={**env, "AISLELENS_UPDATE_CRASH_AT": step}, capture_output=True, timeout=120
    )
    assert killed.returncode == -9, (step, killed.stderr[-500:])
    assert state.current in (1, 2) and opens(state)  # a complete release either way
    boot_check(state, 3, "k1")  # the kiosk's next start
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert state.current == 2 and opens(state) != before
    assert not [p for p in state.versions.iterdir() if p.name.startswith(".")]


def test_a_rotated_online_key_is_followed_and_the_old_one_refused(tmp_path, repo, server, demo_db):
    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated"
    old = Repository(repo).online_signer()
    Repository(repo).rotate("online")
    assert not list((repo / "keys").glob("online.pem.retired-*"))  # the leaked key is gone
    republish_with_product(repo, demo_db, tmp_path)
    assert k.check_once().status == "updated" and k.state.current == 2  # via the new root
    # metadata signed with the revoked key is refused now
    metadata = repo / "public/metadata"
    timestamp = Metadata.from_file(str(metadata / "timestamp.json"))
    timestamp.signed.version += 1
    timestamp.signatures.clear()
    timestamp.sign(old)
    timestamp.to_file(str(metadata / "timestamp.json"), JSONSerializer())
    out = k.check_once()
    assert out.status == "refused" and k.state.current == 2


def test_a_rotated_root_key_is_followed(tmp_path, repo, server, demo_db):
    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated"
    Repository(repo).rotate("root")
    Repository(repo).refresh()
    republish_with_product(repo, demo_db, tmp_path)
    assert k.check_once().status == "updated" and k.state.current == 2


def test_a_publish_that_cannot_sign_leaves_no_release_file(tmp_path, repo, demo_db):
    """The online key is not the one the root trusts: a one-line error, and the release's tar
    is not left behind in the public folder (nothing names it)."""
    from catalog.publish import _new_key

    before = sorted((repo / "public/targets").rglob("*.tar"))
    (repo / "keys/online.pem").unlink()
    _new_key(repo / "keys/online.pem")  # a key the root never heard of
    with pytest.raises(PublishError, match="not the key the root trusts"):
        publish_release(repo, demo_db)
    assert sorted((repo / "public/targets").rglob("*.tar")) == before
    assert not list((repo / "public").rglob(".*partial"))


def test_a_release_carries_no_removed_products(tmp_path, repo, demo_db):
    """Products staff removed are kept in the back office's catalog for `restore`, not sent
    to the kiosks with their vectors."""
    import sqlite3

    from catalog import remove_products

    db = tmp_path / "shop" / "catalog.db"
    db.parent.mkdir()
    shutil.copy2(demo_db, db)
    for path in demo_db.parent.glob(demo_db.name + ".*"):
        shutil.copy2(path, db.parent / path.name)
    sku = relabelled_sku(db)
    assert remove_products(db, [sku]).removed
    release = publish_release(repo, db)
    target = next((repo / "public/targets/releases/stable").glob(f"*.{release.version}.tar"))
    with tarfile.open(target) as tar:
        tar.extract("store.db", tmp_path / "out", filter="data")
    con = sqlite3.connect(tmp_path / "out/store.db")
    try:
        assert con.execute("SELECT count(*) FROM removed_products").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM removed_images").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM products WHERE sku = ?", (sku,)).fetchone() == (0,)
    finally:
        con.close()
    src = sqlite3.connect(db)
    assert src.execute("SELECT count(*) FROM removed_products").fetchone() == (1,)  # kept here
    src.close()


def test_a_release_the_kiosks_settings_cannot_run_is_refused_before_the_switch(
    tmp_path, repo, server
):
    """The kiosk's settings pin another bundle than the release's catalog was made with: the
    kiosk could not search it, so the health check refuses it and nothing is switched."""
    from kiosk.settings import RecognitionSettings

    k = kiosk(tmp_path, repo, server, recognition=RecognitionSettings(bundle="efficientnet-lite0"))
    outcome = k.check_once()
    assert outcome.status == "failed" and "the kiosk's settings choose it" in outcome.reason
    assert k.state.current is None and not list(k.state.versions.iterdir())
    ok = kiosk(tmp_path, repo, server, "k2", recognition=RecognitionSettings())
    assert ok.check_once().status == "updated"  # the same release, unpinned


def test_a_catalog_from_a_newer_staff_tool_is_refused_until_the_kiosk_is_upgraded(
    tmp_path, repo, server, demo_db
):
    """A release whose catalog has a schema migration this kiosk does not know: its health
    check refuses it, and the running release stays (README: upgrade kiosks first)."""
    import sqlite3

    k = kiosk(tmp_path, repo, server)
    assert k.check_once().status == "updated"
    newer = tmp_path / "newer.db"
    shutil.copy2(demo_db, newer)
    con = sqlite3.connect(newer)
    migration_set = con.execute("SELECT migration_set FROM _sqlite_migrations").fetchone()[0]
    con.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        (migration_set, "m999_from_the_future", "2027-01-01T00:00:00"),
    )
    con.commit()
    con.close()
    first = Repository(repo).releases()[0]
    _sign_release(
        repo, _tar_of({"store.db": newer}), replace(first, version=2, path="releases/stable/2.tar")
    )
    out = k.check_once()
    assert out.status == "failed" and "newer than this AisleLens understands" in out.reason, out
    assert k.state.current == 1 and opens(k.state)
