"""The inference interface, a fake for tests, and the factory that picks a backend.

``InferenceEngine.run`` takes a preprocessed float32 batch and returns float32 features.
The ONNX Runtime backend lives in :mod:`models.engine_ort` (the only runtime module that imports
onnxruntime); :class:`FakeEngine` stands in for it where a test needs no real model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class InferenceEngine(Protocol):
    """Runs a model on a preprocessed batch."""

    #: Human-readable name of the backend and device, e.g. "onnxruntime/CPUExecutionProvider".
    description: str

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 input [n, ...] → float32 output [n, dim]."""
        ...

    def close(self) -> None:
        """Release the model; the engine cannot be used afterwards."""
        ...


class FakeEngine:
    """A deterministic stand-in for a real model, for tests that need no ONNX file.

    Features are a fixed random projection of a coarse (8×8) pooled version of the input, so
    images that look alike still get similar vectors; ``calls`` counts batches run.
    """

    def __init__(self, dim: int = 64, seed: int = 0) -> None:
        self.dim = dim
        self.description = "fake"
        self.calls = 0
        self._rng = np.random.default_rng(seed)
        self._proj: np.ndarray | None = None
        self.closed = False

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.closed:
            raise RuntimeError("FakeEngine used after close()")
        self.calls += 1
        n, c, h, w = batch.shape
        pooled = batch[:, :, : h - h % 8, : w - w % 8].reshape(n, c, 8, h // 8, 8, w // 8)
        feats = pooled.mean(axis=(3, 5)).reshape(n, -1)
        if self._proj is None:
            self._proj = self._rng.standard_normal((feats.shape[1], self.dim)).astype(np.float32)
        return (feats @ self._proj).astype(np.float32)

    def close(self) -> None:
        self.closed = True


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_budget(threads: int | None = None, headroom: int = 0) -> int:
    """Intra-op threads: ``threads`` if given, else usable CPUs minus ``headroom`` (≥ 1).

    The kiosk keeps a core of headroom for the UI and camera threads; batch tools keep none.
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        return threads
    return max(1, usable_cpus() - max(0, headroom))


def create_engine(
    model_path: Path,
    *,
    threads: int | None = None,
    headroom: int = 0,
    providers: list[str] | None = None,
    warmup: bool = True,
    optimization: str = "all",
) -> InferenceEngine:
    """Open ``model_path`` with the best available ONNX Runtime execution provider.

    ``optimization``: ONNX Runtime graph optimisation level, "all" (default), "extended" or
    "basic".
    """
    from .engine_ort import OrtEngine

    return OrtEngine(
        model_path,
        intra_threads=thread_budget(threads, headroom),
        providers=providers,
        warmup=warmup,
        optimization=optimization,
    )
