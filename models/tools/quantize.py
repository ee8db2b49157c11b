"""Make smaller, faster precisions of a bundle's fp32 model with ONNX Runtime's quantizer.

* static int8 (QDQ, per-channel weights, activations calibrated on real photographs): best for
  convolutional image towers such as EfficientNet-Lite on ARM and x86 CPUs;
* dynamic int8 (weights only, activations quantised on the fly): suits transformer towers
  (ONNX Runtime's dynamic quantizer also makes every convolution int8, the stem included);
* fp16 (weights and activations in half precision, float32 inputs and outputs kept).

Offline tools: this module, like the engine, may import onnxruntime (its quantization package).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from ..bundle import Bundle, ModelFile
from ..errors import ModelError
from ..preprocess import Preprocessor
from .calibration import calibration_images

log = logging.getLogger(__name__)

METHODS = ("static", "dynamic", "fp16")
#: how the manifest's quantization note says the stem was kept in fp32
IMAGE_CONVS_FP32 = "image convolutions fp32"


def _where(calib: object) -> str:
    """The calibration set as the manifest records it: its folder and name, no machine path."""
    if calib is None:
        return "scikit-image sample photos"
    p = Path(str(calib))
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


class QuantizeError(ModelError):
    """Quantization failed."""


class _BatchReader(CalibrationDataReader):
    def __init__(self, input_name: str, batches: Sequence[np.ndarray]) -> None:
        self._feeds = iter([{input_name: b} for b in batches])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


#: operators that pass the image on unchanged in value, before the first convolution
_IMAGE_PASSTHROUGH = {"Pad", "Cast", "Transpose", "Identity", "Reshape"}


def image_convolutions(model: onnx.ModelProto) -> list[str]:
    """The convolutions that read the graph's input image itself (an image tower's stem),
    also through a ``Pad``, ``Cast``, ``Transpose``, ``Identity`` or ``Reshape`` in between.

    Static int8 keeps them in fp32: with three input channels an int8 convolution cannot use
    the wide dot-product instructions, so EfficientNet-Lite0's stem, 3 % of its multiply-adds,
    was among its slowest layers in int8; with it in fp32 the whole model ran in 0.92-0.93 of
    the all-int8 time on the development machine (`python bench/bench_models.py`), and the
    layer that sees the raw pixels keeps full precision.
    """
    image = {i.name for i in model.graph.input} - {i.name for i in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input[:1]:
            consumers.setdefault(name, []).append(node)
    found, seen, frontier = [], set(), list(image)
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if id(node) in seen:  # node names are optional in ONNX: not a key
                continue
            seen.add(id(node))
            if node.op_type == "Conv":
                found.append(node.name)
            elif node.op_type in _IMAGE_PASSTHROUGH:
                frontier.extend(node.output)
    return found


def conv_group(node: onnx.NodeProto) -> int:
    """A convolution's ``group`` attribute (1 when absent, as ONNX defines it)."""
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def depthwise_convolutions(model: onnx.ModelProto) -> list[str]:
    """The depthwise convolutions of a graph (one input channel per group): the layers whose
    int8 time ``bench/bench_model_ops.py`` compares with their share of the multiply-adds."""
    weights = {i.name: list(i.dims) for i in model.graph.initializer}
    return [
        n.name
        for n in model.graph.node
        if n.op_type == "Conv" and conv_group(n) > 1 and weights.get(n.input[1], [0, 0])[1:2] == [1]
    ]


def quantize_static_int8(
    fp32: Path,
    out: Path,
    images: Sequence[np.ndarray],
    preprocess: Preprocessor,
    *,
    input_name: str = "image",
    method: str = "minmax",
    progress: Callable[[str], None] | None = None,
    image_convs_fp32: bool = True,
    also_fp32: Callable[[onnx.ModelProto], list[str]] | None = None,
    per_channel: bool = True,
    types: tuple[QuantType, QuantType] = (QuantType.QUInt8, QuantType.QInt8),
) -> list[str]:
    """Static int8 QDQ, per-channel weights, activations calibrated on ``images`` (BGR); the
    convolutions over the input image stay fp32 (:func:`image_convolutions`) unless
    ``image_convs_fp32`` is False. Returns the names of the nodes kept in fp32.

    ``also_fp32`` (the names of more nodes to keep in fp32, from the pre-processed graph),
    ``per_channel`` and ``types`` (activations, weights) are there for comparisons
    (``bench/bench_model_ops.py``); the defaults are what ``models quantize`` ships."""
    batches = [preprocess([im]) for im in images]
    calib = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }[method]
    with tempfile.TemporaryDirectory(prefix="aislelens-quant-") as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
        graph = onnx.load(str(prepped), load_external_data=False)
        stem = image_convolutions(graph) if image_convs_fp32 else []
        keep_float = stem + (also_fp32(graph) if also_fp32 is not None else [])
        del graph
        if progress:
            progress(f"calibrating on {len(batches)} images ({method})")
        quantize_static(
            str(prepped),
            str(out),
            _BatchReader(input_name, batches),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=types[0],
            weight_type=types[1],
            calibrate_method=calib,
            nodes_to_exclude=keep_float,
            extra_options={"CalibMovingAverage": method == "minmax", "ActivationSymmetric": False},
        )
    if image_convs_fp32 and not stem:
        log.warning("%s: no convolution reads the input image: every layer is int8", fp32.name)
    return keep_float


def quantize_dynamic_int8(fp32: Path, out: Path) -> None:
    """Dynamic int8: weights quantised, activations at run time (MatMul/Gemm heavy models)."""
    with tempfile.TemporaryDirectory(prefix="aislelens-quant-") as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
        quantize_dynamic(str(prepped), str(out), weight_type=QuantType.QInt8, per_channel=True)


def convert_fp16(fp32: Path, out: Path) -> None:
    """Half-precision weights and activations; float32 inputs and outputs."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32))
    onnx.save(convert_float_to_float16(model, keep_io_types=True), str(out))


def quantize_bundle(
    bundle: Bundle,
    method: str = "static",
    *,
    calib: str | os.PathLike[str] | None = None,
    calib_limit: int = 128,
    calib_method: str = "minmax",
    progress: Callable[[str], None] | None = None,
) -> Bundle:
    """Add (or replace) the int8 or fp16 model of ``bundle`` and record it in the manifest.

    ``calib``: a folder or CSV of the store's own photos; default, the photographs shipped in
    scikit-image. The verification figures of the replaced precision are dropped (re-run verify).
    """
    if method not in METHODS:
        raise QuantizeError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    fp32 = bundle.model_path("fp32")
    precision = "fp16" if method == "fp16" else "int8"
    target = bundle.path / f"model.{precision}.onnx"
    tmp = target.with_suffix(".onnx.tmp")
    try:
        if method == "static":
            images = calibration_images(calib, limit=calib_limit)
            kept = quantize_static_int8(
                fp32,
                tmp,
                images,
                Preprocessor(bundle.manifest.preprocess),
                input_name=bundle.manifest.input_name,
                method=calib_method,
                progress=progress,
            )
            how = (
                "static-qdq-per-channel"
                + (f", {IMAGE_CONVS_FP32}" if kept else "")
                + f" ({calib_method}, {len(images)} images from {_where(calib)})"
            )
        elif method == "dynamic":
            quantize_dynamic_int8(fp32, tmp)
            how = "dynamic-int8"
        else:
            convert_fp16(fp32, tmp)
            how = "fp16"
        os.replace(tmp, target)
    except ModelError:
        raise
    except Exception as exc:  # the quantizer raises assorted exception types
        raise QuantizeError(f"{fp32}: {method} quantization failed ({exc})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    bundle.manifest.files[precision] = ModelFile.describe(bundle.path, target.name, precision, how)
    bundle.manifest.verification.pop(precision, None)
    if precision == "int8":
        bundle.manifest.verification.pop("int8_vs_fp32_cosine", None)
    bundle.save_manifest()
    return bundle
