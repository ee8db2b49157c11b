"""Prometheus metrics: those the kiosk and the REST service share, and the kiosk's own.

Qt-free. The kiosk imports this module only when ``[metrics] enabled = true``: by default it
loads no HTTP server and opens no socket. When on, :meth:`KioskMetrics.serve` listens on
127.0.0.1 only (a scraper on the same device, or an SSH tunnel, reads it); never pixels, only
counts, timings and the catalog's and model's versions.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from catalog.types import ProductFinder

log = logging.getLogger(__name__)

#: the only address the kiosk's metrics listen on
METRICS_HOST = "127.0.0.1"
STAGE_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024)


class RecognitionMetrics:
    """What any AisleLens process that recognises products reports: model time, result cache
    lookups, and which catalog (and model) it serves."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.inference = Histogram(
            "aislelens_inference_seconds", "Model time per image", buckets=STAGE_BUCKETS, registry=r
        )
        self.cache = Counter("aislelens_cache", "Result cache lookups", ["result"], registry=r)
        self.catalog = Gauge(
            "aislelens_catalog_info", "The catalog served", ["version", "bundle"], registry=r
        )
        self.products = Gauge("aislelens_catalog_products", "Products searchable", registry=r)

    def set_catalog(self, finder: ProductFinder, bundle_id: str) -> None:
        """One catalog at a time: the new one's line is set, then the others removed."""
        version = finder.catalog_version
        self.catalog.labels(version, bundle_id).set(1)
        for labels in list(self.catalog._metrics):  # (prometheus-client has no "all but")
            if labels != (version, bundle_id):
                self.catalog.remove(*labels)
        self.products.set(finder.summary().products)


class KioskMetrics(RecognitionMetrics):
    """The kiosk's scans: what shoppers were shown, how long each stage took, and its state."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry)
        r = self.registry
        self.scans = Counter(
            "aislelens_kiosk_scans", "Scans by what the shopper was shown", ["outcome"], registry=r
        )
        self.stages = Histogram(
            "aislelens_kiosk_scan_stage_seconds",
            "Time per stage of a scan (hash, preprocess, inference, search, lookup, total)",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.failures = Counter(
            "aislelens_kiosk_scan_failures",
            "Scans that failed (model or catalog error)",
            registry=r,
        )
        self.ready = Gauge(
            "aislelens_kiosk_ready", "1 once the start-up self-test passed", registry=r
        )
        self.camera = Gauge(
            "aislelens_kiosk_camera_up", "1 while the camera delivers frames", registry=r
        )
        self.throttled = Gauge(
            "aislelens_kiosk_throttled", "1 while slowed down for heat or battery", registry=r
        )

    def observe(self, outcome: str, timings_ms: dict[str, float], from_cache: bool) -> None:
        """One scan's result (a Recognition's outcome value, timings and cache flag)."""
        self.scans.labels(outcome).inc()
        self.cache.labels("hit" if from_cache else "miss").inc()
        if from_cache:
            return
        for stage, ms in timings_ms.items():
            self.stages.labels(stage).observe(ms / 1000)
        if "inference" in timings_ms:
            self.inference.observe(timings_ms["inference"] / 1000)

    def serve(self, port: int) -> Any:
        """Answer ``GET /metrics`` on 127.0.0.1:``port`` from a daemon thread; returns the
        server (``shutdown()`` stops it). Raises OSError when the port is taken."""
        server, _thread = start_http_server(port, addr=METRICS_HOST, registry=self.registry)
        log.info("metrics on http://%s:%d/metrics", METRICS_HOST, port)
        return server


def stop_serving(server: Any) -> None:
    server.shutdown()
    server.server_close()
