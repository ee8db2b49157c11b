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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets process ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                found.add((address, int(port, 16)))
    return found


def _metrics(port: int) -> str:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return response.read().decode()


@pytest.mark.slow
def test_metrics_switched_on_are_served_on_loopback_only(tmp_path, demo_db, demo_frames):
    camera, env = _still_camera_and_env(tmp_path, demo_frames)
    port = _free_port()
    env.update(AISLELENS_METRICS__ENABLED="true", AISLELENS_METRICS__PORT=str(port))
    proc = _start_kiosk(demo_db, camera, env, "--run-for", "8")
    text = ""
    sockets: set[tuple[str, int]] = set()
    try:
        deadline = time.monotonic() + 60
        for _ in range(400):  # bounded: about 60 s at most
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no scans counted in the metrics"
            with contextlib.suppress(OSError):
                text = _metrics(port)
                if 'aislelens_kiosk_scans_total{outcome="' in text:
                    sockets = _listening(proc.pid)  # while it still runs
                    break
            time.sleep(0.15)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert sockets == {("0100007F", port)}  # 127.0.0.1 and nothing else
    assert "aislelens_kiosk_ready 1.0" in text
    assert 'aislelens_catalog_info{bundle="efficientnet-lite0-retail' in text
    assert 'aislelens_kiosk_scan_stage_seconds_count{stage="inference"}' in text
    assert "aislelens_catalog_products 12.0" in text
    assert "aislelens_kiosk_camera_up 1.0" in text and "aislelens_kiosk_throttled 0.0" in text
    assert 'aislelens_cache_total{result="miss"}' in text
    assert "aislelens_inference_seconds_count" in text


def _other_bundle_catalog(tmp_path: Path, demo_db: Path) -> Path:
    """The demo catalog indexed with another bundle, as a release that changed the model."""
    import shutil

    from catalog import index_catalog
    from models import ImageEmbedder

    other = tmp_path / "other" / "catalog.db"
    other.parent.mkdir()
    shutil.copy2(demo_db, other)
    embedder = ImageEmbedder.open("efficientnet-lite0", "auto")
    try:
        index_catalog(other, embedder, rebuild=True, bundle_ref="efficientnet-lite0")
    finally:
        embedder.close()
    return other


def _switch(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` atomically, as `aislelens update` switches `current`."""
    tmp_link = link.with_name(link.name + ".tmp")
    tmp_link.symlink_to(target)
    tmp_link.replace(link)


def _wait_for(log: Path, text: str, proc: subprocess.Popen, count: int = 1) -> None:
    deadline = time.monotonic() + 90
    while not (log.is_file() and log.read_text().count(text) >= count):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{text!r} never logged {count}x"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_catalog_made_with_another_model_restarts_the_kiosk_on_it(tmp_path, demo_db, demo_frames):
    """A release that changes the bundle: the running kiosk starts again in place (same
    process, so cage and systemd see no exit; systemd is told RELOADING, not STOPPING) and
    comes back ready on the catalog's own model."""
    other = _other_bundle_catalog(tmp_path, demo_db)
    current = tmp_path / "current.db"
    current.symlink_to(demo_db)
    camera, env = _still_camera_and_env(tmp_path, demo_frames)
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(0.05)
    env.update(
        AISLELENS_CATALOG_POLL_S="0.3", AISLELENS_UI__IDLE_TIMEOUT_S="1", NOTIFY_SOCKET=address
    )
    log = tmp_path / "d/aislelens/kiosk.log"
    proc = _start_kiosk(current, camera, env)
    messages: list[str] = []

    def drain() -> None:
        with contextlib.suppress(TimeoutError):
            while True:
                messages.append(sock.recv(4096).decode())

    try:
        _wait_for(log, "ready after", proc)
        pid = proc.pid
        _switch(current, other)
        _wait_for(log, "ready after", proc, count=2)  # started again, and ready
        drain()
        assert proc.poll() is None and proc.pid == pid
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        drain()
    finally:
        sock.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    text = log.read_text()
    assert "needs another model" in text and "restarting to load the new model" in text
    assert "model efficientnet-lite0@" in text  # the second start loaded the catalog's model
    kinds = [m.split("=", 1)[0] for m in messages if not m.startswith(("WATCHDOG", "STATUS"))]
    assert kinds == ["READY", "RELOADING", "READY", "STOPPING"], messages


@pytest.mark.slow
def test_a_kiosk_whose_settings_pin_the_model_keeps_its_catalog(tmp_path, demo_db, demo_frames):
    """The settings name the bundle: a catalog made with another one cannot be served, so the
    kiosk says so once and keeps searching the catalog it has (no restart into a failure)."""
    other = _other_bundle_catalog(tmp_path, demo_db)
    current = tmp_path / "current.db"
    current.symlink_to(demo_db)
    camera, env = _still_camera_and_env(tmp_path, demo_frames)
    env.update(
        AISLELENS_CATALOG_POLL_S="0.3",
        AISLELENS_UI__IDLE_TIMEOUT_S="1",
        AISLELENS_RECOGNITION__BUNDLE="efficientnet-lite0-retail",
    )
    log = tmp_path / "d/aislelens/kiosk.log"
    proc = _start_kiosk(current, camera, env)
    try:
        _wait_for(log, "ready after", proc)
        _switch(current, other)
        _wait_for(log, "still searching catalog", proc)
        time.sleep(2)  # several more polls
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    text = log.read_text()
    assert text.count("still searching catalog") == 1  # said once, not at every poll
    assert "settings' bundle" in text and "restarting" not in text
    assert text.count("ready after") == 1
