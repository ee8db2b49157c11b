"""``aislelens doctor``: one command IT runs on the device to see what is wrong, if anything.

Each check is one line: ``ok``, ``warning`` or ``problem``, what it looked at, and for anything
but ok, what to do. Qt-free and quick (a couple of seconds, most of it waiting for camera
frames); it reads the settings the kiosk would use and changes nothing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .settings import KioskSettings

#: what a kiosk needs free on its data disk (logs, a re-published catalog beside the old one)
MIN_FREE_BYTES = 1_000_000_000
SERVICE = "aislelens-kiosk.service"
#: where the package puts the unit, and where an admin's own copy would override it
UNITS = (Path("/etc/systemd/system") / SERVICE, Path("/lib/systemd/system") / SERVICE)


@dataclass(frozen=True)
class Finding:
    status: str  # "ok", "warning" or "problem"
    check: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<8} {self.check}: {self.detail}"
        return f"{text} — {self.fix}" if self.fix else text

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def check_bundle(settings: KioskSettings) -> Finding:
    from models import ModelError, load_bundle

    try:
        bundle = load_bundle(settings.recognition.bundle)
        bundle.verify()  # size and sha256 of every file
    except ModelError as exc:
        return Finding("problem", "model", str(exc), "reinstall the package")
    m = bundle.manifest
    return Finding("ok", "model", f"{m.name} {m.version}, every file's sha256 matches")


def check_catalog(settings: KioskSettings) -> Finding:
    from catalog import CatalogError, catalog_stats, open_finder

    db = settings.catalog_db
    if db is None:
        return Finding(
            "warning", "catalog", "none set (catalog_db)", "set catalog_db, or run the demo"
        )
    try:
        stats = catalog_stats(db)
        finder = open_finder(db)
    except CatalogError as exc:
        return Finding("problem", "catalog", str(exc), f"aislelens catalog check --db {db}")
    try:
        note, products = finder.index_note, finder.searchable_products
    finally:
        finder.close()
    detail = f"{db}: {stats.products} products, {stats.embedded} photos embedded"
    if stats.pending or note:
        reason = f"{stats.pending} photos not embedded yet" if stats.pending else note
        return Finding(
            "warning", "catalog", f"{detail}; {reason}", f"aislelens catalog index --db {db}"
        )
    if not products:
        return Finding(
            "problem",
            "catalog",
            f"{detail}; nothing to search",
            f"aislelens catalog index --db {db}",
        )
    return Finding("ok", "catalog", detail + ", index up to date")


def check_camera(settings: KioskSettings, timeout_s: float = 3.0) -> Finding:
    from .errors import CameraError
    from .sources import open_source

    c = settings.camera
    try:
        source = open_source(c.source, width=c.width, height=c.height, fps=c.fps, loop=False)
    except CameraError as exc:
        return Finding("problem", "camera", str(exc), "plug the camera in, or set camera.source")
    frames, shape, started = 0, None, time.monotonic()
    try:
        while time.monotonic() - started < timeout_s and frames < 10:
            frame = source.read()
            if frame is None:
                break
            frames, shape = frames + 1, frame.shape
    finally:
        source.close()
    if not frames or shape is None:
        return Finding("problem", "camera", f"{source.description}: no frames", "check the cable")
    fps = frames / max(1e-3, time.monotonic() - started)
    return Finding(
        "ok", "camera", f"{source.description}: {shape[1]}×{shape[0]}, {fps:.0f} frames/s"
    )


def service_platform(units: tuple[Path, ...] = UNITS) -> str | None:
    """The Qt platform the installed kiosk service runs on (its ``QT_QPA_PLATFORM``), or None
    when no unit is installed here."""
    for unit in units:
        if unit.exists():
            found = re.search(r"\bQT_QPA_PLATFORM=([\w-]+)", unit.read_text())
            return found.group(1) if found else "xcb"
    return None


def check_display(
    units: tuple[Path, ...] = UNITS, which: Callable[[str], str | None] = shutil.which
) -> Finding:
    """On an installed device, whether the service's platform (Wayland in a cage session) has
    what it loads; elsewhere, whether Qt could start in this shell."""
    from .display import DisplayError, missing_for
    from .display import check_display as qt_can_start

    platform = service_platform(units)
    if platform is not None:
        missing = missing_for(platform)
        if missing is not None:
            return Finding("problem", "display", missing.message(), "reinstall the package")
        if platform.startswith("wayland") and which("cage") is None:
            return Finding(
                "problem",
                "display",
                "cage (the kiosk's compositor) is not installed",
                "sudo apt-get install cage",
            )
        return Finding("ok", "display", f"the service's Qt platform {platform} has its libraries")
    try:
        platform = qt_can_start()
    except DisplayError as exc:
        return Finding("problem", "display", str(exc), "see the README's deployment section")
    return Finding("ok", "display", f"Qt platform {platform}")


def check_disk(settings: KioskSettings) -> Finding:
    path = settings.data_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    usage = shutil.disk_usage(path)
    detail = f"{usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB ({path})"
    if usage.free < MIN_FREE_BYTES:
        return Finding("problem", "disk", detail, "free some space (old logs, catalogs)")
    return Finding("ok", "disk", detail)


def check_power(settings: KioskSettings) -> Finding:
    from .throttle import ThrottleMonitor

    state = ThrottleMonitor(settings.thermal, settings.camera.fps, 1.0).poll()
    r = state.reading
    detail = f"CPU {r.temp_c:.0f} °C" if r.temp_c is not None else "no temperature sensor"
    if state.throttled:
        return Finding(
            "warning",
            "temperature",
            f"{detail}; slowed down: {'; '.join(state.reasons)}",
            "cool the device (a heatsink or fan), or use a 27 W power supply",
        )
    return Finding("ok", "temperature", detail + ", not throttled")


def check_service(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> Finding:
    if shutil.which("systemctl") is None:
        return Finding("warning", "service", "no systemd here", "install the package on the device")
    try:
        out = run(
            ["systemctl", "is-active", SERVICE], capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("warning", "service", f"systemctl failed ({exc})")
    if out == "active":
        return Finding("ok", "service", f"{SERVICE} is running")
    return Finding(
        "warning", "service", f"{SERVICE} is {out or 'unknown'}", f"systemctl status {SERVICE}"
    )


def diagnose(settings: KioskSettings, *, camera_timeout_s: float = 3.0) -> list[Finding]:
    """Every check, in the order IT would look."""
    return [
        check_service(),
        check_display(),
        check_camera(settings, camera_timeout_s),
        check_bundle(settings),
        check_catalog(settings),
        check_disk(settings),
        check_power(settings),
    ]


def worst(findings: list[Finding]) -> str:
    order = {"ok": 0, "warning": 1, "problem": 2}
    return max((f.status for f in findings), key=order.__getitem__, default="ok")


def default_config() -> Path | None:
    path = Path("/etc/aislelens/kiosk.toml")
    return path if path.is_file() else None
