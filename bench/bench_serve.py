"""Load test of ``aislelens serve`` on 127.0.0.1: throughput, latency, errors, memory.

    python bench/bench_serve.py [--requests 10000] [--clients 8] [--distinct 400] [--no-write]

On the kiosk's demo shop (28 drawn products; nothing from a data set): the real command in its
own process (2 model workers, a queue of 16), and ``--clients`` threads, each with one
keep-alive connection, posting JPEG photos to ``POST /v1/search?k=5`` until ``--requests``
answers came back (bounded: at most 15 minutes). The photos are the demo's catalog and
in-store images re-encoded at varying quality: ``--distinct`` different uploads, so the
service's result cache serves the repeats; its hit rate is read from ``/metrics``. Memory is
the service process's own (``VmRSS`` once ready, and ``VmRSS``/``VmHWM`` after the load).

Prints the figures and writes the "serve" section of BENCHMARKS.md (unless --no-write); exits
1 on any request that did not get a 200.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section

DEADLINE_S = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def uploads(images: list[Path], n: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = cv2.imread(str(images[i % len(images)]))
        quality = int(rng.integers(70, 96))
        out.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--distinct", type=int, default=400)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    from kiosk.demo.build import build_demo
    from kiosk.services import open_demo_catalog, open_embedder
    from kiosk.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        print("building the demo shop …", file=sys.stderr, flush=True)
        assets = build_demo(Path(tmp))
        embedder = open_embedder(load_settings())
        open_demo_catalog(assets, embedder).close()
        embedder.close()
        db = assets.root / "catalog.db"
        images = sorted((assets.root / "images").rglob("*.png")) + sorted(
            (assets.root / "images").rglob("*.jpg")
        )
        bodies = uploads(images, args.distinct)
        port = free_port()
        exe = Path(sys.executable).parent / "aislelens"
        server = subprocess.Popen(
            [str(exe), "serve", "--db", str(db), "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            figures = load(server, port, bodies, args)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(figures, indent=1))
    if not args.no_write:
        write_section("serve", "REST service load test (bench/bench_serve.py)", report(figures),
                      "python bench/bench_serve.py")  # fmt: skip
    if figures["errors"]:
        sys.exit(1)


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def load(server: subprocess.Popen, port: int, bodies: list[bytes], args) -> dict:
    t0 = time.monotonic()
    while True:
        try:
            if get(port, "/readyz")[0] == 200:
                break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() - t0 > 120:
            raise SystemExit(
                f"the service did not get ready: {server.stderr.read().decode()[-500:]}"
            )
        time.sleep(0.1)
    ready_s = time.monotonic() - t0
    before = proc_status(server.pid)
    # a warm-up: every distinct upload once is not the point; a few requests load the model
    for body in bodies[:4]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/search?k=5", body, {"Content-Type": "image/jpeg"})
        conn.getresponse().read()
        conn.close()

    lock = threading.Lock()
    counter = iter(range(args.requests))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.monotonic() + DEADLINE_S

    def client(seed: int) -> None:
        rng = np.random.default_rng(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.monotonic() < stop_at:
                with lock:
                    if next(counter, None) is None:
                        return
                body = bodies[int(rng.integers(len(bodies)))]
                t = time.perf_counter()
                try:
                    conn.request("POST", "/v1/search?k=5", body, {"Content-Type": "image/jpeg"})
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                except (OSError, http.client.HTTPException):
                    status = 0
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                dt = time.perf_counter() - t
                with lock:
                    latencies.append(dt)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    t_load = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_load
    after = proc_status(server.pid)
    metrics = get(port, "/metrics")[1].decode()

    def metric(name: str) -> float:
        for line in metrics.splitlines():
            if line.startswith(name):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    hits = metric('aislelens_cache_total{result="hit"}')
    misses = metric('aislelens_cache_total{result="miss"}')
    lat = np.array(latencies) * 1000
    done = len(latencies)
    return {
        "requests": done,
        "clients": args.clients,
        "distinct_uploads": len(bodies),
        "ok": statuses.get(200, 0),
        "errors": done - statuses.get(200, 0),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "wall_s": round(wall, 1),
        "throughput_rps": round(done / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p95_ms": round(float(np.percentile(lat, 95)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "cache_hit_rate": round(hits / max(1.0, hits + misses), 3),
        "inference_ms_mean": round(
            1000
            * metric("aislelens_inference_seconds_sum")
            / max(1.0, metric("aislelens_inference_seconds_count")),
            2,
        ),
        "ready_s": round(ready_s, 2),
        "rss_ready_mb": round(before["VmRSS"], 1),
        "rss_after_mb": round(after["VmRSS"], 1),
        "peak_rss_mb": round(after["VmHWM"], 1),
        "cpus": len(os.sched_getaffinity(0)),
    }


def report(f: dict) -> str:
    return f"""\
`aislelens serve` (2 model workers, queue 16) on the demo shop, {f["clients"]} concurrent
keep-alive clients posting JPEGs ({f["distinct_uploads"]} distinct uploads) to
`POST /v1/search?k=5`, all on 127.0.0.1, client and server sharing this machine's
{f["cpus"]} CPUs.

| requests | errors | throughput | p50 | p95 | p99 | cache hits | model time / image |
|---:|---:|---:|---:|---:|---:|---:|---:|
| {f["requests"]:,} | {f["errors"]} | {f["throughput_rps"]} req/s | {f["p50_ms"]} ms | {f["p95_ms"]} ms | {f["p99_ms"]} ms | {f["cache_hit_rate"]:.0%} | {f["inference_ms_mean"]} ms |

Service memory (its own process): {f["rss_ready_mb"]} MB once ready, {f["rss_after_mb"]} MB
after the load (peak {f["peak_rss_mb"]} MB). Ready {f["ready_s"]} s after start. Statuses:
{f["statuses"]}.
"""


if __name__ == "__main__":
    main()
