"""Publishing a catalog (and model bundle) for kiosks to fetch over the air, signed with TUF.

A repository folder holds three things::

    REPO/keys/root.pem          the root key: signs only the root of trust (keep it offline)
    REPO/keys/online.pem        signs targets, snapshot and timestamp on every publish
    REPO/public/metadata/       N.root.json, N.targets.json, N.snapshot.json, timestamp.json
    REPO/public/targets/        releases/<channel>/<sha256>.<version>.tar

``public/`` is what a web server serves to the kiosks; ``keys/`` never leaves the back office.
A *release* is one tar file: ``store.db`` (a consistent copy of the catalog, its index files
beside it) and, when a bundle is published with it, ``bundles/<name>/``. Its TUF target entry
carries what a kiosk needs to decide and to check it (``custom.aislelens``): the release number,
the channel, the catalog version, the bundle id it was indexed with, the rollout percentage and
a self-test: the top-1 result of scanning a few of the catalog's own thumbnails, which a kiosk
must reproduce before it switches to the release.

Signing, metadata, expiry, rollback and freeze protection are python-tuf's (``tuf.api``), not
ours: this module only decides what goes into the targets and when to sign.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from models import ImageEmbedder
from models.bundle import MANIFEST, load_bundle
from models.images import decode_image

from .atomic import write_atomic
from .db import get_meta, open_catalog_readonly
from .errors import CatalogError
from .finder import catalog_version_on_disk, open_finder
from .index_store import index_files

#: how long each role's signature stays valid; a kiosk refuses expired metadata, so the
#: timestamp must be re-signed (``aislelens publish --refresh``, a daily timer) within a day
EXPIRY = {
    Root.type: timedelta(days=365),
    Targets.type: timedelta(days=90),
    Snapshot.type: timedelta(days=7),
    Timestamp.type: timedelta(days=1),
}
ONLINE_ROLES = (Targets.type, Snapshot.type, Timestamp.type)
RELEASE_DB = "store.db"
CHANNEL_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
SELFTEST_SHOTS = 8
#: a kiosk's self-test may fall this far below the published top-1 rate and still pass
SELFTEST_TOLERANCE = 0.15


class PublishError(CatalogError):
    """A publish step that cannot be done; the repository is left as it was."""


@dataclass(frozen=True)
class Release:
    version: int
    channel: str
    path: str  # the TUF target path
    catalog_version: str
    bundle: str  # the bundle id the catalog's vectors were made with
    bundle_name: str | None  # bundles/<name>/ inside the release, or None: the shipped one
    rollout: float  # percent of the channel's kiosks that take it
    selftest: dict[str, Any]
    published_at: str

    def custom(self) -> dict[str, Any]:
        # canonical JSON (what TUF signs) has no floats: the rollout is in basis points
        return {
            "aislelens": {
                "release": self.version,
                "channel": self.channel,
                "catalog_version": self.catalog_version,
                "bundle": self.bundle,
                "bundle_name": self.bundle_name,
                "rollout_bp": round(self.rollout * 100),
                "selftest": self.selftest,
                "published_at": self.published_at,
            }
        }

    @classmethod
    def from_target(cls, target: TargetFile) -> Release | None:
        """The release a target describes; None for a target that is not one."""
        custom = target.custom
        info = custom.get("aislelens") if isinstance(custom, dict) else None
        if not isinstance(info, dict):
            return None
        try:
            return cls(
                version=int(info["release"]),
                channel=str(info["channel"]),
                path=target.path,
                catalog_version=str(info["catalog_version"]),
                bundle=str(info["bundle"]),
                bundle_name=info.get("bundle_name"),
                rollout=int(info["rollout_bp"]) / 100,
                selftest=dict(info["selftest"]),
                published_at=str(info.get("published_at", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def cohort(kiosk_id: str, channel: str) -> float:
    """Where a kiosk stands in its channel's rollout, in [0, 100): stable for a kiosk id, so
    widening a rollout from 10 % to 50 % keeps the first 10 % and adds others."""
    digest = hashlib.sha256(f"{channel}\0{kiosk_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 / 100


def in_rollout(release: Release, kiosk_id: str) -> bool:
    return cohort(kiosk_id, release.channel) < release.rollout


# -- the self-test: the same function at publish time and on the kiosk -------------------------


def selftest_shots(db_path: Path, n: int = SELFTEST_SHOTS) -> list[tuple[int, str, bytes]]:
    """(image id, SKU, thumbnail bytes) of up to ``n`` products, one image each, spread over
    the catalog (enrolled shots first: they look like what the kiosk's camera sees)."""
    db = open_catalog_readonly(db_path)
    try:
        rows = db.execute(
            """
            SELECT i.id, p.sku, t.data FROM thumbnails t
            JOIN images i ON i.id = t.image_id JOIN products p ON p.id = i.product_id
            WHERE i.error IS NULL
            ORDER BY (i.kind = 'enrolled') DESC, i.id
            """
        ).fetchall()
    finally:
        db.close()
    picked: dict[str, tuple[int, str, bytes]] = {}
    for image_id, sku, data in rows:
        picked.setdefault(sku, (image_id, sku, bytes(data)))
    shots = sorted(picked.values())
    if len(shots) > n:
        step = len(shots) / n
        shots = [shots[int(i * step)] for i in range(n)]
    return shots


def run_selftest(
    db_path: Path, embedder: ImageEmbedder, image_ids: list[int] | None = None
) -> dict[str, Any]:
    """Scan the catalog's own thumbnails: how many find their own product first, and the mean
    top score. ``image_ids``: the shots chosen at publish time (a kiosk repeats those)."""
    shots = selftest_shots(db_path, 10**9 if image_ids is not None else SELFTEST_SHOTS)
    if image_ids is not None:
        by_id = {s[0]: s for s in shots}
        shots = [by_id[i] for i in image_ids if i in by_id]
    if not shots:
        raise PublishError(f"{db_path}: no thumbnails to self-test with: index the catalog first")
    finder = open_finder(db_path, bundle_id=embedder.model_id)
    try:
        hits, scores = 0, []
        for _, sku, data in shots:
            image = decode_image(data, source="self-test")
            vector = embedder.embed_batch(embedder.preprocess([image]))[0]
            result = finder.search_vector(vector, 1)
            top = result.matches[0] if result.matches else None
            hits += int(top is not None and top.product.sku == sku)
            scores.append(top.score if top is not None else 0.0)
    finally:
        finder.close()
    # whole numbers only: this goes into signed metadata (canonical JSON has no floats)
    return {
        "image_ids": [s[0] for s in shots],
        "hits": hits,
        "shots": len(shots),
        "mean_score_milli": round(float(np.mean(scores)) * 1000),
    }


def selftest_passes(published: dict[str, Any], measured: dict[str, Any]) -> tuple[bool, str]:
    want = int(published.get("hits", 0)) / max(1, int(published.get("shots", 1)))
    got = int(measured["hits"]) / max(1, int(measured["shots"]))
    ok = measured["shots"] == published.get("shots") and got >= want - SELFTEST_TOLERANCE
    return ok, f"self-test top-1 {got:.0%} of {measured['shots']} shots (published {want:.0%})"


# -- keys and metadata ---------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _new_key(path: Path) -> CryptoSigner:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return CryptoSigner(key)


def _load_key(path: Path) -> CryptoSigner:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise PublishError(
            f"{path}: no such key (the root key is kept offline: copy it back to sign the root)"
        ) from None
    except ValueError as exc:
        raise PublishError(f"{path}: not a private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise PublishError(f"{path}: not an Ed25519 key")
    return CryptoSigner(key)


class Repository:
    """A TUF repository on disk: the latest metadata of each role, re-signed on change."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.keys = top / "keys"
        self.metadata = top / "public" / "metadata"
        self.targets_dir = top / "public" / "targets"
        if not (self.metadata / "1.root.json").is_file():
            raise PublishError(
                f"{top}: not a release repository (make one with: aislelens publish init --repo {top})"
            )

    # the newest version of each role on disk
    def _latest(self, role: str) -> Path:
        if role == Timestamp.type:
            return self.metadata / "timestamp.json"
        pattern = re.compile(rf"(\d+)\.{role}\.json")
        versions = [
            int(m.group(1)) for p in self.metadata.iterdir() if (m := pattern.fullmatch(p.name))
        ]
        return self.metadata / f"{max(versions)}.{role}.json"

    def load(self, role: str) -> Metadata[Any]:
        return Metadata.from_file(str(self._latest(role)))

    def root(self) -> Metadata[Root]:
        return self.load(Root.type)

    def targets(self) -> Metadata[Targets]:
        return self.load(Targets.type)

    def _write(self, md: Metadata[Any], signers: list[CryptoSigner]) -> None:
        md.signed.expires = _now() + EXPIRY[md.signed.type]
        md.signatures.clear()
        for signer in signers:
            md.sign(signer, append=True)
        name = (
            "timestamp.json"
            if md.signed.type == Timestamp.type
            else f"{md.signed.version}.{md.signed.type}.json"
        )
        write_atomic(self.metadata / name, md.to_bytes(JSONSerializer(compact=False)))

    def online_signer(self) -> CryptoSigner:
        signer = _load_key(self.keys / "online.pem")
        root = self.root().signed
        if signer.public_key.keyid not in root.roles[Timestamp.type].keyids:
            raise PublishError(
                f"{self.keys / 'online.pem'} is not the key the root trusts for publishing"
            )
        return signer

    def commit_targets(self, targets: Metadata[Targets]) -> None:
        """Sign a changed targets role, then a snapshot and a timestamp naming it: the
        timestamp is written last, so a kiosk sees the new targets only once all is there."""
        signer = self.online_signer()
        targets.signed.version += 1
        self._write(targets, [signer])
        snapshot = self.load(Snapshot.type)
        snapshot.signed.version += 1
        snapshot.signed.meta["targets.json"] = MetaFile(version=targets.signed.version)
        self._write(snapshot, [signer])
        self.refresh(signer, snapshot.signed.version)

    def refresh(
        self, signer: CryptoSigner | None = None, snapshot_version: int | None = None
    ) -> None:
        """Re-sign the timestamp (it expires after a day: run this daily)."""
        signer = signer or self.online_signer()
        timestamp = self.load(Timestamp.type)
        timestamp.signed.version += 1
        if snapshot_version is None:
            snapshot = self.load(Snapshot.type)
            if snapshot.signed.expires - _now() < timedelta(days=3):  # keep it fresh too
                snapshot.signed.version += 1
                self._write(snapshot, [signer])
            snapshot_version = snapshot.signed.version
        timestamp.signed.snapshot_meta = MetaFile(version=snapshot_version)
        self._write(timestamp, [signer])

    def releases(self) -> list[Release]:
        found = [Release.from_target(t) for t in self.targets().signed.targets.values()]
        return sorted((r for r in found if r is not None), key=lambda r: r.version)

    def rotate(self, role: str) -> str:
        """Replace the online key (``role="online"``: a leaked or old key) or the root key; the
        new root is signed by the old root key (and the new one), so kiosks follow the chain.
        Returns the new key's id."""
        root_md = self.root()
        old_root = _load_key(self.keys / "root.pem")
        if old_root.public_key.keyid not in root_md.signed.roles[Root.type].keyids:
            raise PublishError(f"{self.keys / 'root.pem'} is not the repository's root key")
        name = "online.pem" if role == "online" else "root.pem"
        roles = ONLINE_ROLES if role == "online" else (Root.type,)
        retired = self.keys / f"{name}.retired-{_now():%Y%m%dT%H%M%S}"
        (self.keys / name).replace(retired)
        new = _new_key(self.keys / name)
        for r in roles:
            for keyid in list(root_md.signed.roles[r].keyids):
                root_md.signed.revoke_key(keyid, r)
            root_md.signed.add_key(new.public_key, r)
        root_md.signed.version += 1
        signers = [old_root, new] if role == "root" else [old_root]
        self._write(root_md, signers)
        if role == "online":
            retired.unlink()  # a leaked key is worth nothing now: the new root revoked it
            self.commit_targets(self.targets())
        return str(new.public_key.keyid)


def init_repository(top: Path) -> Repository:
    """Make the keys and the first signed metadata of an empty repository."""
    if (top / "public" / "metadata" / "1.root.json").exists():
        raise PublishError(f"{top}: already a release repository")
    if (top / "keys").exists() and any((top / "keys").iterdir()):
        raise PublishError(f"{top / 'keys'}: already holds keys; refusing to overwrite them")
    root_key = _new_key(top / "keys" / "root.pem")
    online = _new_key(top / "keys" / "online.pem")
    root = Root(expires=_now() + EXPIRY[Root.type], consistent_snapshot=True)
    root.add_key(root_key.public_key, Root.type)
    for role in ONLINE_ROLES:
        root.add_key(online.public_key, role)
    metadata = top / "public" / "metadata"
    (top / "public" / "targets").mkdir(parents=True, exist_ok=True)
    serializer = JSONSerializer(compact=False)
    for md, signer in (
        (Metadata(root), root_key),
        (Metadata(Targets(expires=_now())), online),
        (Metadata(Snapshot(expires=_now())), online),
        (Metadata(Timestamp(expires=_now())), online),
    ):
        md.signed.expires = _now() + EXPIRY[md.signed.type]
        md.sign(signer)
        name = "timestamp.json" if md.signed.type == Timestamp.type else f"1.{md.signed.type}.json"
        write_atomic(metadata / name, md.to_bytes(serializer))
    return Repository(top)


# -- releases ------------------------------------------------------------------------------------


def _catalog_bundle(db_path: Path) -> tuple[str, str, str | None]:
    """(bundle id of the vectors, bundle ref, precision) of an indexed catalog."""
    db = open_catalog_readonly(db_path)
    try:
        ref = get_meta(db, "bundle_ref")
        precision = get_meta(db, "bundle_precision")
        row = db.execute("SELECT bundle_id FROM embeddings LIMIT 1").fetchone()
    finally:
        db.close()
    if row is None or not ref:
        raise PublishError(f"{db_path}: the catalog is not indexed: run aislelens catalog index")
    return str(row[0]), ref, precision


def _snapshot_catalog(db_path: Path, out: Path) -> None:
    """A consistent, self-contained copy of the catalog (SQLite's backup API: safe while staff
    tools write to it), with its index files beside it."""
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    dst = sqlite3.connect(out)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")
        # products staff removed (kept a while for `catalog restore`) stay in the back office
        tables = {r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "removed_products" in tables:
            dst.execute("DELETE FROM removed_images")
            dst.execute("DELETE FROM removed_products")
            dst.commit()
            dst.execute("VACUUM")
    finally:
        dst.close()
        src.close()
    for path, copy in zip(index_files(db_path), index_files(out), strict=True):
        if path.is_file():
            shutil.copy2(path, copy)


def _add_tree(tar: tarfile.TarFile, folder: Path, arcname: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            tar.add(
                path, arcname=f"{arcname}/{path.relative_to(folder).as_posix()}", recursive=False
            )


def _release_content(db_path: Path, bundle: Path | None, work: Path) -> None:
    """What a release tar holds, in ``work``: the catalog copy (naming its bundle by its place
    inside the release, ``bundles/<name>``, resolved beside the database, not by a path on
    this PC) and its index files."""
    catalog = work / RELEASE_DB
    _snapshot_catalog(db_path, catalog)
    if bundle is not None:
        con = sqlite3.connect(catalog)
        try:
            con.execute(
                "UPDATE meta SET value = ? WHERE key = 'bundle_ref'", (f"bundles/{bundle.name}",)
            )
            con.commit()
        finally:
            con.close()


def _write_tar(work: Path, bundle: Path | None, out: Path) -> None:
    with tarfile.open(out, "w") as tar:
        for path in sorted(work.iterdir()):
            if path.is_file():
                tar.add(path, arcname=path.name, recursive=False)
        if bundle is not None:
            _add_tree(tar, bundle, f"bundles/{bundle.name}")


def publish_release(
    top: Path,
    db_path: Path,
    *,
    bundle: Path | None = None,
    channel: str = "stable",
    rollout: float = 100.0,
    open_embedder: Callable[[str, str | None], ImageEmbedder] | None = None,
) -> Release:
    """Add the catalog (and ``bundle``) as the channel's next release and sign it."""
    if not CHANNEL_RE.fullmatch(channel):
        raise PublishError(f"{channel!r} is not a channel name (lower-case letters, digits, -)")
    if not 0 < rollout <= 100:
        raise PublishError(f"the rollout must be 0 to 100 percent, not {rollout}")
    repo = Repository(top)
    repo.online_signer()  # the key to sign with, before any work (a one-line error)
    vectors_bundle, ref, precision = _catalog_bundle(db_path)
    if bundle is not None:
        load_bundle(bundle)  # a readable bundle folder, or a one-line error
        ref = str(bundle)
    elif os.sep in ref or ref.endswith(MANIFEST):
        raise PublishError(
            f"the catalog was indexed with the bundle at {ref}, which kiosks do not have: "
            f"publish it with --bundle {ref}"
        )
    opener = open_embedder or (lambda r, p: ImageEmbedder.open(r, p or "auto"))
    embedder = opener(ref, precision)
    try:
        if embedder.model_id != vectors_bundle:
            raise PublishError(
                f"the catalog's vectors were made with {vectors_bundle}, not {embedder.model_id} "
                f"({ref}): index it with that bundle first"
            )
        selftest = run_selftest(db_path, embedder)
    finally:
        embedder.close()
    targets = repo.targets()
    version = max((r.version for r in repo.releases()), default=0) + 1
    target_path = f"releases/{channel}/{version}.tar"
    with tempfile.TemporaryDirectory(dir=top, prefix=".publish-") as tmp:
        work = Path(tmp) / "content"
        work.mkdir()
        _release_content(db_path, bundle, work)
        catalog_version = catalog_version_on_disk(work / RELEASE_DB)
        tar_path = Path(tmp) / "release.tar"
        _write_tar(work, bundle, tar_path)
        target = TargetFile.from_file(target_path, str(tar_path), ["sha256"])
        release = Release(
            version=version,
            channel=channel,
            path=target_path,
            catalog_version=catalog_version,
            bundle=vectors_bundle,
            bundle_name=bundle.name if bundle is not None else None,
            rollout=float(rollout),
            selftest=selftest,
            published_at=_now().isoformat(),
        )
        target.unrecognized_fields["custom"] = release.custom()
        stored = (
            repo.targets_dir / "releases" / channel / f"{target.hashes['sha256']}.{version}.tar"
        )
        stored.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tar_path, stored.with_name(f".{stored.name}.partial"))
        stored.with_name(f".{stored.name}.partial").replace(stored)
    targets.signed.targets[target_path] = target
    try:
        repo.commit_targets(targets)
    except BaseException:  # not signed: unless a targets file got to name it, it goes
        try:
            named = target_path in Repository(top).targets().signed.targets
        except Exception:  # the first error is the one to report
            named = True
        if not named:
            stored.unlink(missing_ok=True)
        raise
    return release


def promote(
    top: Path,
    channel: str,
    rollout: float,
    *,
    outcomes: Callable[[str, int], tuple[int, int]],
    max_failure_rate: float = 0.02,
    min_reports: int = 1,
) -> Release:
    """Widen the channel's newest release to ``rollout`` percent, unless too many kiosks of the
    current stage failed it. ``outcomes(channel, release)`` → (ok, failed) reports."""
    repo = Repository(top)
    current = [r for r in repo.releases() if r.channel == channel]
    if not current:
        raise PublishError(f"nothing published on channel {channel!r}")
    release = current[-1]
    if rollout <= release.rollout:
        raise PublishError(
            f"release {release.version} already reaches {release.rollout:g} %: promote widens"
        )
    ok, failed = outcomes(channel, release.version)
    total = ok + failed
    if total < min_reports:
        raise PublishError(
            f"release {release.version}: {total} kiosk reports so far, {min_reports} needed "
            "before widening"
        )
    rate = failed / total if total else 0.0
    if rate > max_failure_rate:
        raise PublishError(
            f"release {release.version}: {failed} of {total} kiosks failed it ({rate:.1%}, "
            f"limit {max_failure_rate:.1%}): not widening; fix it and publish a new release"
        )
    targets = repo.targets()
    target = targets.signed.targets[release.path]
    widened = Release(**{**release.__dict__, "rollout": float(rollout)})
    target.unrecognized_fields["custom"] = widened.custom()
    repo.commit_targets(targets)
    return widened


def describe(release: Release) -> str:
    bundle = f", bundle {release.bundle_name}" if release.bundle_name else ""
    return (
        f"release {release.version} on {release.channel}: catalog {release.catalog_version}"
        f"{bundle}, {release.rollout:g} % of kiosks, self-test top-1 "
        f"{release.selftest.get('hits', 0)}/{release.selftest.get('shots', 0)}"
    )


def release_json(release: Release) -> str:
    return json.dumps(release.custom()["aislelens"], sort_keys=True)


def tar_members_ok(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Only plain files under plain relative names: a release never writes outside its folder."""
    for member in tar.getmembers():
        name = member.name
        if (
            not member.isfile()
            or name.startswith("/")
            or ".." in Path(name).parts
            or not re.fullmatch(r"[A-Za-z0-9._/+-]+", name)
        ):
            raise PublishError(f"the release holds a file it must not: {name!r}")
        yield member
