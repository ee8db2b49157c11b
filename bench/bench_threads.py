"""Should the model thread use the second core? One vs two ONNX Runtime intra-op threads.

The kiosk runs the model on one thread and leaves the other core to the GUI and the camera.
This measures, in one process and one after the other, the default bundle (int8) on a
224 × 224 input with the kiosk's cadence (a frame every ``--gap-ms`` while a shopper holds a
product) under four thread settings, each alone and then beside a stand-in for the GUI thread
(a Python thread doing fixed chunks of numpy work, as painting the preview does):

- latency p50 / p95 of one inference;
- CPU time per inference (all threads of the process, from ``time.process_time``);
- how much of the GUI stand-in's work got done beside it, against the one-thread run.

Usage: ``python bench/bench_threads.py [--runs 200] [--gap-ms 20]``; writes BENCHMARKS.md "threads".
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section

CONFIGS = {
    "1 thread (the kiosk's setting)": (1, {}),
    "2 threads, spinning (ORT's default)": (2, {}),
    "2 threads, no spinning": (2, {"session.intra_op.allow_spinning": "0"}),
    "2 threads, spinning stopped after each run": (2, {"session.force_spinning_stop": "1"}),
}


def session(
    model: Path, threads: int, config: dict[str, str], *, profile_prefix: str | None = None
):
    """An ONNX Runtime CPU session on ``threads`` intra-op threads with ``config`` entries;
    profiled into files starting with ``profile_prefix`` when given."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    for key, value in config.items():
        opts.add_session_config_entry(key, value)
    return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


def gui_stand_in(stop: threading.Event, done: list[int]) -> None:
    """Chunks of work like a preview repaint (a 640 × 480 frame scaled and blended)."""
    frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    while not stop.is_set():
        _ = (frame[::2, ::2].astype(np.float32) * 0.5).astype(np.uint8)
        done[0] += 1
        time.sleep(0.001)  # the event loop waits for the next event


def measure(model: Path, threads: int, config: dict[str, str], runs: int, gap_s: float, gui: bool):
    sess = session(model, threads, config)
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(1).random((1, 3, 224, 224), dtype=np.float32)
    for _ in range(10):
        sess.run(None, {name: x})
    stop, done = threading.Event(), [0]
    worker = threading.Thread(target=gui_stand_in, args=(stop, done), daemon=True)
    if gui:
        worker.start()
    times = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(gap_s)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stop.set()
    if gui:
        worker.join()
    return {
        "p50": float(np.percentile(times, 50)),
        "p95": float(np.percentile(times, 95)),
        "cpu_ms": cpu / runs * 1000,
        "gui_per_s": done[0] / wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--gap-ms", type=float, default=20.0)
    args = ap.parse_args()
    from models.bundle import resolve_bundle_path

    model = resolve_bundle_path() / "model.int8.onnx"
    results = {}
    for label, (threads, config) in CONFIGS.items():
        alone = measure(model, threads, config, args.runs, args.gap_ms / 1000, gui=False)
        beside = measure(model, threads, config, args.runs, args.gap_ms / 1000, gui=True)
        results[label] = (alone, beside)
        print(
            f"{label}: alone p50 {alone['p50']:.2f} p95 {alone['p95']:.2f} ms, CPU "
            f"{alone['cpu_ms']:.1f} ms/run; beside the GUI p50 {beside['p50']:.2f} p95 "
            f"{beside['p95']:.2f} ms, GUI work {beside['gui_per_s']:.0f}/s",
            flush=True,
        )
    base_gui = next(iter(results.values()))[1]["gui_per_s"]
    lines = [
        f"Model `{model.parent.name}` int8 on a 224 × 224 input, one inference every "
        f"{args.gap_ms:g} ms (the kiosk's cadence while scanning), {args.runs} runs per row, all "
        "rows in one process one after the other. *Beside the GUI*: with a Python thread doing "
        "fixed chunks of numpy work, as the preview's repaint does; its work done is shown "
        "against the one-thread row.",
        "",
        "| intra-op threads | alone p50 / p95 ms | CPU per inference ms | beside the GUI p50 / "
        "p95 ms | GUI work done |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, (alone, beside) in results.items():
        lines.append(
            f"| {label} | {alone['p50']:.2f} / {alone['p95']:.2f} | {alone['cpu_ms']:.1f} | "
            f"{beside['p50']:.2f} / {beside['p95']:.2f} | {beside['gui_per_s'] / base_gui:.0%} |"
        )
    lines += [
        "",
        "Two threads are faster only while ONNX Runtime's worker spins, and it spins between "
        "frames too: it then costs several times the CPU of one thread, taken from the GUI's "
        "core. Without spinning, or with spinning stopped after each run, waking the worker "
        "costs what the split saves, or more. Beside the GUI stand-in the rows differ by no "
        "more than this machine's noise. So there is no gain to take: the kiosk keeps one "
        "model thread on 2 cores (`recognition.headroom = 1` leaves one core to the GUI and "
        "camera).",
    ]
    path = write_section(
        "threads",
        "Model threads: one or two cores (bench/bench_threads.py)",
        "\n".join(lines),
        f"python bench/bench_threads.py --runs {args.runs} --gap-ms {args.gap_ms:g}",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
