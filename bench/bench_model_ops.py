"""Where the model's inference time goes, and which int8 variants would be faster.

The kiosk's biggest stage is the model (EfficientNet-Lite0, int8, one ONNX Runtime thread).
This prints and writes two tables, all in one process:

1. ONNX Runtime's own profile of the default bundle's int8 model, one thread, ``--runs``
   inferences on one input: the time per kind of layer (convolutions by shape: the stem,
   depthwise, 1 × 1 widening and narrowing) against its share of the multiply-adds, counted
   from the fp32 graph's shapes; then the other operators.
2. The same fp32 model quantised other ways through ``models.tools.quantize`` (calibrated on
   the photographs shipped with scikit-image: calibration changes the numbers, not the
   speed), timed in blocks, alternating, against the shipped int8 and fp32 files, and those
   two files on OpenCV's DNN engine.

Usage: ``python bench/bench_model_ops.py [--runs 300] [--blocks 12]``; writes BENCHMARKS.md
"modelops".
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_threads import session
from bench.report import positive_int, write_section

WARMUPS = 3  # inferences before any is timed or profiled
CALIBRATION_VIEWS = 32
STEM, DEPTHWISE, WIDEN, NARROW, OTHER = (
    "stem (reads the image, fp32)",
    "depthwise k × k",
    "1 × 1, widening",
    "1 × 1, narrowing or equal",
    "other convolution",
)


def conv_kinds(fp32: Path, x: np.ndarray) -> tuple[dict[str, str], dict[str, float]]:
    """Each convolution's kind by node name, and the multiply-adds of each kind (batch 1; the
    output sizes from one run of the fp32 graph with every convolution's output exposed)."""
    import onnx
    import onnxruntime as ort

    from models.tools.quantize import conv_group, depthwise_convolutions, image_convolutions

    model = onnx.load(str(fp32))
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    exposed = [n.output[0] for n in convs]
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(o) for o in exposed)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, ["CPUExecutionProvider"])
    outs = sess.run(exposed, {sess.get_inputs()[0].name: x})
    stem, depthwise = set(image_convolutions(model)), set(depthwise_convolutions(model))
    kinds: dict[str, str] = {}
    macs: dict[str, float] = collections.Counter()
    for node, out in zip(convs, outs, strict=True):
        cout, cin_g, kh, kw = weights[node.input[1]]
        if node.name in stem:
            kind = STEM
        elif node.name in depthwise:
            kind = DEPTHWISE
        elif kh == kw == 1 and conv_group(node) == 1:
            kind = WIDEN if cout > cin_g else NARROW
        else:
            kind = OTHER
        kinds[node.name] = kind
        macs[kind] += cout * out.shape[2] * out.shape[3] * cin_g * kh * kw
    return kinds, macs


def profile(int8: Path, kinds: dict[str, str], runs: int, x: np.ndarray) -> dict[str, float]:
    """ms per inference by layer kind (convolutions) or operator (the rest), over ``runs``
    inferences after WARMUPS that are not counted."""
    if any(not name for name in kinds):
        raise SystemExit("an unnamed convolution: its kernels could not be told apart")
    with tempfile.TemporaryDirectory(prefix="aislelens-prof-") as tmp:
        sess = session(int8, 1, {}, profile_prefix=str(Path(tmp) / "ort"))
        name = sess.get_inputs()[0].name
        for _ in range(WARMUPS + runs):
            sess.run(None, {name: x})
        events = json.loads(Path(sess.end_profiling()).read_text())
    # the kernels of the counted runs: those after the warm-ups' last run ended
    model_runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"),
        key=lambda e: e["ts"],
    )
    counted_from = model_runs[WARMUPS - 1]["ts"] + model_runs[WARMUPS - 1]["dur"]
    # fused nodes are named after the first node they absorbed ("…/Conv_token_2", or the
    # stem's "…/Conv_output_0_nchwc"): the longest convolution name that prefixes a node's
    # name is the convolution it runs
    by_length = sorted(kinds, key=len, reverse=True)
    spent: dict[str, float] = collections.Counter()
    claimed: dict[str, str] = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if e["ts"] < counted_from:
            continue
        node, op = e["name"][: -len("_kernel_time")], e["args"]["op_name"]
        if "Conv" in op:
            conv = next((c for c in by_length if node.startswith(c)), None)
            if conv is None or claimed.setdefault(conv, node) != node:
                raise SystemExit(f"{node}: no convolution of the fp32 graph, or one claimed twice")
            spent[kinds[conv]] += e["dur"] / 1000 / runs
        else:
            spent[op] += e["dur"] / 1000 / runs
    return dict(spent)


def variants(bundle, out: Path) -> dict[str, Path]:
    """The fp32 model quantised other ways (skimage calibration)."""
    from onnxruntime.quantization import QuantType

    from models.preprocess import Preprocessor
    from models.tools.calibration import calibration_images
    from models.tools.quantize import depthwise_convolutions, quantize_static_int8

    images = calibration_images(None, limit=CALIBRATION_VIEWS)
    pre = Preprocessor(bundle.manifest.preprocess)
    u8, s8 = QuantType.QUInt8, QuantType.QInt8
    ways: dict[str, dict] = {
        "as shipped, remade (stem fp32, per-channel, uint8 activations × int8 weights)": {},
        "depthwise convolutions fp32 too": {"also_fp32": depthwise_convolutions},
        "per-tensor weights": {"per_channel": False},
        "int8 activations × int8 weights": {"types": (s8, s8)},
        "uint8 activations × uint8 weights": {"types": (u8, u8)},
    }
    made = {}
    for i, (label, options) in enumerate(ways.items()):
        path = out / f"variant{i}.onnx"
        print(f"quantising: {label}", flush=True)
        quantize_static_int8(
            bundle.model_path("fp32"),
            path,
            images,
            pre,
            input_name=bundle.manifest.input_name,
            **options,
        )
        made[label] = path
    return made


def ort_runner(path: Path) -> Callable[[np.ndarray], object]:
    sess = session(path, 1, {})
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})


def opencv_runner(path: Path) -> Callable[[np.ndarray], object]:
    """The same file on OpenCV's own DNN engine (one thread), which the kiosk already ships."""
    import cv2

    cv2.setNumThreads(1)
    net = cv2.dnn.readNetFromONNX(str(path))

    def run(x: np.ndarray) -> object:
        net.setInput(x)
        return net.forward()

    return run


def timed(
    runners: dict[str, Callable[[np.ndarray], object]], blocks: int, per_block: int, x: np.ndarray
) -> dict:
    """p50 / p95 ms per model, blocks of ``per_block`` runs after WARMUPS, alternating."""
    times: dict[str, list[float]] = {label: [] for label in runners}
    for b in range(blocks):
        order = list(runners.items())
        for label, run in order if b % 2 == 0 else order[::-1]:
            for _ in range(WARMUPS):
                run(x)
            for _ in range(per_block):
                t0 = time.perf_counter()
                run(x)
                times[label].append((time.perf_counter() - t0) * 1000)
    return {
        label: (statistics.median(v), float(np.percentile(v, 95)), len(v))
        for label, v in times.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=positive_int, default=300, help="inferences profiled")
    ap.add_argument("--blocks", type=positive_int, default=12, help="timing blocks per model")
    ap.add_argument("--per-block", type=positive_int, default=20, help="inferences per block")
    args = ap.parse_args()
    from models.bundle import load_bundle

    bundle = load_bundle()
    fp32, int8 = bundle.model_path("fp32"), bundle.model_path("int8")
    x = np.random.default_rng(1).random((1, 3, 224, 224), dtype=np.float32)
    kinds, macs = conv_kinds(fp32, x)
    spent = profile(int8, kinds, args.runs, x)
    total_ms, total_macs = sum(spent.values()), sum(macs.values())
    print(f"profiled {args.runs} runs: {total_ms:.2f} ms of operators per inference")
    rows = sorted(spent.items(), key=lambda kv: -kv[1])
    conv_rows = [(k, v) for k, v in rows if k in macs]
    other = [(k, v) for k, v in rows if k not in macs]
    lines = [
        f"Model `{bundle.manifest.name}` int8 (`{int8.name}`, as shipped), one thread, "
        f"{args.runs} inferences on one 224 × 224 input after {WARMUPS} not counted, ONNX "
        f"Runtime's profiler: its kernels' own times, {total_ms:.2f} ms per inference in all, "
        "which the profiler's own timing of each kernel inflates (compare the shipped int8's "
        "p50 unprofiled, in the second table). Multiply-adds counted from the fp32 graph's "
        f"shapes ({total_macs / 1e9:.3f} G per image). The stem runs fp32 in ONNX Runtime's "
        "blocked layout: the reorder and the transpose among the other operators are there "
        "for it.",
        "",
        "| layers | ms per inference | share of the time | share of the multiply-adds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for kind, ms in conv_rows:
        lines.append(f"| {kind} | {ms:.2f} | {ms / total_ms:.0%} | {macs[kind] / total_macs:.1%} |")
    lines.append(
        "| other operators ("
        + ", ".join(f"{k} {v:.2f}" for k, v in other)
        + f") | {sum(v for _, v in other):.2f} | {sum(v for _, v in other) / total_ms:.0%} | – |"
    )
    for kind, ms in rows:
        print(f"  {kind}: {ms:.3f} ms")

    with tempfile.TemporaryDirectory(prefix="aislelens-variants-") as tmp:
        paths = {"shipped int8 file": int8, **variants(bundle, Path(tmp)), "shipped fp32": fp32}
        runners = {label: ort_runner(p) for label, p in paths.items()}
        runners["shipped int8 file on OpenCV's DNN engine"] = opencv_runner(int8)
        runners["shipped fp32 file on OpenCV's DNN engine"] = opencv_runner(fp32)
        results = timed(runners, args.blocks, args.per_block, x)
    base = results["shipped int8 file"][0]
    lines += [
        "",
        f"The same fp32 model quantised other ways (`models.tools.quantize`, calibrated on "
        f"{CALIBRATION_VIEWS} views of the scikit-image photographs), and the shipped files on OpenCV's DNN "
        f"engine (`cv2.dnn`, the kiosk's OpenCV), one thread each, {args.blocks} blocks of "
        f"{args.per_block} inferences per model after {WARMUPS} warm-ups, alternating (the order "
        "reversed every other block):",
        "",
        "| model | p50 ms | p95 ms | p50 vs the shipped int8 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, (p50, p95, _n) in results.items():
        lines.append(f"| {label} | {p50:.2f} | {p95:.2f} | {p50 / base:.2f}× |")
        print(f"{label}: p50 {p50:.2f} p95 {p95:.2f} ms ({p50 / base:.2f}×)")
    dw_ms = spent.get(DEPTHWISE, 0.0)
    control = next(k for k in results if k.startswith("as shipped, remade"))
    fastest = min((v[0], k) for k, v in results.items() if k not in ("shipped int8 file", control))
    lines += [
        "",
        f"The depthwise convolutions take {dw_ms / total_ms:.0%} of the int8 time for "
        f"{macs.get(DEPTHWISE, 0.0) / total_macs:.0%} of the multiply-adds. The same "
        f"quantisation remade (the control) ran at {results[control][0] / base:.2f} times the "
        "shipped file's p50, which is this run's noise; of the other ways tried the fastest "
        f"is *{fastest[1]}*, at {fastest[0] / base:.2f} times.",
    ]
    path = write_section(
        "modelops",
        "Where the model's time goes (bench/bench_model_ops.py)",
        "\n".join(lines),
        f"python bench/bench_model_ops.py --runs {args.runs} --blocks {args.blocks} "
        f"--per-block {args.per_block}",
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
