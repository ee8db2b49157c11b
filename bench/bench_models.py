"""Model-layer benchmark: latency of fp32 vs int8 vs PyTorch eager, and file sizes.

    python bench/bench_models.py [--repeats 60] [--bundle NAME|PATH]

Prints a table and writes the "models" section of BENCHMARKS.md. Ratios are taken within one
run (same machine state), latencies are per image, medians (p50) and p95 over repeats after
warm-up. The int8 model (its convolution over the input image kept in fp32, as `aislelens models
quantize` makes it) is also timed against an all-int8 one quantized from the same fp32 model,
the two alternating run by run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section
from models import load_bundle
from models.tools.bench import bench_bundle, format_table
from models.tools.quantize import IMAGE_CONVS_FP32


def stem_comparison(bundle, runs: int) -> tuple[float, float]:
    """p50 ms of the bundle's int8 model and of an all-int8 one, alternating, batch 1, 1 thread."""
    from models.engine_ort import OrtEngine
    from models.preprocess import Preprocessor
    from models.tools.calibration import calibration_images
    from models.tools.quantize import quantize_static_int8

    with tempfile.TemporaryDirectory(prefix="aislelens-bench-") as tmp:
        all_int8 = Path(tmp) / "all-int8.onnx"
        quantize_static_int8(
            bundle.model_path("fp32"),
            all_int8,
            calibration_images(None),
            Preprocessor(bundle.manifest.preprocess),
            input_name=bundle.manifest.input_name,
            image_convs_fp32=False,
        )
        engines = [OrtEngine(bundle.model_path("int8")), OrtEngine(all_int8)]
        x = np.random.default_rng(0).random((1, 3, *bundle.manifest.preprocess.input_size))
        x = x.astype(np.float32) * 2 - 1
        times: list[list[float]] = [[], []]
        for i in range(2 * runs):
            engine = engines[i % 2]
            t0 = time.perf_counter()
            engine.run(x)
            times[i % 2].append((time.perf_counter() - t0) * 1000)
        for engine in engines:
            engine.close()
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    bundle = load_bundle(args.bundle)
    rows = bench_bundle(bundle, batches=(1, 8), repeats=args.repeats)
    table = format_table(rows)
    print(table)
    int8 = bundle.manifest.files.get("int8")
    stem_fp32 = int8 is not None and IMAGE_CONVS_FP32 in int8.quantization
    stem = stem_comparison(bundle, runs=20 * args.repeats) if stem_fp32 else None
    if stem:
        print(f"int8 with the image convolution fp32: {stem[0]:.2f} ms, all int8: {stem[1]:.2f} ms")

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
    if stem:
        lines.append(
            f"- int8 as `models quantize` makes it (the convolution over the input image in fp32) "
            f"against all layers int8, quantized from the same fp32 model, batch 1, 1 thread, "
            f"{20 * args.repeats} runs each, alternating: {stem[0]:.2f} ms against "
            f"{stem[1]:.2f} ms (**{stem[0] / stem[1]:.3f}×**)"
        )
    verification = bundle.manifest.verification
    if "fp32" in verification and "int8" in verification:
        f, i = verification["fp32"], verification["int8"]
        lines.append(
            f"- Accuracy recorded by `models verify` ({f.get('dataset')}, {f.get('date')}): "
            f"fp32 R@1 {f['recall_at_1']:.3f} / R@5 {f['recall_at_5']:.3f}; int8 R@1 "
            f"{i['recall_at_1']:.3f} / R@5 {i['recall_at_5']:.3f}"
            + (
                " (in-sample: the bundle was fine-tuned on these products; its figures on products "
                "it never saw are in its recognition section)"
                if "training" in bundle.manifest.source
                else ""
            )
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
