"""Slow down when the device runs hot or its battery runs low, and speed up again after.

:func:`read_power` reads a sysfs tree — ``class/thermal/thermal_zone*/temp`` (millidegrees),
the Raspberry Pi firmware's ``get_throttled`` flags, and ``class/power_supply/*`` batteries —
from a root that tests point at a fake tree. :class:`ThrottleMonitor` turns readings into a
:class:`ThrottleState` with hysteresis, so the kiosk does not flap around a threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .settings import ThermalSettings

log = logging.getLogger(__name__)

#: where the Pi firmware publishes vcgencmd's get_throttled bits, relative to the sysfs root
PI_THROTTLED = Path("devices/platform/soc/soc:firmware/get_throttled")
PI_FLAGS = {
    0: "under-voltage",
    1: "arm frequency capped",
    2: "currently throttled",
    3: "soft temperature limit",
}


@dataclass(frozen=True)
class PowerReading:
    """One look at the sensors; None where the device has no such sensor."""

    temp_c: float | None = None
    pi_flags: int | None = None  # the low 4 bits of get_throttled: the "now" flags
    battery_pct: float | None = None
    on_battery: bool | None = None  # True while discharging


@dataclass(frozen=True)
class ThrottleState:
    """Whether the kiosk is slowed down, why, and the rates it should use now."""

    throttled: bool
    reasons: tuple[str, ...]
    reading: PowerReading
    camera_fps: float
    auto_interval_s: float
    notes: tuple[str, ...] = field(default=())  # e.g. Pi flags that do not throttle by themselves


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def read_power(root: Path) -> PowerReading:
    """Read CPU temperature, Pi throttling flags and battery state under the sysfs ``root``."""
    temps = []
    for zone in sorted((root / "class" / "thermal").glob("thermal_zone*")):
        raw = _read_text(zone / "temp")
        try:
            value = float(raw) / 1000.0 if raw is not None else None
        except ValueError:
            value = None
        if value is not None and -40.0 < value < 200.0:  # ignore absent or broken zones
            temps.append(value)
    pi_flags = None
    raw_flags = _read_text(root / PI_THROTTLED)
    if raw_flags is not None:
        try:
            pi_flags = int(raw_flags, 16) & 0xF
        except ValueError:
            pi_flags = None
    battery_pct = on_battery = None
    for supply in sorted((root / "class" / "power_supply").glob("*")):
        if (_read_text(supply / "type") or "").lower() != "battery":
            continue
        try:
            battery_pct = float(_read_text(supply / "capacity") or "")
        except ValueError:
            battery_pct = None
        status = (_read_text(supply / "status") or "").lower()
        on_battery = status == "discharging"
        break
    return PowerReading(max(temps) if temps else None, pi_flags, battery_pct, on_battery)


class ThrottleMonitor:
    """Decides the recognition rate and camera fps from power readings, with hysteresis."""

    def __init__(
        self, settings: ThermalSettings, normal_fps: float, normal_interval_s: float
    ) -> None:
        self.settings = settings
        self.normal_fps = normal_fps
        self.normal_interval_s = normal_interval_s
        self.state = ThrottleState(False, (), PowerReading(), normal_fps, normal_interval_s)
        self._hot = False  # each condition has its own hysteresis
        self._low = False

    def poll(self) -> ThrottleState:
        """Read the sysfs tree and update :attr:`state`."""
        return self.update(read_power(self.settings.sysfs_root))

    def update(self, reading: PowerReading) -> ThrottleState:
        """Fold one reading into the state; logs each change."""
        s = self.settings
        hot = reading.temp_c is not None and reading.temp_c >= s.temp_high_c
        cool = reading.temp_c is None or reading.temp_c <= s.temp_ok_c
        discharging = bool(reading.on_battery) and reading.battery_pct is not None
        low = (
            discharging
            and reading.battery_pct is not None
            and reading.battery_pct <= s.battery_low_pct
        )
        charged = (not discharging) or (
            reading.battery_pct is not None and reading.battery_pct >= s.battery_ok_pct
        )
        flags = reading.pi_flags or 0
        pi_hot = bool(flags & 0b1100)  # currently throttled or soft temperature limit
        self._hot = hot or (self._hot and not cool)
        self._low = low or (self._low and not charged)
        reasons = []
        if self._hot:
            reasons.append(f"CPU {reading.temp_c:.0f} °C")
        if pi_hot:
            reasons.append(
                "firmware: " + ", ".join(PI_FLAGS[b] for b in (2, 3) if flags & (1 << b))
            )
        if self._low:
            reasons.append(f"battery {reading.battery_pct:.0f} %")
        throttled = bool(reasons)
        notes = tuple(PI_FLAGS[b] for b in (0, 1) if flags & (1 << b))
        new = ThrottleState(
            throttled,
            tuple(reasons),
            reading,
            s.throttled_camera_fps if throttled else self.normal_fps,
            max(s.throttled_auto_interval_s, self.normal_interval_s)
            if throttled
            else self.normal_interval_s,
            notes,
        )
        if new.throttled != self.state.throttled:
            if throttled:
                log.warning("throttling: %s", "; ".join(reasons))
            else:
                log.info("throttling off: back to %.0f fps", self.normal_fps)
        self.state = new
        return new
