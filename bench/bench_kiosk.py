"""Kiosk benchmark: end-to-end recognition latency, throughput, memory and start-up time.

    python bench/bench_kiosk.py [--sizes 10000 100000] [--scans 300] [--seconds 15] [--repeats 3]
                                [--no-shipped]

1. Catalogs of 10k and 100k products, built once under ``.cache/aislelens-bench/`` through the
   catalog's public API (import + index): the 28 drawn demo products with their real images,
   embedded by the real int8 default bundle, plus filler products. A filler's image is a small
   solid-colour PNG whose colour encodes its number; the indexer's engine is wrapped so that
   such images get a synthetic embedding shaped like real ones (bench/synthetic.py) instead of
   a model run, which would take hours at 100k. The catalog's vector index, SQLite rows and
   thumbnails are real.
2. Each measurement runs the real kiosk window (offscreen Qt) in a fresh process: the replay
   camera plays the demo video, recognition runs on the kiosk's one-thread pool, and:
   - end-to-end latency = from handing the camera's latest frame to recognition until the
     results are drawn: the results panel filled by the kiosk's own slot, the events posted
     to its widgets sent, and the panel painted (offscreen), p50/p95; with the recognizer's own breakdown (hash, preprocess, inference,
     search, lookup), the time the results reached the GUI thread, the drawing, and each
     scan's end to end less its inference (about what a model taking no time would leave); cache
     off, so every scan runs the model; as many scans at every catalog size;
   - recognitions per second, sustained (each scan submitted as soon as the last finished),
     with the camera and preview running; the longest GUI-thread stall meanwhile;
   - the process's peak RSS;
   and the kiosk's own peak memory: ``aislelens kiosk --run-for 4`` in a process of its own
   on that catalog, its ``VmHWM`` read from /proc while it starts and scans.
3. Start-up: ``aislelens kiosk --exit-when-ready`` on each catalog, time to first frame and
   to ready (model + catalog loaded), measured inside the command and from process spawn.
4. Memory and start-up are measured twice: with this venv's ``aislelens`` and with the wheels
   the .deb ships (``packaging/lock/``, installed once into a venv under the cache, with this
   checkout on top), unless ``--no-shipped``. The kiosk's memory is reported split into
   anonymous and file-backed pages: the latter (libraries' code) varies with the page cache.

Writes the "kiosk" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_section  # noqa: E402

CACHE = REPO / ".cache" / "aislelens-bench"


# -- building the catalogs ------------------------------------------------------------------------
class FillerAwareEngine:
    """Runs the real model, except on solid-colour filler images: those get a synthetic
    embedding for the product number their colour encodes."""

    def __init__(self, real, spec, world) -> None:
        self.real = real
        self.description = real.description
        self._std = np.asarray(spec.std, np.float32)[:, None, None]
        self._mean = np.asarray(spec.mean, np.float32)[:, None, None]
        self.world = world
        self.synthetic = 0

    def run(self, batch: np.ndarray) -> np.ndarray:
        out = []
        for x in batch:
            if float(x.std(axis=(1, 2)).max()) < 1e-4:
                rgb = np.rint(255 * (x[:, 0, 0] * self._std[:, 0, 0] + self._mean[:, 0, 0]))
                number = (int(rgb[0]) << 16) | (int(rgb[1]) << 8) | int(rgb[2])
                out.append(
                    self.world.images(np.array([number % len(self.world.products)]), seed=number)[0]
                )
                self.synthetic += 1
            else:
                out.append(self.real.run(x[None])[0])
        return np.stack(out).astype(np.float32)

    def close(self) -> None:
        self.real.close()


def build_catalog(n: int, demo_products: Path) -> Path:
    """``n`` products (the demo's, with their enrolled shots, plus fillers) imported and
    indexed, with the store adaptation (synthetic views for a sample of 200 products); cached."""
    from bench.synthetic import EmbeddingModel
    from catalog import (
        CatalogSettings,
        enroll_images,
        import_products,
        index_catalog,
        read_enroll_file,
    )
    from kiosk.services import open_embedder
    from kiosk.settings import load_settings
    from models.embedder import planned_model_id

    recognition = load_settings().recognition
    # one cached catalog per model: a re-quantized bundle makes other vectors
    model_id = planned_model_id(recognition.bundle, recognition.precision)
    name = f"catalog-v3-{n}-{model_id.rsplit(':', 1)[-1]}"
    db = CACHE / f"{name}.db"
    if (CACHE / f"{name}.done").exists():
        from catalog.db import open_catalog

        open_catalog(db).close()  # brings a cached catalog to this code's schema, as staff's do
        return db
    folder = CACHE / f"fillers-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    fillers = n - len(json.loads(demo_products.read_text()))
    rows = []
    t0 = time.perf_counter()
    for i in range(1, fillers + 1):
        path = folder / f"{i:06d}.png"
        if not path.exists():
            rgb = ((i >> 16) & 255, (i >> 8) & 255, i & 255)
            cv2.imwrite(str(path), np.full((32, 32, 3), rgb[::-1], np.uint8))
        rows.append(
            {
                "sku": f"F{i:06d}",
                "name": f"Filler product {i}",
                "price": "1.00",
                "category": f"Aisle {i % 40:02d}",
                "aisle": f"Aisle {i % 40}",
                "image": str(path),
            }
        )
    csv_path = CACHE / f"fillers-{n}.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"  {fillers} filler images written in {time.perf_counter() - t0:.0f} s", flush=True)
    for path in (db, db.with_name(db.name + ".hnsw"), db.with_name(db.name + ".hnsw.json")):
        path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    import_products(db, demo_products)
    enroll_images(db, read_enroll_file(demo_products.with_name("enroll.csv"))[0])
    import_products(db, csv_path)
    print(f"  imported in {time.perf_counter() - t0:.0f} s", flush=True)
    embedder = open_embedder(load_settings(recognition={"headroom": 0}))
    embedder.engine = FillerAwareEngine(
        embedder.engine,
        embedder.bundle.manifest.preprocess,
        EmbeddingModel(embedder.dim, products=max(n, 1000)),
    )
    t0 = time.perf_counter()
    report = index_catalog(db, embedder, settings=CatalogSettings(adapt_view_products=200))
    embedder.close()
    print(f"  indexed {report.embedded} images in {time.perf_counter() - t0:.0f} s", flush=True)
    (CACHE / f"{name}.done").write_text("ok")
    return db


# -- the kiosk as the package ships it ---------------------------------------------------------
SHIPPED = ("PySide6-Essentials", "onnxruntime", "opencv-python-headless", "numpy", "hnswlib")


def shipped_venv() -> Path:
    """A virtual environment with the wheels the .deb ships (packaging/lock/, this machine's
    architecture) and this checkout on top, built once under the cache: its ``aislelens``."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    lock = REPO / "packaging" / "lock" / f"bookworm-{arch}.txt"
    venv = CACHE / f"shipped-{arch}"
    if sys.version_info[:2] != (3, 11):
        raise SystemExit(
            f"the lock ({lock.name}) is for Python 3.11, the .deb's; this is "
            f"{sys.version.split()[0]}: run with Python 3.11 or pass --no-shipped"
        )
    stamp = venv / f".lock-{hashlib.sha256(lock.read_bytes()).hexdigest()[:12]}"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "-r", str(lock)], check=True)
        subprocess.run([*pip, "--no-deps", "-e", str(REPO)], check=True)
        stamp.touch()
    return venv / "bin" / "aislelens"


def versions(python: Path) -> str:
    """The versions of the packages that weigh on memory and speed, in ``python``'s venv."""
    code = (
        "import importlib.metadata as m, json, sys; "
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    out = subprocess.run(
        [str(python), "-c", code, *SHIPPED], capture_output=True, text=True, check=True
    )
    return ", ".join(f"{n} {v}" for n, v in json.loads(out.stdout).items())


# -- one measurement, in its own process ----------------------------------------------------------
def child(db: Path, camera: Path, scans: int, seconds: float) -> dict:
    """Run the kiosk window on ``db`` with the replay ``camera``; return the figures."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    from kiosk.settings import load_settings
    from kiosk.sources import open_source
    from kiosk.testing import FixedBackend
    from kiosk.ui.main_window import KioskWindow

    _app = QApplication.instance() or QApplication([])  # kept alive for the whole run
    tmp = CACHE / "run"
    settings = load_settings(
        data_dir=tmp,
        ui={"fullscreen": False},
        recognition={"auto_mode": False},
        cache={"size": 0},
        thermal={"sysfs_root": tmp / "no-sensors"},
    )
    window = KioskWindow(
        settings, FixedBackend(settings, lambda: open_source(str(camera), fps=30, loop=True), db)
    )
    window.start()
    window.resize(1280, 800)
    c = window.controller

    def wait_until(cond, timeout: float = 30.0, signal=None) -> None:
        """Run the event loop until ``cond()``: checked when ``signal`` fires, or else every
        millisecond (polling costs the GUI thread, and so the model's thread the interpreter
        lock, 1000 wake-ups a second: not while scans are timed)."""
        loop = QEventLoop()
        timer = QTimer()

        def check(*_args) -> None:
            if cond():
                loop.quit()

        if signal is not None:
            signal.connect(check)
        else:
            timer.timeout.connect(check)
            timer.start(1)
        QTimer.singleShot(int(timeout * 1000), loop.quit)
        if not cond():
            loop.exec()
        timer.stop()
        if signal is not None:
            signal.disconnect(check)
        if not cond():
            raise TimeoutError("kiosk did not get there in time")

    def pause(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    wait_until(lambda: c.services is not None and c.last_frame is not None)
    runner = c.runner
    recs: list = []
    latencies: list[float] = []  # frame handed over → results drawn
    arrived: list[float] = []  # frame handed over → results on the GUI thread
    unshown: list[str] = []  # cards not shown when timed as drawn (must stay empty)
    panel = window.scan.panel

    def record(rec, frame_time: float) -> None:  # every scan's (the runner keeps its last 200)
        # The kiosk's own slots ran first (connected before this one): the runner noted when
        # the results reached the GUI thread, and the results panel has been filled. What the
        # event loop would do next for the panel, done here so it is timed: the events posted
        # to its widgets (a card added to a shown panel is shown by a queued call; cards'
        # layouts are redone on posted requests, which post their parents' in turn), then the
        # panel painted (into the offscreen window's backing store).
        arrived.append(runner.latencies_ms[-1])
        for widget in panel.findChildren(QWidget):  # queued shows of widgets just added
            QCoreApplication.sendPostedEvents(widget, QEvent.Type.MetaCall)
        for _ in range(3):  # card layouts, then the panel's: each pass settles one level
            QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        panel.repaint()
        latencies.append((time.monotonic() - frame_time) * 1000)
        recs.append(rec)
        # an exception in a slot is only printed: note it, and fail after the scans
        unshown.extend(c.product.sku for c in panel.cards if not c.isVisible())

    runner.finished.connect(record)
    pause(500)
    recs.clear()
    latencies.clear()
    arrived.clear()
    c.stall.reset()
    single_fps = []
    for i in range(scans):  # one scan at a time, like taps
        pause(30)
        runner.submit(c.last_frame.image, time.monotonic())
        wait_until(lambda: not runner.busy, signal=runner.busyChanged)
        if i % 10 == 9:
            single_fps.append(window.scan.preview.display_fps(live=True))
    runner.finished.disconnect(record)
    if unshown:
        raise SystemExit(f"{len(unshown)} result card(s) not shown when timed as drawn")
    single_stall = c.stall.max_stall_busy_ms
    scanned = len(recs)
    parts = {
        k: [r.timings_ms.get(k, 0.0) for r in recs]
        for k in ("hash", "preprocess", "inference", "search", "lookup", "total")
    }
    parts["arrived"] = arrived
    parts["draw"] = [d - a for d, a in zip(latencies, arrived, strict=True)]
    # what a scan costs besides the model: the floor any model, however cheap, would leave
    parts["besides"] = [d - i for d, i in zip(latencies, parts["inference"], strict=True)]

    # sustained: the next scan as soon as the last one finished, camera and preview running
    c.stall.reset()
    done = [0]

    def again(_rec, _t) -> None:
        done[0] += 1
        if c.last_frame is not None:
            runner.submit(c.last_frame.image, time.monotonic())

    runner.finished.connect(again)
    t0 = time.perf_counter()
    runner.submit(c.last_frame.image, time.monotonic())
    fps_samples = []
    while time.perf_counter() - t0 < seconds:
        pause(500)
        fps_samples.append(
            (window.scan.preview.display_fps(live=True), c.camera.loop.measured_fps())
        )
    elapsed = time.perf_counter() - t0
    runner.finished.disconnect(again)
    wait_until(lambda: not runner.busy)
    stall = c.stall.max_stall_busy_ms
    window.staff_exit()
    return {
        "latency_ms": latencies,
        "parts_ms": parts,
        "scans": scanned,
        "rec_per_s": done[0] / elapsed,
        "stall_ms": stall,
        "single_stall_ms": single_stall,
        "single_display_fps": statistics.median(single_fps) if single_fps else 0.0,
        "display_fps": statistics.median(f for f, _ in fps_samples),
        "camera_fps": statistics.median(f for _, f in fps_samples),
        # VmHWM, not ru_maxrss: Linux carries the parent's peak across fork and exec, and the
        # parent may just have built a 100k-product catalog
        "peak_rss_mb": _status_kb(Path("/proc/self/status"))["VmHWM"] / 1024,
    }


def _status_kb(status: Path) -> dict[str, int]:
    """The kB figures (VmHWM, VmRSS, RssAnon, …) of a process's /proc status file."""
    return {
        key: int(value.split()[0])
        for key, value in (line.split(":", 1) for line in status.read_text().splitlines())
        if value.strip().endswith("kB")
    }


def _cpu_busy_s() -> float:
    """CPU seconds all processes on the machine spent busy so far (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(v) for v in fields]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_child(db: Path, camera: Path, scans: int, seconds: float) -> dict:
    """One measurement in a fresh process, with the share of the CPUs other processes took."""
    own_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy_before, t0 = _cpu_busy_s(), time.monotonic()
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(db),
        "--camera",
        str(camera),
        "--scans",
        str(scans),
        "--seconds",
        str(seconds),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=1800)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    own_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (own_after.ru_utime - own_before.ru_utime) + (own_after.ru_stime - own_before.ru_stime)
    elapsed = time.monotonic() - t0
    others = max(0.0, _cpu_busy_s() - busy_before - own) / (elapsed * (os.cpu_count() or 1))
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "others_cpu": others}


def startup(db: Path, camera: Path, exe: Path, runs: int = 5) -> list[dict]:
    """``exe kiosk --exit-when-ready``: internal times and wall clock from spawn."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(CACHE / "run-data"),
        "AISLELENS_THERMAL__SYSFS_ROOT": str(CACHE / "no-sensors"),
    }
    results = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run(
            [
                str(exe),
                "kiosk",
                "--windowed",
                "--catalog",
                str(db),
                "--camera",
                str(camera),
                "--exit-when-ready",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        wall = time.perf_counter() - t0
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        times = json.loads(out.stdout.strip().splitlines()[-1])
        results.append({**times, "wall_s": wall})
    return results


def kiosk_memory(db: Path, camera: Path, exe: Path, seconds: float = 4.0) -> dict:
    """Peak memory of the kiosk itself: ``exe kiosk`` (``aislelens``) in its own process,
    scanning for ``seconds`` once ready; its ``VmHWM`` read from /proc until it exits."""
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(CACHE / "run-data"),
        "AISLELENS_THERMAL__SYSFS_ROOT": str(CACHE / "no-sensors"),
    }
    cmd = [str(exe), "kiosk", "--windowed", "--catalog", str(db), "--camera", str(camera)]
    proc = subprocess.Popen(
        [*cmd, "--run-for", str(seconds)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    hwm_kb = 0
    split = {"RssAnon": 0, "RssFile": 0}  # at the largest VmRSS sampled
    top_rss = 0
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            kb = _status_kb(Path(f"/proc/{proc.pid}/status"))
        except OSError:
            break
        hwm_kb = max(hwm_kb, kb.get("VmHWM", 0))
        if kb.get("VmRSS", 0) > top_rss:
            top_rss = kb["VmRSS"]
            split = {k: kb.get(k, 0) for k in split}
        time.sleep(0.05)
    out, _ = proc.communicate(timeout=60)
    if proc.returncode:
        raise SystemExit(f"the kiosk exited with {proc.returncode}")
    scans = json.loads(out.strip().splitlines()[-1])["scans"]
    return {
        "vm_hwm_mb": hwm_kb / 1024,
        "anon_mb": split["RssAnon"] / 1024,
        "file_mb": split["RssFile"] / 1024,
        "scans": scans,
    }


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--scans", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument(
        "--repeats", type=int, default=3, help="latency runs per catalog, alternating (3)"
    )
    ap.add_argument(
        "--no-shipped",
        action="store_true",
        help="measure the kiosk's memory and start-up only in this venv, not also with the "
        "wheels the package ships",
    )
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--camera", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.child:
        print(json.dumps(child(args.child, args.camera, args.scans, args.seconds)))
        return

    from kiosk.demo.build import build_demo
    from kiosk.settings import load_settings

    CACHE.mkdir(parents=True, exist_ok=True)
    print("demo shop (replay camera and products)…", flush=True)
    demo = build_demo(load_settings().cache_dir)
    kiosks = {"this venv": Path(sys.executable).parent / "aislelens"}
    if not args.no_shipped:
        print("the wheels the package ships (packaging/lock/), in a venv of their own…", flush=True)
        kiosks = {"as shipped": shipped_venv(), **kiosks}
    packages = {k: versions(v.with_name("python")) for k, v in kiosks.items()}  # fails early
    dbs = {}
    for n in args.sizes:
        print(f"catalog of {n} products…", flush=True)
        dbs[n] = build_catalog(n, demo.products_file)
    measured: dict[int, list[dict]] = {n: [] for n in args.sizes}
    for r in range(args.repeats):  # the sizes alternate, so a slow spell hits them alike
        for n, db in dbs.items():
            print(f"measuring with {n} products (run {r + 1} of {args.repeats})…", flush=True)
            # as many scans at every size: a p95 compared between sizes rests on as many
            measured[n].append(run_child(db, demo.camera, args.scans, args.seconds))
    runs = {n: merged(m) for n, m in measured.items()}
    for n, db in dbs.items():
        for label, exe in kiosks.items():
            print(f"the kiosk's own memory with {n} products ({label})…", flush=True)
            runs[n].setdefault("kiosk", {})[label] = kiosk_memory(db, demo.camera, exe)
            print(f"start-up with {n} products ({label})…", flush=True)
            runs[n].setdefault("starts", {})[label] = startup(db, demo.camera, exe)
    first = min(args.sizes)
    body = report(runs, first, packages)
    print(body)
    cmd = "python bench/bench_kiosk.py" + (
        "" if args.sizes == [10_000, 100_000] else " --sizes " + " ".join(map(str, args.sizes))
    )
    cmd += "" if args.scans == 300 else f" --scans {args.scans}"
    cmd += "" if args.seconds == 15.0 else f" --seconds {args.seconds:g}"
    cmd += "" if args.repeats == 3 else f" --repeats {args.repeats}"
    cmd += " --no-shipped" if args.no_shipped else ""
    write_section("kiosk", "Kiosk: recognition latency, throughput, memory, start-up", body, cmd)


def merged(runs: list[dict]) -> dict:
    """The runs of one catalog as one: every scan's figures pooled, each run's p50 / p95 kept,
    the worst stall, the median rates."""
    return {
        "latency_ms": [x for r in runs for x in r["latency_ms"]],
        "per_run": [(pct(r["latency_ms"], 50), pct(r["latency_ms"], 95)) for r in runs],
        "parts_ms": {k: [x for r in runs for x in r["parts_ms"][k]] for k in runs[0]["parts_ms"]},
        "scans": sum(r["scans"] for r in runs),
        "rec_per_s": statistics.median(r["rec_per_s"] for r in runs),
        "stall_ms": max(r["stall_ms"] for r in runs),
        "single_stall_ms": max(r["single_stall_ms"] for r in runs),
        "single_display_fps": statistics.median(r["single_display_fps"] for r in runs),
        "display_fps": statistics.median(r["display_fps"] for r in runs),
        "camera_fps": statistics.median(r["camera_fps"] for r in runs),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "others_cpu": max(r["others_cpu"] for r in runs),
    }


def report(runs: dict[int, dict], first: int, packages: dict[str, str]) -> str:
    r = runs[first]
    sizes = sorted(runs)
    rows = [
        "| stage | " + " | ".join(f"{n:,}: p50 ms | p95 ms" for n in sizes) + " |",
        "| --- |" + " --- | --- |" * len(sizes),
        *[
            f"| {k} | "
            + " | ".join(
                f"{pct(runs[n]['parts_ms'][k], 50):.2f} | {pct(runs[n]['parts_ms'][k], 95):.2f}"
                for n in sizes
            )
            + " |"
            for k in ("hash", "preprocess", "inference", "search", "lookup", "total")
        ],
        "| results on the GUI thread (frame handed over → the kiosk's slot) | "
        + " | ".join(
            f"{pct(runs[n]['parts_ms']['arrived'], 50):.2f} | "
            f"{pct(runs[n]['parts_ms']['arrived'], 95):.2f}"
            for n in sizes
        )
        + " |",
        "| draw (results panel filled, laid out and painted) | "
        + " | ".join(
            f"{pct(runs[n]['parts_ms']['draw'], 50):.2f} | {pct(runs[n]['parts_ms']['draw'], 95):.2f}"
            for n in sizes
        )
        + " |",
        "| **end to end** (frame handed over → results painted, offscreen) | "
        + " | ".join(
            f"**{pct(runs[n]['latency_ms'], 50):.1f}** | **{pct(runs[n]['latency_ms'], 95):.1f}**"
            for n in sizes
        )
        + " |",
        "| end to end less the scan's own inference (every stage but the model) | "
        + " | ".join(
            f"{pct(runs[n]['parts_ms']['besides'], 50):.2f} | "
            f"{pct(runs[n]['parts_ms']['besides'], 95):.2f}"
            for n in sizes
        )
        + " |",
    ]
    per_run = "; ".join(
        f"{n:,}: " + ", ".join(f"{a:.1f} / {b:.1f}" for a, b in runs[n]["per_run"]) for n in sizes
    )
    counts = {runs[n]["scans"] for n in sizes}
    scan_counts = (
        f"{counts.pop()} scans"
        if len(counts) == 1
        else ", ".join(f"{n:,}: {runs[n]['scans']}" for n in sizes) + " scans"
    )
    labels = list(packages)

    def memory(m: dict) -> str:
        scans = f"{m['scans']} scan{'' if m['scans'] == 1 else 's'}"
        return (
            f"{m['vm_hwm_mb']:.0f} MB (after {scans}; {m['anon_mb']:.0f} anonymous + "
            f"{m['file_mb']:.0f} file-backed)"
        )

    mem = "\n".join(
        f"| {n:,} | "
        + " | ".join(
            f"**{memory(v['kiosk'][k])}**" if i == 0 else memory(v["kiosk"][k])
            for i, k in enumerate(labels)
        )
        + f" | {v['peak_rss_mb']:.0f} MB | {pct(v['latency_ms'], 50):.1f} / "
        f"{pct(v['latency_ms'], 95):.1f} ms | {v['rec_per_s']:.1f} |"
        for n, v in sorted(runs.items())
    )
    starts = "\n".join(
        f"| {n:,} | {k} | "
        f"{statistics.median(s['first_frame_s'] for s in v['starts'][k]):.2f} s | "
        f"{'**' if i == 0 else ''}"
        f"{statistics.median(s['ready_s'] for s in v['starts'][k]):.2f} s{'**' if i == 0 else ''} | "
        f"{statistics.median(s['wall_s'] for s in v['starts'][k]):.2f} s |"
        for n, v in sorted(runs.items())
        for i, k in enumerate(labels)
    )
    mem_head = " | ".join(f"kiosk peak memory, {k}" for k in labels)
    about = {
        "as shipped": "the wheels the .deb ships (packaging/lock/, which pin the Qt that "
        "installs on Debian 12)",
        "this venv": "the environment that ran the benchmark",
    }
    venvs = "\n".join(f"- *{k}*, {about.get(k, k)}: {v}" for k, v in packages.items())
    n_starts = len(r["starts"][labels[0]])
    others = max(v["others_cpu"] for v in runs.values())
    busy = " (the figures are upper bounds)" if others > 0.1 else ""
    return f"""
Other processes used {others:.0%} of the machine's CPU time during the measurements{busy}.

Replay camera: the demo video (640 × 480, 30 fps); model: the default bundle, int8, one
intra-op thread (a core of headroom for the GUI and camera); recognition cache off. Each
catalog: {scan_counts} one at a time, in {len(r["per_run"])} runs (fresh processes, the
catalog sizes alternating), pooled.

{chr(10).join(rows)}

End to end p50 / p95 of each run: {per_run} ms. Each scan starts 30 ms after the last one's
results arrived (the model's core idle meanwhile; a shopper's taps are further apart: see
"Scans after an idle core"). The stages from hash to
lookup are the recognizer's own, on the model's thread (total: all of them); "results on the
GUI thread" is what the issue's first figures (and the benchmark until 2026-12-07) called end
to end; "draw" is the GUI thread's work after that until the results panel is painted into
the offscreen window's backing store (no display, no compositor): the kiosk's slot fills it,
then the benchmark's slot sends the events posted to its widgets (queued shows, layout
requests) and repaints it, so that work is timed; the benchmark checks that every result card
is shown by then. The last row is each scan's end to end less that scan's inference: what the
scan would still cost, about, with a model that took no time at all.

With {first:,} products, while scanning one frame at a time the preview showed {r["single_display_fps"]:.0f} fps and the
longest GUI-thread stall during a recognition was **{r["single_stall_ms"]:.0f} ms**.

Sustained with {first:,} products: **{r["rec_per_s"]:.1f} recognitions/s** (each submitted as soon as the last
finished) while the preview showed {r["display_fps"]:.0f} fps and the camera delivered
{r["camera_fps"]:.0f} fps; longest GUI-thread stall during recognition
**{r["stall_ms"]:.0f} ms**.

Kiosk peak memory is `aislelens kiosk`'s own VmHWM after scanning, measured in
{"these environments" if len(labels) > 1 else "this environment"} (latency, throughput and the
child's RSS in *this venv* only):
{venvs}

In brackets, the split of the largest resident size sampled: *anonymous* is the kiosk's own
memory (heap, model arena, index, Qt's buffers); *file-backed* is mostly the shared libraries'
code (OpenCV, ONNX Runtime, Qt), and how much of it counts depends on the kernel's page cache:
on 2026-12-04 the same kiosk on the same catalog measured 48 MB more for half an hour after its
venv was installed than later, all of it file-backed (OpenCV's library 43 MB resident instead
of 12; the page cache then held large folios of files), so compare the anonymous part.

| products | {mem_head} | benchmark child's peak RSS | latency p50 / p95 | recognitions/s |
| --- | {" | ".join("---" for _ in labels)} | --- | --- | --- |
{mem}

Start-up (`aislelens kiosk --exit-when-ready`, median of {n_starts}; first frame and ready are
timed from the command's start, after the interpreter; the last column from spawn to exit):

| products | environment | first frame | ready (model and catalog loaded) | spawn to exit |
| --- | --- | --- | --- | --- |
{starts}

Targets on this 2-core machine (issue 14): frame → results on screen p95 ≤ 10 ms at 10k
products (bar ≤ 13 ms), 100k within 1 ms of 10k (here read at p95), kiosk peak memory ≤ 300 MB
at 100k, ready ≤ 1 s at 100k. The issue's own figures (14.9 / 19.0 ms) were timed to the
results on the GUI thread, before they were drawn: compare them with that row.
"""


if __name__ == "__main__":
    main()
