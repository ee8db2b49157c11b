"""Latency of a bundle's precisions (and the PyTorch reference where installed)."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np

from ..bundle import Bundle
from ..engine import create_engine, usable_cpus


@dataclass
class BenchRow:
    runtime: str  # "onnxruntime" or "pytorch"
    precision: str
    batch: int
    threads: int
    p50_ms_per_image: float
    p95_ms_per_image: float
    file_mb: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def percentiles_ms(times: list[float], per: int) -> tuple[float, float]:
    ms = np.asarray(times) * 1000.0 / per
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def bench_bundle(
    bundle: Bundle,
    *,
    precisions: list[str] | None = None,
    batches: tuple[int, ...] = (1, 8),
    threads: tuple[int, ...] | None = None,
    repeats: int = 30,
    torch_reference: bool = True,
) -> list[BenchRow]:
    """Median and p95 latency per image for each precision × batch × thread count."""
    precisions = precisions or bundle.precisions
    threads = threads or tuple(sorted({1, min(2, usable_cpus())}))
    h, w = bundle.manifest.preprocess.input_size
    rng = np.random.default_rng(0)
    rows: list[BenchRow] = []
    for precision in precisions:
        path = bundle.model_path(precision)
        size_mb = path.stat().st_size / 1e6
        for t in threads:
            engine = create_engine(path, threads=t)
            for b in batches:
                x = rng.standard_normal((b, 3, h, w)).astype(np.float32)
                reps = max(5, repeats // b)
                p50, p95 = percentiles_ms(time_call(partial(engine.run, x), reps), b)
                rows.append(BenchRow("onnxruntime", precision, b, t, p50, p95, size_mb))
            engine.close()
    if torch_reference:
        rows += _bench_torch(bundle, batches, threads, repeats)
    return rows


def _bench_torch(
    bundle: Bundle, batches: tuple[int, ...], threads: tuple[int, ...], repeats: int
) -> list[BenchRow]:
    try:
        from .export import ExportError, bench_reference
    except ImportError:  # no export extra: no PyTorch reference
        return []
    try:
        timings = bench_reference(bundle, batches, threads, repeats)
    except ExportError:  # no reference model for this architecture
        return []
    return [
        BenchRow("pytorch", "fp32", b, t, *percentiles_ms(times, b), 0.0) for b, t, times in timings
    ]


def machine_line() -> str:
    return f"{platform.machine()}, {usable_cpus()} usable CPU(s), {platform.processor() or platform.system()}, Python {platform.python_version()}"


def format_table(rows: list[BenchRow]) -> str:
    """A plain-text table, with each row's p50 as a ratio of fp32 ONNX at the same batch/threads."""
    base = {
        (r.batch, r.threads): r.p50_ms_per_image
        for r in rows
        if r.runtime == "onnxruntime" and r.precision == "fp32"
    }
    lines = [
        f"{'runtime':<12}{'precision':<10}{'batch':>6}{'threads':>8}{'p50 ms/img':>12}{'p95 ms/img':>12}{'vs fp32':>9}{'file MB':>9}"
    ]
    for r in rows:
        ref = base.get((r.batch, r.threads))
        ratio = f"{r.p50_ms_per_image / ref:.2f}x" if ref else "-"
        size = f"{r.file_mb:.1f}" if r.file_mb else "-"
        lines.append(
            f"{r.runtime:<12}{r.precision:<10}{r.batch:>6}{r.threads:>8}{r.p50_ms_per_image:>12.2f}"
            f"{r.p95_ms_per_image:>12.2f}{ratio:>9}{size:>9}"
        )
    return "\n".join(lines)
