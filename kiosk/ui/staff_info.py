"""The rows of the staff page, gathered from the controller: what a store manager needs
(catalog, products and photos, model, today's scans) and the diagnostics behind it."""

from __future__ import annotations

import numpy as np

from catalog.errors import CatalogError

from ..i18n import Translator
from .controller import KioskController

#: (i18n key of the label, value)
Rows = list[tuple[str, str]]


def _ms(values: list[float], tr: Translator) -> str:
    if not values:
        return "–"
    p50, p95 = np.percentile(values, [50, 95])
    return tr("staff_latency_value", p50=p50, p95=p95, last=values[-1])


def readable_id(model_id: str) -> str:
    """``name@version/precision:hash`` as words a page can wrap: "name version · precision:hash"."""
    return model_id.replace("@", " ").replace("/", " · ")


def store_rows(c: KioskController, tr: Translator) -> Rows:
    """Catalog name and date, products and photos, the model, today's scans by outcome."""
    s = c.services
    loading = tr("staff_loading")
    counts = c.tally.counts()
    scans = tr(
        "staff_scans_value",
        total=sum(counts.values()),
        found=counts.get("confident", 0),
        not_sure=counts.get("not_sure", 0),
        no_match=counts.get("no_match", 0),
    )
    if s is None:
        return [("staff_catalog", loading), ("staff_scans", scans)]
    try:
        info = s.finder.summary()
    except CatalogError as exc:  # a damaged catalog: say so, the page stays up
        return [("staff_catalog", str(exc)), ("staff_scans", scans)]
    catalog = (
        tr("staff_catalog_value", name=info.name, updated=info.updated.replace("T", " "))
        if not s.demo
        else tr("staff_demo_catalog")
    )
    products = tr(
        "staff_products_value",
        products=info.products,
        photos=info.catalog_photos,
        shots=info.enrolled_photos,
    )
    return [
        ("staff_catalog", catalog),
        ("staff_products", products),
        ("staff_model", readable_id(s.embedder.model_id)),
        ("staff_scans", scans),
    ]


def diagnostic_rows(c: KioskController, display_fps: float, tr: Translator) -> Rows:
    """Versions, camera, speed, cache, temperature and throttling."""
    s = c.services
    cam = c.camera
    loading = tr("staff_loading")
    throttle = c.monitor.state
    reading = throttle.reading
    temp = f"{reading.temp_c:.1f} °C" if reading.temp_c is not None else "–"
    if reading.pi_flags is not None:
        temp += f" (Pi flags 0x{reading.pi_flags:x})"
    battery = "–"
    if reading.battery_pct is not None:
        source = tr("staff_on_battery") if reading.on_battery else tr("staff_mains")
        battery = tr("staff_battery_value", pct=reading.battery_pct, source=source)
    rows = [
        ("staff_catalog_version", s.finder.catalog_version if s else loading),
        ("staff_catalog_bundle", readable_id(s.finder.bundle_id) if s else loading),
        (
            "staff_camera",
            f"{tr('staff_camera_' + cam.state.value)} · {cam.loop.description}" if cam else "–",
        ),
        (
            "staff_camera_fps",
            tr("staff_camera_fps_value", fps=cam.loop.measured_fps(), cap=cam.loop.fps)
            if cam
            else "–",
        ),
        ("staff_display_fps", f"{display_fps:.1f}"),
        ("staff_latency", _ms(list(c.runner.latencies_ms), tr)),  # frame captured → results
        (
            "staff_stall",
            tr("staff_stall_value", max=c.stall.max_stall_ms, busy=c.stall.max_stall_busy_ms),
        ),
        (
            "staff_cache",
            tr("staff_cache_value", n=len(s.cache), hits=s.cache.hits, misses=s.cache.misses)
            if s
            else "–",
        ),
        (
            "staff_startup",
            tr("staff_startup_value", frame=c.first_frame_s or 0, ready=c.ready_s or 0),
        ),
        ("staff_temperature", temp),
        ("staff_battery", battery),
        (
            "staff_throttling",
            tr("staff_throttle_on", reasons="; ".join(throttle.reasons))
            if throttle.throttled
            else tr("staff_throttle_off"),
        ),
        (
            "staff_rates",
            tr("staff_rates_value", fps=throttle.camera_fps, every=throttle.auto_interval_s),
        ),
    ]
    if throttle.notes:
        rows.append(("staff_power", ", ".join(throttle.notes)))
    return rows
