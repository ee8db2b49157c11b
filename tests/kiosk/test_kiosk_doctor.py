"""`aislelens doctor`: one line per check, what to do about each problem, exit 1 on a problem."""

from __future__ import annotations

import json
import subprocess

import cv2
import numpy as np
from click.testing import CliRunner

from catalog import catalog_stats
from kiosk.cli import cli
from kiosk.doctor import check_service, diagnose, worst
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
