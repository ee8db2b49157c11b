"""The rows of the staff page, gathered from the controller (plain strings)."""

from __future__ import annotations

import numpy as np

from .controller import KioskController


def _ms(values: list[float]) -> str:
    if not values:
        return "no scans yet"
    p50, p95 = np.percentile(values, [50, 95])
    last = ", ".join(f"{v:.0f}" for v in values[-8:])
    return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms (last: {last})"


def staff_rows(c: KioskController, display_fps: float) -> list[tuple[str, str]]:
    """Versions, camera, speed, cache, temperature and throttling, as (label, value) rows."""
    s = c.services
    cam = c.camera
    throttle = c.monitor.state
    reading = throttle.reading
    temp = f"{reading.temp_c:.1f} °C" if reading.temp_c is not None else "no sensor"
    if reading.pi_flags is not None:
        temp += f" (Pi flags 0x{reading.pi_flags:x})"
    battery = "no battery"
    if reading.battery_pct is not None:
        battery = f"{reading.battery_pct:.0f} % ({'on battery' if reading.on_battery else 'mains'})"
    rows = [
        ("Model bundle", s.embedder.model_id if s else "loading…"),
        ("Catalog version", s.finder.catalog_version if s else "loading…"),
        ("Catalog bundle", s.finder.bundle_id if s else "loading…"),
        ("Camera", f"{cam.state.value} · {cam.loop.description}" if cam else "not started"),
        ("Camera fps", f"{cam.loop.measured_fps():.1f} (cap {cam.loop.fps:.0f})" if cam else "–"),
        ("Display fps", f"{display_fps:.1f} (last 60 frames shown)"),
        ("Scan latency", _ms(list(c.runner.latencies_ms)) + " · frame captured → results"),
        (
            "GUI stall (max)",
            f"{c.stall.max_stall_ms:.0f} ms, {c.stall.max_stall_busy_ms:.0f} ms during recognition",
        ),
        (
            "Cache",
            f"{len(s.cache)} entries, {s.cache.hits} hits / {s.cache.misses} misses" if s else "–",
        ),
        ("Start-up", f"first frame {c.first_frame_s or 0:.2f} s, ready {c.ready_s or 0:.2f} s"),
        ("Temperature", temp),
        ("Battery", battery),
        ("Throttling", ("ON: " + "; ".join(throttle.reasons)) if throttle.throttled else "off"),
        (
            "Rates now",
            f"camera {throttle.camera_fps:.0f} fps, auto scan every "
            f"{throttle.auto_interval_s:.1f} s",
        ),
    ]
    if throttle.notes:
        rows.append(("Power notes", ", ".join(throttle.notes)))
    return rows
