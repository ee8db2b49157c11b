"""`aislelens kiosk`: settings errors are one line, Qt loads only for the kiosk, and the real
command starts, shows a frame, loads the catalog and exits cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner

from kiosk.cli import cli

REPO = Path(__file__).resolve().parents[2]


def test_bad_settings_are_one_line_and_status_2(tmp_path):
    config = tmp_path / "kiosk.toml"
    config.write_text("[camera]\nfps = -5\n")
    result = CliRunner().invoke(cli, ["kiosk", "--config", str(config)])
    assert result.exit_code == 2
    assert result.output.startswith("error: invalid settings")
    assert "camera.fps [AISLELENS_CAMERA__FPS]" in result.output


def test_a_kiosk_without_a_catalog_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["kiosk", "--windowed"])
    assert result.exit_code == 2 and "--demo" in result.output


def test_models_commands_never_import_qt():
    code = "import sys; from kiosk.cli import cli; print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _still_camera_and_env(tmp_path: Path, demo_frames) -> tuple[Path, dict[str, str]]:
    """A one-image camera folder and an environment that keeps the kiosk under tmp_path."""
    camera = tmp_path / "camera"
    camera.mkdir()
    cv2.imwrite(str(camera / "0.png"), demo_frames[len(demo_frames) // 2])
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_DATA_HOME": str(tmp_path / "d"),
        "AISLELENS_THERMAL__SYSFS_ROOT": str(tmp_path / "sys"),
    }
    return camera, env


def _start_kiosk(db: Path, camera: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    """`aislelens kiosk` on ``db`` and ``camera`` in its own process, output captured."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "aislelens"),
            "kiosk",
            "--catalog",
            str(db),
            "--camera",
            str(camera),
            *extra,
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_the_kiosk_command_starts_and_reports_ready(tmp_path, demo_db, demo_frames):
    camera, env = _still_camera_and_env(tmp_path, demo_frames)
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "aislelens"),
            "kiosk",
            "--windowed",
            "--catalog",
            str(demo_db),
            "--camera",
            str(camera),
            "--exit-when-ready",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    times = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0 < times["first_frame_s"] < 10 and 0 < times["ready_s"] < 10
    assert (tmp_path / "d/aislelens/kiosk.log").read_text().count("ready after") == 1


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_kiosk_stops_cleanly_on_ctrl_c_and_on_a_service_stop(
    sig, tmp_path, demo_db, demo_frames
):
    camera, env = _still_camera_and_env(tmp_path, demo_frames)
    log = tmp_path / "d/aislelens/kiosk.log"
    proc = _start_kiosk(demo_db, camera, env)
    try:
        deadline = time.monotonic() + 60
        while not (log.is_file() and "ready after" in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, "never became ready"
            time.sleep(0.1)
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    text = log.read_text()
    assert f"stopping on {sig.name}" in text and "kiosk exited with status 0" in text


@pytest.mark.slow
def test_under_systemd_it_says_ready_after_a_self_test_and_feeds_the_watchdog(
    tmp_path, demo_db, demo_frames
):
    camera, env = _still_camera_and_env(tmp_path, demo_frames)
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0.2)
    env.update(NOTIFY_SOCKET=address, WATCHDOG_USEC="400000")  # as systemd sets them
    proc = _start_kiosk(demo_db, camera, env, "--run-for", "2")
    messages: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                messages.append(sock.recv(4096).decode())
        _out, err = proc.communicate(timeout=15)
        with contextlib.suppress(TimeoutError):
            while True:
                messages.append(sock.recv(4096).decode())
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    ready = [i for i, m in enumerate(messages) if m.startswith("READY=1")]
    assert len(ready) == 1 and "STATUS=self-test scan" in messages[ready[0]], messages
    beats = [i for i, m in enumerate(messages) if m == "WATCHDOG=1"]
    assert len(beats) >= 4  # every 0.2 s from the GUI thread over the 2 s run
    assert messages[-1] == "STOPPING=1"


def test_camera_and_demo_together_are_refused():
    out = CliRunner().invoke(cli, ["kiosk", "--demo", "--camera", "0"])
    assert out.exit_code == 2
    assert "--camera and --demo do not go together" in out.output
