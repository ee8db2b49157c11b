"""`aislelens doctor`: one line per check, what to do about each problem, exit 1 on a problem."""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
from click.testing import CliRunner

from catalog import catalog_stats
from kiosk.cli import cli
from kiosk.doctor import check_display, check_service, diagnose, service_platform, worst
from kiosk.settings import load_settings


def _settings(tmp_path, **overrides):
    return load_settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        thermal={"sysfs_root": tmp_path / "sys"},
        **overrides,
    )


def _camera_folder(tmp_path):
    folder = tmp_path / "cam"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 64, 3), 40 * i, np.uint8))
    return folder


def test_a_healthy_device_is_all_ok_but_the_service(tmp_path, demo_db, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("52000\n")
    settings = _settings(
        tmp_path, catalog_db=demo_db, camera={"source": str(_camera_folder(tmp_path))}
    )
    found = {f.check: f for f in diagnose(settings, camera_timeout_s=1.0)}
    assert [found[c].status for c in ("display", "camera", "model", "catalog", "disk")] == [
        "ok"
    ] * 5
    assert "64×48" in found["camera"].detail
    assert found["temperature"].status == "ok" and "52 °C" in found["temperature"].detail
    assert f"{catalog_stats(demo_db).products} products" in found["catalog"].detail


def test_problems_say_what_to_do_and_fail_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    zone = tmp_path / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("86000\n")  # hot
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'catalog_db = "{tmp_path / "missing.db"}"\n'
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[camera]\nsource = "{tmp_path / "no-such-video.mp4"}"\n'
        f'[thermal]\nsysfs_root = "{tmp_path / "sys"}"\n'
    )
    result = CliRunner().invoke(cli, ["doctor", "--config", str(config), "--json"])
    assert result.exit_code == 1, result.output
    found = {f["check"]: f for f in json.loads(result.output)}
    assert found["camera"]["status"] == "problem" and "camera.source" in found["camera"]["fix"]
    assert found["catalog"]["status"] == "problem" and "no catalog" in found["catalog"]["detail"]
    assert found["temperature"]["status"] == "warning" and "86" in found["temperature"]["detail"]
    assert found["model"]["status"] == "ok"
    text = CliRunner().invoke(cli, ["doctor", "--config", str(config)]).output
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 7 and lines[2].startswith("problem  camera:") and " — " in lines[2]


def test_the_service_state_comes_from_systemctl(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: "/bin/systemctl")

    def fake(out):
        return lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=out, stderr="")

    assert check_service(fake("active\n")).status == "ok"
    failed = check_service(fake("failed\n"))
    assert failed.status == "warning" and "systemctl status" in failed.fix
    assert worst([check_service(fake("active"))]) == "ok"


def test_on_an_installed_device_the_display_is_the_services_platform(tmp_path, monkeypatch):
    """IT runs doctor over SSH, with no display of its own: it checks what the unit runs."""
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    assert check_display(units=(tmp_path / "none.service",)).status == "problem"  # this shell
    unit = tmp_path / "aislelens-kiosk.service"
    unit.write_text("[Service]\nEnvironment=QT_QPA_PLATFORM=offscreen ORT_DISABLE_TELEMETRY=1\n")
    assert service_platform((unit,)) == "offscreen"
    ok = check_display(units=(unit,))
    assert ok.status == "ok" and "offscreen" in ok.detail
    unit.write_text("[Service]\nEnvironment=QT_QPA_PLATFORM=wayland\n")
    monkeypatch.setattr("kiosk.display.missing_for", lambda platform: None)
    no_cage = check_display(units=(unit,), which=lambda name: None)
    assert no_cage.status == "problem" and "apt-get install cage" in no_cage.fix
    assert check_display(units=(unit,), which=lambda name: f"/usr/bin/{name}").status == "ok"
