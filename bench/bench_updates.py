"""Over-the-air updates at fleet scale, all on 127.0.0.1: a staged rollout and killed updates.

    python bench/bench_updates.py [--kiosks 1000] [--failing 0.03] [--cuts 200] [--no-write]

**Fleet.** A real TUF repository (``catalog.publish``) served over HTTP with Range requests,
the real fleet endpoint (``aislelens serve --fleet-db``, in its own process) and ``--kiosks``
in-process kiosks, each with its own state folder and TUF metadata, running the real
:class:`kiosk.updater.KioskUpdater` (at most 8 at a time). The kiosks start on release 1,
installed on one and copied to the others (hard links: the factory image). Release 2 is then
published to 10 % of the fleet. A fraction ``--failing`` of the kiosks (spread evenly over the
cohorts, so each stage has its share) cannot run it: half fail the health check before the
switch, half switch and then never become READY, as a kiosk in a crash loop (``boot_check``
runs before each of their starts, as systemd's ``ExecStartPre`` does). Every kiosk sends its
outcomes to the fleet endpoint. ``publish --promote`` to 100 % must then refuse (the stage's
failure rate is over the 2 % limit), and does, leaving the other 90 % on release 1. The
operator then widens it anyway with a 5 % limit (stage 2), and the rest of the fleet updates.
At the end every kiosk must have a working version: its ``current`` catalog opens with the
release's model, and it is release 2 unless the kiosk failed it, then release 1. The model is
loaded once and shared by the in-process kiosks (each real kiosk loads its own).

**Killed updates.** ``--cuts`` updates, each of a fresh kiosk on release 1, are killed with
SIGKILL (``AISLELENS_UPDATE_CRASH_AT``) at each of the updater's steps in turn, in a forked
process running the real code; then what a kiosk starting now would do is checked
(``boot_check``, and its ``current`` catalog must open and be a whole release), and a second
run must finish the update. A SIGKILL is not a power cut: the page cache survives it, so this
checks the order of the steps, not that each was flushed to disk (the fsyncs are there, but
only a real power cut would test them).

Prints the figures and writes the "updates" section of BENCHMARKS.md (unless --no-write);
exits 1 when any kiosk was left without a working version.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_serve import free_port, get
from bench.report import write_section

DEADLINE_S = 1500  # the whole run (both parts); a stage past it stops the benchmark
WORKERS = 8  # kiosks updating at once
MAX_STARTS = 3


@dataclass
class SimKiosk:
    name: str
    top: Path
    fails: str = ""  # "" | "health" (fails its health check) | "crash" (never READY)


def build_catalog(tmp: Path) -> Path:
    """The 12-product demo shop of the tests (drawn products, enrolled shots), indexed."""
    from kiosk.demo.build import DEMO_PRODUCTS, build_demo
    from kiosk.services import open_demo_catalog, open_embedder
    from kiosk.settings import load_settings

    items = DEMO_PRODUCTS[:12]
    assets = build_demo(tmp / "demo", items, hold_s=1.2)
    embedder = open_embedder(load_settings())
    try:
        open_demo_catalog(assets, embedder).close()
    finally:
        embedder.close()
    return assets.root / "catalog.db"


def relabelled(db: Path, out: Path) -> Path:
    """The same catalog with one product renamed: the next release's content."""
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(db, out)
    con = sqlite3.connect(out)
    con.execute("UPDATE products SET name = name || ' (new label)' WHERE id = 1")
    con.commit()
    con.close()
    return out


def start_fleet_endpoint(db: Path, fleet_db: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "aislelens"), "serve", "--db", str(db)]
    cmd += ["--fleet-db", str(fleet_db), "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if get(port, "/healthz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the fleet endpoint did not start: {proc.stderr.read().decode()[-500:]}")


def clone_state(base: Path, top: Path) -> None:
    """A kiosk provisioned from the factory image: release files hard-linked, the rest copied."""
    shutil.copytree(base, top, symlinks=True, copy_function=os.link, ignore=_own_files)
    shutil.copytree(base / "tuf", top / "tuf")  # TUF rewrites these: each kiosk its own copy


def _own_files(folder: str, names: list[str]) -> set[str]:
    skip = {"tuf"} if Path(folder).name == "updates" or "versions" in names else set()
    return skip | {"state.json", "reports.jsonl"} & set(names)


def working(top: Path, bundle_id: str | None = None) -> int | None:
    """The release a kiosk starting now would run, if its catalog opens with the model."""
    from catalog import CatalogError, open_finder
    from kiosk.releases import UpdateState

    state = UpdateState(top)
    current = state.current
    if current is None:
        return None
    try:
        open_finder(state.catalog_db(), bundle_id=bundle_id).close()
    except (CatalogError, OSError):
        return None
    return current


def serve_repository(repo: Path, db: Path) -> tuple[Path, bytes, Any, str]:
    """A new release repository with ``db`` as release 1, served on 127.0.0.1: (its folder,
    its first root, the server, its URL)."""
    from catalog.publish import init_repository, publish_release
    from catalog.publish_server import make_server, serve_in_background

    init_repository(repo)
    publish_release(repo, db)
    root = (repo / "public/metadata/1.root.json").read_bytes()
    httpd = make_server(repo, "127.0.0.1", 0)
    serve_in_background(httpd)
    return repo, root, httpd, f"http://127.0.0.1:{httpd.server_port}/"


# -- part 1: the fleet ---------------------------------------------------------------------------
def fleet(args: argparse.Namespace, tmp: Path, db: Path, deadline: float) -> dict:
    from catalog.fleet import FleetLog
    from catalog.publish import PublishError, cohort, promote, publish_release
    from kiosk.releases import UpdateState, boot_check, confirm_ready
    from kiosk.services import open_embedder
    from kiosk.settings import load_settings
    from kiosk.updater import KioskUpdater, health_check, send_reports

    repo, root, httpd, url = serve_repository(tmp / "repo", db)
    fleet_db = tmp / "fleet.db"
    endpoint, port = start_fleet_endpoint(db, fleet_db)
    fleet_url = f"http://127.0.0.1:{port}/v1/fleet/report"
    embedder = open_embedder(load_settings())
    lock = threading.Lock()
    served = Counter[str]()

    def opener(_ref: str, _precision: str | None):
        return embedder

    def updater(k: SimKiosk) -> KioskUpdater:
        def health(folder: Path, release):  # type: ignore[no-untyped-def]
            ok, why = health_check(folder, release, opener)
            if ok and k.fails == "health" and release.version == 2:
                return False, "the camera pipeline failed on this kiosk's hardware (simulated)"
            return ok, why

        return KioskUpdater(
            UpdateState(k.top), url, root, kiosk_id=k.name, timeout_s=20, health=health
        )

    def run(kiosk: SimKiosk) -> str:
        """One timer run of a kiosk, then its starts until it is READY or has gone back."""
        outcome = updater(kiosk).check_once()
        state = UpdateState(kiosk.top)
        status = {"failed": "refused by health check"}.get(outcome.status, outcome.status)
        if outcome.status == "updated":
            for _start in range(MAX_STARTS + 1):
                if boot_check(state, MAX_STARTS, kiosk.name).status == "rolled-back":
                    status = "went back"
                    break
                if not (kiosk.fails == "crash" and state.current == 2):
                    confirm_ready(state, kiosk.name)
                    break
        send_reports(state, fleet_url)
        with lock:
            served[status] += 1
        return status

    def wave(kiosks: list[SimKiosk]) -> tuple[Counter[str], float]:
        served.clear()
        t0 = time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            for _ in pool.map(run, kiosks):
                if time.monotonic() > deadline:
                    raise SystemExit("past the deadline: stopped")
        return Counter(served), time.monotonic() - t0

    try:
        # the factory image: one kiosk installs release 1, the rest are copies of it
        print(f"provisioning {args.kiosks} kiosks on release 1 …", file=sys.stderr, flush=True)
        kiosks_dir = tmp / "kiosks"
        first = SimKiosk("kiosk-0000", kiosks_dir / "kiosk-0000")
        assert updater(first).check_once().status == "updated"
        confirm_ready(UpdateState(first.top), first.name)
        (first.top / "reports.jsonl").unlink(missing_ok=True)
        kiosks = [first]
        for i in range(1, args.kiosks):
            k = SimKiosk(f"kiosk-{i:04d}", kiosks_dir / f"kiosk-{i:04d}")
            clone_state(first.top, k.top)
            kiosks.append(k)
        # the failing ones: every n-th kiosk in cohort order, so each stage has its share
        by_cohort = sorted(kiosks, key=lambda k: cohort(k.name, "stable"))
        n_fail = round(args.kiosks * args.failing)
        step = len(by_cohort) / max(n_fail, 1)
        for j in range(n_fail):
            by_cohort[int(j * step + step / 2)].fails = "health" if j % 2 == 0 else "crash"

        figures: dict = {"kiosks": args.kiosks, "failing": n_fail}
        in_stage1 = [k for k in kiosks if cohort(k.name, "stable") < 10.0]
        figures["stage1_size"] = len(in_stage1)
        figures["stage1_failing"] = sum(1 for k in in_stage1 if k.fails)

        print("stage 1: release 2 to 10 % …", file=sys.stderr, flush=True)
        relabelled(db, tmp / "r2" / "catalog.db")
        publish_release(repo, tmp / "r2" / "catalog.db", rollout=10.0)
        figures["stage1"], figures["stage1_s"] = wave(kiosks)
        log = FleetLog(fleet_db)
        try:
            figures["stage1_reports"] = log.outcomes("stable", 2)
            try:
                promote(repo, "stable", 100.0, outcomes=log.outcomes, max_failure_rate=0.02)
                figures["halted"] = ""
            except PublishError as exc:
                figures["halted"] = str(exc)
            figures["after_halt"] = Counter(str(working(k.top, embedder.model_id)) for k in kiosks)

            print("stage 2: release 2 to 100 % (limit 5 %) …", file=sys.stderr, flush=True)
            if figures["halted"]:  # (a small fleet's first stage may hold no failing kiosk)
                promote(repo, "stable", 100.0, outcomes=log.outcomes, max_failure_rate=0.05)
            figures["stage2"], figures["stage2_s"] = wave(kiosks)
            figures["final_reports"] = log.outcomes("stable", 2)
            with sqlite3.connect(fleet_db) as con:
                figures["reports_kept"] = con.execute("SELECT count(*) FROM reports").fetchone()[0]
        finally:
            log.close()
        final = {k.name: working(k.top, embedder.model_id) for k in kiosks}
        figures["final"] = Counter(str(v) for v in final.values())
        figures["broken"] = [name for name, v in final.items() if v is None]
        wrong = [
            k.name for k in kiosks if final[k.name] != (1 if k.fails else 2)
        ]  # a failing kiosk must be back on 1, every other on 2
        figures["wrong_release"] = wrong
        figures["pending_reports"] = sum(
            len((k.top / "reports.jsonl").read_text().splitlines())
            for k in kiosks
            if (k.top / "reports.jsonl").exists()
        )
        served.clear()
        return figures
    finally:
        embedder.close()
        endpoint.send_signal(signal.SIGTERM)
        endpoint.wait(30)
        httpd.shutdown()
        httpd.server_close()


# -- part 2: power cuts ------------------------------------------------------------------------
def cuts(args: argparse.Namespace, tmp: Path, db: Path, deadline: float) -> dict:
    """Run in a process that never loaded the model (forked children load their own)."""
    from catalog.publish import publish_release
    from kiosk.releases import UpdateState, boot_check, confirm_ready
    from kiosk.updater import CRASH_ENV, STEPS, KioskUpdater

    repo, root, httpd, url = serve_repository(tmp / "cut-repo", db)

    def in_child(top: Path, crash_at: str | None) -> int:
        """``aislelens update --once``'s work in a forked process; its exit status (-9 when
        killed)."""
        pid = os.fork()
        if pid == 0:  # the child: the real updater, then _exit (no cleanup, no atexit)
            code = 3
            try:
                if crash_at:
                    os.environ[CRASH_ENV] = crash_at
                u = KioskUpdater(UpdateState(top), url, root, kiosk_id=top.name, timeout_s=20)
                code = 0 if u.check_once().status in ("updated", "up-to-date") else 4
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)

    try:
        base = tmp / "cut-base"
        assert in_child(base, None) == 0
        confirm_ready(UpdateState(base), base.name)
        relabelled(db, tmp / "cut-r2" / "catalog.db")
        publish_release(repo, tmp / "cut-r2" / "catalog.db")
        killed = Counter[str]()
        started: Counter[str] = Counter()
        finished = 0
        failures: list[str] = []
        t0 = time.monotonic()
        for i in range(args.cuts):
            if time.monotonic() > deadline:
                raise SystemExit("past the deadline: stopped")
            step = STEPS[i % len(STEPS)]
            top = tmp / "cut-kiosks" / f"k{i:03d}"
            clone_state(base, top)
            status = in_child(top, step)
            if status == -9:
                killed[step] += 1
            state = UpdateState(top)
            boot_check(state, MAX_STARTS, top.name)  # the kiosk starts after the power cut
            release = working(top)
            if release is None:
                failures.append(f"{top.name}: no working version after a cut at {step}")
            else:
                started[str(release)] += 1
                confirm_ready(state, top.name)
            if in_child(top, None) == 0 and state.current == 2:
                finished += 1
            else:
                failures.append(f"{top.name}: the run after a cut at {step} did not finish")
            shutil.rmtree(top)
        return {
            "cuts": args.cuts,
            "killed": killed,
            "started": started,
            "finished": finished,
            "failures": failures,
            "seconds": time.monotonic() - t0,
        }
    finally:
        httpd.shutdown()
        httpd.server_close()


def report(f: dict, c: dict) -> str:
    s1, s2 = f["stage1"], f["stage2"]
    ok1, failed1 = f["stage1_reports"]
    okf, failedf = f["final_reports"]
    lines = [
        f"**Fleet: {f['kiosks']:,} kiosks, {f['failing']} of them ({f['failing'] / f['kiosks']:.0%})"
        " unable to run release 2** (half fail the health check, half never become READY)",
        "",
        "| | kiosks | updated | back on release 1 | refused by health check | up to date | s |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| stage 1: release 2 to 10 % | {f['stage1_size']} in the cohort, "
        f"{f['stage1_failing']} failing | {s1['updated']} | {s1['went back']} | "
        f"{s1['refused by health check']} | {s1['up-to-date']} | {f['stage1_s']:.0f} |",
        f"| stage 2: release 2 to 100 % | {f['kiosks']:,} | {s2['updated']} | {s2['went back']} |"
        f" {s2['refused by health check']} | {s2['up-to-date']} | {f['stage2_s']:.0f} |",
        "",
        f"- Stage 1 reports at the fleet endpoint: {ok1} ok, {failed1} failed. "
        f"`promote` to 100 % with the default 2 % limit: "
        + (f"**refused** — “{f['halted']}”" if f["halted"] else "**not refused (wrong)**"),
        "- Kiosks' releases after the halt: "
        + ", ".join(f"release {k}: {v:,}" for k, v in sorted(f["after_halt"].items())),
        f"- Widened with `--max-failure-rate 0.05`; final reports: {okf:,} ok, {failedf} failed; "
        f"{f['reports_kept']:,} reports kept, {f['pending_reports']} still queued on kiosks.",
        "- At the end: "
        + ", ".join(f"release {k}: {v:,}" for k, v in sorted(f["final"].items()))
        + f"; **without a working version: {len(f['broken'])}**; on another release than "
        f"expected: {len(f['wrong_release'])}.",
        "",
        f"**Killed updates: {sum(c['killed'].values())} of {c['cuts']} updates killed with "
        f"SIGKILL** (a process kill, not a power cut), cycling through the updater's "
        f"{len(c['killed'])} steps (" + ", ".join(f"{k} {v}" for k, v in c["killed"].items()) + ")",
        "",
        "- After the kill, a kiosk starting would open (its catalog opens, a whole release): "
        + ", ".join(f"release {k}: {v}" for k, v in sorted(c["started"].items()))
        + f" — **{sum(c['started'].values())} of {c['cuts']} working**.",
        f"- The next update run finished the job on **{c['finished']} of {c['cuts']}** "
        f"({c['seconds']:.0f} s in all).",
    ]
    lines += [f"- failure: {x}" for x in c["failures"][:10]]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kiosks", type=int, default=1000)
    ap.add_argument("--failing", type=float, default=0.03)
    ap.add_argument("--cuts", type=int, default=200)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    deadline = time.monotonic() + DEADLINE_S
    with tempfile.TemporaryDirectory(prefix="bench-updates-") as tmp_name:
        tmp = Path(tmp_name)
        # the catalog is built (with the model) in a child, so that this process forks its
        # power-cut kiosks before it ever loads onnxruntime
        out = subprocess.run(
            [sys.executable, __file__, "--build-catalog", str(tmp)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise SystemExit(f"building the catalog failed: {out.stderr[-800:]}")
        db = Path(out.stdout.strip())
        print(f"killed updates: {args.cuts} …", file=sys.stderr, flush=True)
        c = cuts(args, tmp, db, deadline)
        f = fleet(args, tmp, db, deadline)
    text = report(f, c)
    print(text)
    if not args.no_write:
        cmd = "python bench/bench_updates.py"
        print(f"wrote {write_section('updates', 'Over-the-air updates', text, cmd)}")
    ok = not f["broken"] and not f["wrong_release"] and f["halted"] and not c["failures"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--build-catalog":
        print(build_catalog(Path(sys.argv[2])))
    else:
        main()
