"""Images in, L2-normalised float32 embeddings out."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bundle import Bundle, load_bundle
from .engine import InferenceEngine, create_engine
from .errors import BundleShapeError, EngineError, ImageError
from .images import DEFAULT_MAX_PIXELS, load_image
from .preprocess import Preprocessor

log = logging.getLogger(__name__)

ImageLike = np.ndarray | str | os.PathLike


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return (x / np.maximum(norms, eps)).astype(np.float32)


def optimization_for(precision: str) -> str:
    """Graph optimisation level for a precision.

    ONNX Runtime 1.32's CPU layout optimisations ("all") crash on fp16 transformer graphs, so
    fp16 models stop at "extended".
    """
    return "extended" if precision == "fp16" else "all"


@dataclass
class EmbedReport:
    """The result of embedding a list of files: vectors for those that worked, reasons for the rest."""

    vectors: np.ndarray  # [len(ok), dim]
    ok: list[int] = field(default_factory=list)  # indices into the input list
    failed: list[tuple[int, str]] = field(default_factory=list)  # (index, one-line reason)


def resolve_precision(bundle: Bundle, precision: str = "auto") -> str:
    """The precision ``auto`` stands for in ``bundle`` (int8 when it ships one)."""
    if precision == "auto":
        return "int8" if "int8" in bundle.manifest.files else "fp32"
    return precision


def planned_model_id(name_or_path: str | os.PathLike[str] | None, precision: str = "auto") -> str:
    """The ``model_id`` :meth:`ImageEmbedder.open` will give, read from the bundle's manifest
    without loading the model (a catalog can be opened for it meanwhile)."""
    bundle = load_bundle(name_or_path)
    return bundle.bundle_id(resolve_precision(bundle, precision))


class ImageEmbedder:
    """Embeds BGR frames or image files with one precision of a model bundle."""

    def __init__(
        self,
        bundle: Bundle,
        precision: str = "auto",
        *,
        engine: InferenceEngine | None = None,
        threads: int | None = None,
        headroom: int = 0,
        providers: list[str] | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        precision = resolve_precision(bundle, precision)
        self.bundle = bundle
        self.precision = precision
        self.preprocess = Preprocessor(bundle.manifest.preprocess)
        self.max_pixels = max_pixels
        self.dim = bundle.manifest.embedding_dim
        if engine is None:
            path = bundle.model_path(precision)  # checks size and sha256 first
            engine = create_engine(
                path,
                threads=threads,
                headroom=headroom,
                providers=providers,
                warmup=False,
                optimization=optimization_for(precision),
            )
            self.model_id = bundle.bundle_id(precision)
            m = bundle.manifest
            for role, want in (("input", m.input_name), ("output", m.output_name)):
                got = getattr(engine, f"{role}_name", want)
                if got != want:
                    raise BundleShapeError(
                        f"{path}: the graph's {role} is named {got!r}, the manifest says {want!r}"
                    )
        else:
            self.model_id = (
                f"{bundle.name}@{bundle.manifest.version}/{precision}:{engine.description}"
            )
        self.engine = engine
        self._check_shapes()

    @classmethod
    def open(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        precision: str = "auto",
        **kwargs: object,
    ) -> ImageEmbedder:
        """Load a bundle by shipped name or path (the default bundle when None) and open it."""
        return cls(load_bundle(name_or_path), precision, **kwargs)  # type: ignore[arg-type]

    def _check_shapes(self) -> None:
        """Warm the engine up and check its output against the manifest."""
        h, w = self.bundle.manifest.preprocess.input_size
        shape = (1, 3, h, w) if self.bundle.manifest.preprocess.layout == "NCHW" else (1, h, w, 3)
        try:
            out = self.engine.run(np.zeros(shape, dtype=np.float32))
        except EngineError as exc:
            raise BundleShapeError(
                f"{self.bundle.path}: the {self.precision} model rejects the manifest's input "
                f"{list(shape)} ({exc})"
            ) from exc
        if out.ndim != 2 or out.shape[1] != self.dim:
            raise BundleShapeError(
                f"{self.bundle.path}: the {self.precision} model outputs {list(out.shape)}, "
                f"the manifest says [n, {self.dim}]"
            )

    def embed_batch(self, batch: np.ndarray) -> np.ndarray:
        """Embed an already preprocessed batch."""
        out = self.engine.run(batch)
        if not np.all(np.isfinite(out)):
            raise EngineError(f"{self.model_id}: the model produced non-finite values")
        return l2_normalize(out)

    def load(self, image: ImageLike) -> np.ndarray:
        """Decode a file (or pass an array through) as 8-bit BGR, at a reduced scale if large."""
        if isinstance(image, np.ndarray):
            return image
        return load_image(
            image, max_pixels=self.max_pixels, reduce_to=self.preprocess.spec.resize_size
        )

    def embed(
        self,
        images: Sequence[ImageLike] | np.ndarray,
        batch_size: int = 16,
        *,
        fast: bool = False,
    ) -> np.ndarray:
        """Embed frames or files → float32 [n, dim], L2-normalised. Raises on the first bad image.
        ``fast``: as in :meth:`embed_files`."""
        if isinstance(images, str | os.PathLike) or (
            isinstance(images, np.ndarray) and images.ndim in (2, 3)
        ):
            images = [images]
        out = np.empty((len(images), self.dim), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            chunk = [self.load(im) for im in images[start : start + batch_size]]
            batch = np.stack([self.preprocess.one(im, fast=fast) for im in chunk])
            out[start : start + len(chunk)] = self.embed_batch(batch)
        return out

    def embed_files(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        batch_size: int = 16,
        workers: int = 2,
        progress: Callable[[int], None] | None = None,
        fast: bool = False,
    ) -> EmbedReport:
        """Embed many files, decoding on a thread pool while the model runs; bad files are skipped.

        ``progress`` is called with the number of files finished after each batch. ``fast``:
        preprocess with :meth:`Preprocessor.fast` (OpenCV, the kiosk's path for camera frames)
        instead of the exact torchvision resampler, about 15 times cheaper on a photo decoded
        at a reduced scale.
        """
        vectors: list[np.ndarray] = []
        report = EmbedReport(vectors=np.empty((0, self.dim), dtype=np.float32))

        def prepare(i: int) -> tuple[int, np.ndarray | None, str]:
            try:
                return i, self.preprocess.one(self.load(paths[i]), fast=fast), ""
            except ImageError as exc:
                return i, None, str(exc)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for batch in _chunks(
                _bounded_map(pool, prepare, len(paths), 2 * batch_size), batch_size
            ):
                good = [(i, x) for i, x, _ in batch if x is not None]
                report.failed.extend((i, why) for i, x, why in batch if x is None)
                if good:
                    vectors.append(self.embed_batch(np.stack([x for _, x in good])))
                    report.ok.extend(i for i, _ in good)
                if progress is not None:
                    progress(len(batch))
        for i, why in report.failed:
            log.warning("skipping %s: %s", Path(paths[i]).name, why)
        if vectors:
            report.vectors = np.concatenate(vectors)
        return report

    def close(self) -> None:
        self.engine.close()


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable, n: int, ahead: int) -> Iterator:
    """``pool.map(fn, range(n))`` in order, with at most ``ahead`` results waiting in memory."""
    pending: deque[Future] = deque()
    for i in range(n):
        pending.append(pool.submit(fn, i))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _chunks(items: Iterable, size: int) -> Iterable[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
