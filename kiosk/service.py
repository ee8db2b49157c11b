"""``aislelens serve``: the catalog's visual search as a small REST service (FastAPI).

For a store's edge server: a back-office tool or a second screen posts a photo and gets the
products the kiosk would show, with the kiosk's decision. Images are decoded in memory and
never written anywhere: a raw image body, or a multipart form read into memory (Starlette's
own form parser would spool files over 1 MB to a temporary file). Bad input gets a 4xx with a
one-line reason. Model work runs on a bounded pool; when its queue is full the answer is 503
with ``Retry-After`` rather than an ever longer wait. ``/metrics`` speaks Prometheus.

Qt-free; FastAPI, uvicorn and prometheus-client are imported only by this module, only when
the service runs (the kiosk opens no socket).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from python_multipart.multipart import MultipartParser, parse_options_header

from catalog import CatalogError, CatalogSettings, open_finder
from catalog.cli_common import open_embedder, open_text_embedder
from catalog.decisions import decide_result
from catalog.fleet import FleetLog
from catalog.types import Match, Product, ProductFinder
from models import ImageEmbedder, ModelError
from models.errors import ImageError, ImageTooLargeError
from models.images import decode_image

from .metrics import RecognitionMetrics

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServiceLimits:
    max_upload_bytes: int = 10_000_000
    max_pixels: int = 50_000_000
    workers: int = 2  # model threads working at once
    queue: int = 16  # requests waiting for one, beyond which the answer is 503
    max_k: int = 50
    cache_size: int = 256  # results of recently posted images (by their bytes' sha256)


class Refused(Exception):
    """A request the service answers with a 4xx/503 and a one-line reason."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


class Metrics(RecognitionMetrics):
    """The shared recognition metrics (kiosk.metrics), and the service's requests."""

    def __init__(self) -> None:
        super().__init__()
        r = self.registry
        self.requests = Counter(
            "aislelens_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "aislelens_request_seconds",
            "Time to answer a request",
            ["route"],
            buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56),
            registry=r,
        )
        self.rejected = Counter(
            "aislelens_rejected_busy", "Requests refused because the queue was full", registry=r
        )
        self.fleet = Counter(
            "aislelens_fleet_reports", "Kiosk update outcomes received", ["status"], registry=r
        )


class SearchService:
    """The model and the catalog, loaded once, used from a bounded pool of threads."""

    def __init__(self, db: Path, limits: ServiceLimits, metrics: Metrics) -> None:
        self.db, self.limits, self.metrics = db, limits, metrics
        self.embedder: ImageEmbedder | None = None
        self.finder: ProductFinder | None = None
        self.problem: str | None = None  # why it is not ready, once loading failed
        #: uploads preprocessed as the kiosk's frames and `catalog search`'s photos are
        self.fast_preprocess = CatalogSettings.from_env().fast_preprocess
        self._pool = ThreadPoolExecutor(limits.workers, thread_name_prefix="aislelens-serve")
        self._slots = threading.BoundedSemaphore(limits.workers + limits.queue)
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cache_lock = threading.Lock()

    def load(self) -> None:
        try:
            embedder, _ = open_embedder(self.db, None, None)
            finder = open_finder(
                self.db, bundle_id=embedder.model_id, text_embedder=open_text_embedder(self.db)
            )
        except (CatalogError, ModelError, OSError) as exc:
            self.problem = str(exc)
            log.error("not ready: %s", exc)
            return
        self.embedder, self.finder = embedder, finder
        self.metrics.set_catalog(finder, embedder.model_id)
        log.info("ready: %s, %s", self.db, embedder.model_id)

    @property
    def ready(self) -> bool:
        return self.finder is not None

    def parts(self) -> tuple[ImageEmbedder, ProductFinder]:
        if self.embedder is None or self.finder is None:
            raise Refused(
                503, self.problem or "still loading the model and catalog", {"Retry-After": "2"}
            )
        return self.embedder, self.finder

    async def run(self, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``work`` on the pool, or 503 at once when every worker and queue slot is taken."""
        if not self._slots.acquire(blocking=False):
            self.metrics.rejected.inc()
            raise Refused(503, "busy: too many requests waiting, try again", {"Retry-After": "1"})
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        except (CatalogError, ModelError) as exc:  # a damaged catalog, a failing model
            log.error("request failed: %s", exc)
            raise Refused(503, str(exc), {"Retry-After": "30"}) from None
        finally:
            self._slots.release()

    def _vector(self, data: bytes) -> np.ndarray:
        embedder, _ = self.parts()
        try:
            image = decode_image(
                data,
                source="upload",
                max_pixels=self.limits.max_pixels,
                reduce_to=embedder.preprocess.spec.resize_size,
            )
        except ImageTooLargeError as exc:
            raise Refused(413, str(exc)) from None
        except ImageError as exc:
            raise Refused(422, str(exc)) from None
        t0 = time.perf_counter()
        batch = embedder.preprocess.one(image, fast=self.fast_preprocess)[None]
        vector = embedder.embed_batch(batch)[0]
        self.metrics.inference.observe(time.perf_counter() - t0)
        return vector

    def search_image(self, data: bytes, k: int) -> dict[str, Any]:
        key = f"{hashlib.sha256(data).hexdigest()}:{k}"
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        self.metrics.cache.labels("hit" if hit else "miss").inc()
        if hit is not None:
            return hit
        _, finder = self.parts()
        vector = self._vector(data)
        result = finder.search_vector(vector, k)
        answer = {
            "decision": decide_result(result, finder.decision_thresholds).value,
            "margin": round(result.margin, 4),
            "matches": [match_json(m) for m in result.matches],
            **self.identity(),
        }
        with self._cache_lock:
            self._cache[key] = answer
            while len(self._cache) > self.limits.cache_size:
                self._cache.popitem(last=False)
        return answer

    def search_text(self, text: str, k: int) -> dict[str, Any]:
        _, finder = self.parts()
        products = finder.search_text(text, k)
        return {"matches": [product_json(p) for p in products], **self.identity()}

    def embed(self, data: bytes) -> dict[str, Any]:
        vector = self._vector(data)
        return {
            "dim": int(vector.shape[0]),
            "vector": [round(float(x), 6) for x in vector],
            **self.identity(),
        }

    def identity(self) -> dict[str, str]:
        embedder, finder = self.parts()
        return {"bundle": embedder.model_id, "catalog_version": finder.catalog_version}

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self.finder is not None:
            self.finder.close()
        if self.embedder is not None:
            self.embedder.close()


def product_json(p: Product) -> dict[str, Any]:
    return p.as_listing()


def match_json(m: Match) -> dict[str, Any]:
    return {**product_json(m.product), "score": round(m.score, 4)}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes, or when empty."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"the upload is {int(declared):,} bytes; the limit is {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"the upload is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    if not size:
        raise Refused(400, "empty body: send an image (image/jpeg, image/png …)")
    return b"".join(chunks)


def multipart_file(body: bytes, content_type: str) -> bytes:
    """The first file part of a multipart/form-data body, parsed in memory."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise Refused(400, "multipart/form-data without a boundary")
    parts: list[dict[str, Any]] = []
    current: dict[str, Any] = {}

    def on_part_begin() -> None:
        current.clear()
        current.update(headers=b"", data=bytearray(), field=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        current["field"] = current["field"] + data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        if current["field"].lower() == b"content-disposition":
            current["headers"] += data[start:end]

    def on_header_end() -> None:
        current["field"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["data"] += data[start:end]

    def on_part_end() -> None:
        parts.append(dict(current))

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # python-multipart's parse errors carry no common base class
        raise Refused(400, f"malformed multipart body ({exc})") from None
    for part in parts:
        if b"filename=" in part["headers"]:
            if not part["data"]:
                raise Refused(400, "the uploaded file is empty")
            return bytes(part["data"])
    raise Refused(
        400, "no file in the form: send the photo as a file field (e.g. -F image=@photo.jpg)"
    )


async def image_of(request: Request, limit: int) -> bytes:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in IMAGE_TYPES and kind != "multipart/form-data":
        raise Refused(
            415,
            f"unsupported content type {kind or '(none)'!r}: send {', '.join(IMAGE_TYPES)} "
            "or multipart/form-data",
        )
    body = await read_body(request, limit)
    if kind == "multipart/form-data":
        return multipart_file(body, request.headers["content-type"])
    return body


def k_of(request: Request, limits: ServiceLimits, given: Any = None) -> int:
    raw = given if given is not None else request.query_params.get("k", "5")
    try:
        k = int(raw)
    except (TypeError, ValueError):
        raise Refused(422, f"k must be a whole number, not {raw!r}") from None
    if not 1 <= k <= limits.max_k:
        raise Refused(422, f"k must be 1 to {limits.max_k}, not {k}")
    return k


def create_app(
    db: Path,
    *,
    token: str | None = None,
    limits: ServiceLimits | None = None,
    fleet_db: Path | None = None,
) -> FastAPI:
    """The service for catalog ``db``. With ``token``, every /v1 route wants
    ``Authorization: Bearer <token>``. The model and catalog load in the background:
    /healthz answers at once, /readyz once they are loaded. With ``fleet_db``, kiosks'
    update outcomes posted to /v1/fleet/report are kept there (``aislelens publish
    --promote`` reads them)."""
    limits = limits or ServiceLimits()
    fleet = FleetLog(fleet_db) if fleet_db is not None else None
    metrics = Metrics()
    service = SearchService(db, limits, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader = threading.Thread(target=service.load, name="aislelens-load", daemon=True)
        loader.start()
        yield
        loader.join()
        service.close()
        if fleet is not None:
            fleet.close()

    app = FastAPI(
        title="AisleLens", docs_url=None, redoc_url=None, lifespan=lifespan
    )  # no docs pages: they load scripts from a CDN
    app.state.service = service

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
        try:
            if token is not None and request.url.path.startswith("/v1/"):
                given = request.headers.get("authorization", "")
                if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    raise Refused(401, "missing or wrong token (Authorization: Bearer …)")
            response = await call_next(request)
        except Refused as exc:
            response = refusal(exc)
        route = request.scope.get("route")
        name = getattr(route, "path", "other")
        metrics.requests.labels(name, request.method, str(response.status_code)).inc()
        metrics.latency.labels(name).observe(time.perf_counter() - t0)
        return response

    @app.exception_handler(Refused)
    async def refused(_request: Request, exc: Refused) -> Response:
        return refusal(exc)

    @app.post("/v1/search")
    async def search(request: Request) -> dict[str, Any]:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            body = await read_body(request, 64_000)
            try:
                query = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise Refused(400, "the body is not valid JSON") from None
            text = query.get("text") if isinstance(query, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise Refused(422, 'a JSON search needs {"text": "…"} (or post an image)')
            k = k_of(request, limits, query.get("k"))
            return await service.run(lambda: service.search_text(text, k))
        k = k_of(request, limits)
        data = await image_of(request, limits.max_upload_bytes)
        return await service.run(lambda: service.search_image(data, k))

    @app.post("/v1/embed")
    async def embed(request: Request) -> dict[str, Any]:
        data = await image_of(request, limits.max_upload_bytes)
        return await service.run(lambda: service.embed(data))

    @app.get("/v1/products/{sku}")
    async def product(sku: str) -> dict[str, Any]:
        _, finder = service.parts()
        found = finder.product(sku)
        if found is None:
            raise Refused(404, f"no product with SKU {sku!r}")
        return {
            **product_json(found),
            "description": found.description,
            "related": list(found.related),
            "similar": [match_json(m) for m in finder.similar(sku, 6)],
        }

    @app.post("/v1/fleet/report")
    async def fleet_report(request: Request) -> dict[str, Any]:
        if fleet is None:
            raise Refused(404, "this service keeps no fleet log (start it with --fleet-db FILE)")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise Refused(415, "a fleet report is JSON (Content-Type: application/json)")
        body = await read_body(request, 16_000)
        try:
            report = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "the body is not valid JSON") from None
        if not isinstance(report, dict):
            raise Refused(422, "a fleet report is a JSON object")
        try:
            fleet.record(report)
        except ValueError as exc:
            raise Refused(422, str(exc)) from None
        metrics.fleet.labels(str(report["status"])).inc()
        return {"recorded": True}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        if not service.ready:
            reason = service.problem or "loading the model and catalog"
            return JSONResponse({"ready": False, "reason": reason}, status_code=503)
        return JSONResponse({"ready": True, **service.identity()})

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def refusal(exc: Refused) -> JSONResponse:
    return JSONResponse({"error": exc.reason}, status_code=exc.status, headers=exc.headers)
