"""Model-layer benchmark: latency of fp32 vs int8 vs PyTorch eager, and file sizes.

    python bench/bench_models.py [--repeats 60] [--bundle NAME|PATH]

Prints a table and writes the "models" section of BENCHMARKS.md. Ratios are taken within one
run (same machine state), latencies are per image, medians (p50) and p95 over repeats after
warm-up.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section
from models import load_bundle
from models.tools.bench import bench_bundle, format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    bundle = load_bundle(args.bundle)
    rows = bench_bundle(bundle, batches=(1, 8), repeats=args.repeats)
    table = format_table(rows)
    print(table)

    def p50(runtime: str, precision: str, batch: int = 1, threads: int = 1) -> float:
        return next(
            r.p50_ms_per_image
            for r in rows
            if (r.runtime, r.precision, r.batch, r.threads) == (runtime, precision, batch, threads)
        )

    files = bundle.manifest.files
    lines = [
        f"Bundle `{bundle.name}` {bundle.manifest.version}.",
        "",
        f"- int8 file: {files['int8'].bytes / 1e6:.1f} MB = **{files['int8'].bytes / files['fp32'].bytes:.0%}** of fp32 ({files['fp32'].bytes / 1e6:.1f} MB)",
        f"- batch 1, 1 thread, p50: fp32 {p50('onnxruntime', 'fp32'):.2f} ms, int8 {p50('onnxruntime', 'int8'):.2f} ms "
        f"(**{p50('onnxruntime', 'int8') / p50('onnxruntime', 'fp32'):.2f}×** fp32)",
    ]
    if any(r.runtime == "pytorch" for r in rows):
        lines.append(
            f"- PyTorch eager fp32, batch 1, 1 thread: {p50('pytorch', 'fp32'):.2f} ms "
            f"(**{p50('pytorch', 'fp32') / p50('onnxruntime', 'fp32'):.2f}×** ONNX fp32, "
            f"{p50('pytorch', 'fp32') / p50('onnxruntime', 'int8'):.2f}× int8)"
        )
    verification = bundle.manifest.verification
    if "fp32" in verification and "int8" in verification:
        f, i = verification["fp32"], verification["int8"]
        lines.append(
            f"- Accuracy recorded by `models verify` ({f.get('dataset')}, {f.get('date')}): "
            f"fp32 R@1 {f['recall_at_1']:.3f} / R@5 {f['recall_at_5']:.3f}; int8 R@1 "
            f"{i['recall_at_1']:.3f} / R@5 {i['recall_at_5']:.3f}"
        )
    body = "\n".join(lines) + "\n\n```\n" + table + "\n```\n"
    path = write_section(
        "models",
        "Model inference (aislelens models bench)",
        body,
        f"python bench/bench_models.py --repeats {args.repeats}",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
