"""What an idle core costs a scan: the recognizer back to back against after a pause.

The kiosk's model thread waits between scans (a shopper taps, or a new product is held up),
and its core idles meanwhile. This runs the kiosk's recognizer alone, without the window, in
this one process: the default bundle (int8, one thread), the kiosk's default recognition
settings and a result cache of size 0 (as bench_kiosk's kiosk: every scan computes the frame's
signature and runs the model), frames of the demo video, on the benchmark's cached catalog of
``--products`` (``bench/bench_kiosk.py`` builds it). Blocks of scans alternate between

- *back to back*: each scan starts as soon as the last one returned;
- *after a pause*, one cadence per ``--gap-ms``: each scan starts that long after the last one
  returned (the core idle); 30 ms is bench_kiosk's cadence, 1 s auto mode's default interval,

and each stage's p50 / p95 is reported per cadence, pooled over the blocks. The difference
is what the machine does to a core that went idle (on a virtual machine the host may run
other work there, and caches and predictors come back cold); it is not the kiosk's work.

Usage: ``python bench/bench_idle.py [--products 10000] [--scans 40] [--blocks 3] [--gap-ms 30 1000]``;
writes BENCHMARKS.md "idle".
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import positive_int, write_section

STAGES = ("hash", "preprocess", "inference", "search", "lookup", "total")


def frames(video: Path, n: int) -> list[np.ndarray]:
    """The first ``n`` frames of ``video``, read by the kiosk's own replay camera."""
    from kiosk.sources import ReplaySource

    source = ReplaySource(video, fps=1000.0, loop=False)
    try:
        out: list[np.ndarray] = []
        while len(out) < n and (frame := source.read()) is not None:
            out.append(frame)
    finally:
        source.close()
    if not out:
        raise SystemExit(f"{video}: no frames could be read")
    return out


def idle_driver() -> str:
    """How this machine's CPUs idle, in words (Linux's cpuidle driver, where it has one)."""
    try:
        driver = Path("/sys/devices/system/cpu/cpuidle/current_driver").read_text().strip()
    except OSError:
        return "this machine's cpuidle driver is unknown"
    guest = ", a virtual machine's: the host decides what runs on an idle virtual CPU"
    return f"this machine's cpuidle driver is {driver}" + (guest if driver == "haltpoll" else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000, help="cached catalog size")
    parser.add_argument("--scans", type=positive_int, default=40, help="scans per block")
    parser.add_argument(
        "--blocks", type=positive_int, default=3, help="blocks per cadence, alternating"
    )
    parser.add_argument(
        "--gap-ms",
        type=float,
        nargs="+",
        default=[30.0, 1000.0],
        help="the pauses before each scan, one cadence each",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from bench.bench_kiosk import build_catalog
    from catalog import open_finder
    from kiosk.cache import ResultCache
    from kiosk.demo.build import build_demo
    from kiosk.recognizer import Recognizer
    from kiosk.settings import load_settings
    from models import ImageEmbedder

    demo = build_demo(load_settings().cache_dir)
    db = build_catalog(args.products, demo.products_file)
    embedder = ImageEmbedder.open(None, "int8", threads=1)
    finder = open_finder(db, bundle_id=embedder.model_id)
    kiosk = load_settings(cache={"size": 0})  # as bench_kiosk's kiosk: every scan runs the model
    # the kiosk always has a result cache: with none, the recognizer would skip the frame's
    # signature (the "hash" stage)
    cache = ResultCache(kiosk.cache.size, kiosk.cache.max_distance)
    recognizer = Recognizer(embedder, finder, kiosk.recognition, cache)
    shots = frames(demo.camera, args.scans)
    for frame in shots[:20]:  # warm-up: first-use costs of every stage
        recognizer.recognize(frame)
    cadences = {"back to back": 0.0}
    cadences.update({f"after a {g:g} ms pause": g / 1000 for g in args.gap_ms})
    timings: dict[str, dict[str, list[float]]] = {c: {s: [] for s in STAGES} for c in cadences}
    for block in range(args.blocks):
        for name, gap in cadences.items():
            for i in range(args.scans):
                if gap:
                    time.sleep(gap)
                rec = recognizer.recognize(shots[i % len(shots)])
                for stage in STAGES:
                    timings[name][stage].append(float(rec.timings_ms.get(stage, 0.0)))
        print(f"block {block + 1}/{args.blocks}", flush=True)
    finder.close()

    names = list(cadences)
    rows = [
        "| stage | " + " | ".join(f"{n}: p50 ms | p95 ms" for n in names) + " |",
        "| --- |" + " ---: | ---: |" * len(names),
    ]
    for stage in STAGES:
        cells = " | ".join(
            f"{np.percentile(timings[n][stage], 50):.2f} | {np.percentile(timings[n][stage], 95):.2f}"
            for n in names
        )
        rows.append(f"| {'**total**' if stage == 'total' else stage} | {cells} |")
    warm = float(np.percentile(timings[names[0]]["total"], 50))
    slower = ", ".join(
        f"{float(np.percentile(timings[n]['total'], 50)) / warm:.2f} times as long {n}"
        for n in names[1:]
    )
    body = f"""
The kiosk's recognizer alone (no window, no camera thread), {args.products:,} products, the
default bundle int8 on one thread, a result cache of size 0 as in `bench/bench_kiosk.py` (so
every scan computes the frame's signature, the "hash" stage, and runs the model);
{args.blocks} blocks of {args.scans} scans per cadence, alternating, pooled:

{chr(10).join(rows)}

The same scans take {slower} (p50 of the total) as back to back: the same code on the same
frames, so this is what the machine does to a core that idled, not the kiosk's work;
{idle_driver()}. `bench/bench_kiosk.py` starts each scan 30 ms after the last one's results;
a shopper's taps, and auto mode's scans (one a second at most), are further apart. Not
measured on a Raspberry Pi.
"""
    print(body)
    if not args.no_write:
        cmd = "python bench/bench_idle.py"
        for flag, value, default in (
            ("--products", args.products, 10_000),
            ("--scans", args.scans, 40),
            ("--blocks", args.blocks, 3),
        ):
            cmd += "" if value == default else f" {flag} {value:g}"
        if args.gap_ms != [30.0, 1000.0]:
            cmd += " --gap-ms " + " ".join(f"{g:g}" for g in args.gap_ms)
        print(write_section("idle", "Scans after an idle core", body, cmd))


if __name__ == "__main__":
    main()
