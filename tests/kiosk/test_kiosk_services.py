"""Qt-free services: frame quality, the perceptual-hash cache, throttling, outcome thresholds."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from catalog.decisions import DEFAULT_THRESHOLDS, DecisionThresholds
from catalog.types import Match, Product, SearchResult
from kiosk.cache import ResultCache, cache_scope, frame_signature
from kiosk.demo.stills import empty_frame, product_frame
from kiosk.quality import Hint, QualityChecker, SteadyTimer
from kiosk.recognizer import Outcome, classify, thresholds_for
from kiosk.settings import QualitySettings, RecognitionSettings, ThermalSettings
from kiosk.throttle import ThrottleMonitor, read_power


def _checker() -> QualityChecker:
    return QualityChecker(QualitySettings(), 0.8)


def test_quality_hints_for_dark_blurred_empty_moving_and_good_frames():
    good = product_frame("DEMO-001", seed=1, blur=0.0, gain=1.0)
    c = _checker()
    assert c.check(good).hint is None
    assert c.check(good).hint is None  # steady: still fine
    assert _checker().check(product_frame("DEMO-001", seed=1, gain=0.2)).hint is Hint.TOO_DARK
    assert _checker().check(np.full((480, 640, 3), 250, np.uint8)).hint is Hint.TOO_BRIGHT
    assert _checker().check(cv2.GaussianBlur(good, (0, 0), 6)).hint is Hint.BLURRY
    assert _checker().check(empty_frame()).hint is Hint.MOVE_CLOSER
    moving = _checker()
    moving.check(good)
    assert moving.check(np.roll(good, 80, axis=1)).hint is Hint.HOLD_STILL


def test_auto_scan_fires_once_per_steady_scene():
    c = _checker()
    steady = SteadyTimer(steady_s=0.3, interval_s=0.5)
    frame = product_frame("DEMO-005", seed=2)
    fired = [steady.update(c.check(frame), t / 30) for t in range(60)]  # 2 s of the same scene
    assert fired.count(True) == 1 and fired.index(True) >= 9  # after 0.3 s steady, only once
    moved = c.check(np.roll(frame, 90, axis=1))
    assert moved.hint is Hint.HOLD_STILL
    steady.update(moved, 2.05)
    again = [steady.update(c.check(frame), 2.1 + t / 30) for t in range(30)]
    assert again.count(True) == 1  # a new scene after movement scans again


def test_cache_hits_the_same_product_despite_noise_and_misses_others():
    cache: ResultCache[str] = ResultCache(size=3, max_distance=5)
    scope = cache_scope("v1", "bundle-a")
    a = product_frame("DEMO-005", seed=3)
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    cache.put(frame_signature(a), scope, "cola")
    assert cache.get(frame_signature(noisy), scope) == "cola"
    assert cache.get(frame_signature(a), cache_scope("v2", "bundle-a")) is None  # new catalog
    lime = product_frame("DEMO-006", seed=3)  # same pose and can shape, other colours
    assert cache.get(frame_signature(lime), scope) is None
    for i, sku in enumerate(["DEMO-016", "DEMO-017", "DEMO-019"]):
        cache.put(frame_signature(product_frame(sku, seed=i)), scope, sku)
    assert cache.get(frame_signature(a), scope) is None  # evicted: least recently used
    assert len(cache) == 3
    cache.clear()
    assert len(cache) == 0


def _sysfs(
    root: Path,
    temp_c: float | None = None,
    pi: str | None = None,
    battery: tuple[float, str] | None = None,
) -> Path:
    if temp_c is not None:
        zone = root / "class/thermal/thermal_zone0"
        zone.mkdir(parents=True, exist_ok=True)
        (zone / "temp").write_text(f"{int(temp_c * 1000)}\n")
    if pi is not None:
        flags = root / "devices/platform/soc/soc:firmware"
        flags.mkdir(parents=True, exist_ok=True)
        (flags / "get_throttled").write_text(pi + "\n")
    if battery is not None:
        bat = root / "class/power_supply/BAT0"
        bat.mkdir(parents=True, exist_ok=True)
        (bat / "type").write_text("Battery\n")
        (bat / "capacity").write_text(f"{battery[0]:.0f}\n")
        (bat / "status").write_text(battery[1] + "\n")
    return root


def test_throttling_follows_temperature_with_hysteresis(tmp_path):
    root = _sysfs(tmp_path, temp_c=55)
    monitor = ThrottleMonitor(ThermalSettings(sysfs_root=root), normal_fps=30, normal_interval_s=1)
    assert not monitor.poll().throttled
    _sysfs(root, temp_c=80)
    hot = monitor.poll()
    assert hot.throttled and hot.camera_fps == 10 and hot.auto_interval_s == 3
    assert any("80" in r for r in hot.reasons)
    _sysfs(root, temp_c=71)  # between ok (68) and high (75): stays slow
    assert monitor.poll().throttled
    _sysfs(root, temp_c=60)
    cool = monitor.poll()
    assert not cool.throttled and cool.camera_fps == 30 and cool.auto_interval_s == 1


def test_throttling_on_pi_flags_and_low_battery(tmp_path):
    root = _sysfs(tmp_path, temp_c=50, pi="0x50005")  # under-voltage now + throttled now
    monitor = ThrottleMonitor(ThermalSettings(sysfs_root=root), normal_fps=30, normal_interval_s=1)
    state = monitor.poll()
    assert state.throttled and "currently throttled" in state.reasons[0]
    assert state.notes == ("under-voltage",)
    _sysfs(root, pi="0x0", battery=(15, "Discharging"))
    assert monitor.poll().throttled
    _sysfs(root, battery=(15, "Charging"))
    assert not monitor.poll().throttled
    reading = read_power(root)
    assert reading.temp_c == 50 and reading.battery_pct == 15 and reading.on_battery is False


def test_missing_sensors_mean_no_throttling(tmp_path):
    monitor = ThrottleMonitor(ThermalSettings(sysfs_root=tmp_path / "none"), 30, 1)
    state = monitor.poll()
    assert not state.throttled and state.reading.temp_c is None


def _result(*scores: float) -> SearchResult:
    matches = [Match(Product(sku=f"S{i}", name=f"P{i}"), s) for i, s in enumerate(scores)]
    margin = scores[0] - scores[1] if len(scores) > 1 else 1.0
    return SearchResult(matches, margin)


def test_outcomes_from_score_and_margin():
    s = DEFAULT_THRESHOLDS
    assert classify(_result(0.86, 0.70), s) is Outcome.CONFIDENT
    assert classify(_result(0.86, 0.84), s) is Outcome.NOT_SURE  # close runner-up
    assert classify(_result(0.70, 0.50), s) is Outcome.NOT_SURE  # low score
    assert classify(_result(0.45, 0.40), s) is Outcome.NO_MATCH
    assert classify(SearchResult([], 0.0), s) is Outcome.NO_MATCH


class _Calibrated:
    decision_thresholds = DecisionThresholds(0.2, 0.1, 0.1, source="calibrated: test")


def test_the_catalogs_thresholds_apply_unless_the_settings_give_their_own():
    catalog = thresholds_for(_Calibrated(), RecognitionSettings())  # type: ignore[arg-type]
    assert catalog.source == "calibrated: test"
    assert classify(_result(0.35, 0.20), catalog) is Outcome.CONFIDENT
    assert classify(_result(0.35, 0.30), catalog) is Outcome.NOT_SURE
    mine = thresholds_for(_Calibrated(), RecognitionSettings(confident_margin=0.2))  # type: ignore[arg-type]
    assert mine.confident_margin == 0.2 and mine.min_score == 0.1
    assert "settings (confident_margin)" in mine.source
    assert classify(_result(0.35, 0.20), mine) is Outcome.NOT_SURE
