"""ONNX Runtime backend: the only runtime module that imports onnxruntime.

Execution providers are tried in a fixed order of preference among those this onnxruntime build
offers; one log line says which was chosen and why.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .errors import BundleShapeError, EngineError

log = logging.getLogger(__name__)
# What stops ONNX Runtime's telemetry is ORT_DISABLE_TELEMETRY, set by models/__init__.py before
# this import. The API switch alone does not (the DNS queries and files go on), but costs nothing.
ort.disable_telemetry_events()

#: Preference order: dedicated accelerators first, then optimised CPU kernels, then the default.
PROVIDER_PREFERENCE = (
    "OpenVINOExecutionProvider",
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CoreMLExecutionProvider",
    "XnnpackExecutionProvider",
    "ACLExecutionProvider",
    "CPUExecutionProvider",
)


def choose_providers(
    requested: list[str] | None = None, available: list[str] | None = None
) -> tuple[list[str], str]:
    """The providers to use, in order, and a one-line reason for the choice."""
    available = list(available if available is not None else ort.get_available_providers())
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise EngineError(
                f"execution provider(s) {', '.join(missing)} not available in this onnxruntime "
                f"(available: {', '.join(available)})"
            )
        chosen = list(requested)
        reason = "requested in settings"
    else:
        chosen = [p for p in PROVIDER_PREFERENCE if p in available]
        best = chosen[0] if chosen else "CPUExecutionProvider"
        reason = (
            "only the default CPU provider is installed"
            if best == "CPUExecutionProvider"
            else f"preferred over {', '.join(p for p in chosen[1:])}"
        )
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")  # fallback for nodes the accelerator lacks
    return chosen, reason


class OrtEngine:
    """An :class:`~models.engine.InferenceEngine` over one ONNX file."""

    def __init__(
        self,
        model_path: Path,
        *,
        intra_threads: int = 1,
        providers: list[str] | None = None,
        warmup: bool = True,
        optimization: str = "all",
    ) -> None:
        chosen, reason = choose_providers(providers)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        }[optimization]
        opts.log_severity_level = 3
        provider_options: list[dict[str, str]] = [
            {"intra_op_num_threads": str(intra_threads)} if p == "XnnpackExecutionProvider" else {}
            for p in chosen
        ]
        try:
            self._session = ort.InferenceSession(
                str(model_path),
                sess_options=opts,
                providers=chosen,
                provider_options=provider_options,
            )
        except Exception as exc:  # onnxruntime raises its own, untyped, exception classes
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineError(
                f"{model_path}: ONNX Runtime cannot load the model ({first})"
            ) from exc
        used = self._session.get_providers()[0]
        self.description = f"onnxruntime/{used}"
        self.intra_threads = intra_threads
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise BundleShapeError(f"{model_path}: expected one input, the graph has {len(inputs)}")
        self.input_name = inputs[0].name
        self.input_shape = list(inputs[0].shape)
        self.input_dtype = np.int64 if inputs[0].type == "tensor(int64)" else np.float32
        self.output_name = self._session.get_outputs()[0].name
        self.output_shape = list(self._session.get_outputs()[0].shape)
        log.info(
            "inference: %s with %d thread(s) for %s (%s)",
            used,
            intra_threads,
            Path(model_path).name,
            reason,
        )
        if warmup:
            self._warmup()

    def _warmup(self) -> None:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in self.input_shape]
        self.run(np.zeros(shape, dtype=self.input_dtype))

    def run(self, batch: np.ndarray) -> np.ndarray:
        try:
            out = self._session.run([self.output_name], {self.input_name: batch})[0]
        except Exception as exc:
            raise EngineError(f"inference failed on a batch of shape {batch.shape}: {exc}") from exc
        return np.asarray(out, dtype=np.float32)

    def close(self) -> None:
        del self._session
