"""Privacy: camera frames live only in memory. After many scans, nothing the kiosk wrote — its
data folder, its cache folder, temp files, logs, crash reports, the home folder, the working
directory, the catalog's folder — holds image data; the logs hold SKUs and timings."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt

from kiosk.settings import load_settings
from kiosk.testing import FixedBackend, PluggableCamera
from kiosk.ui.app import setup_logging
from kiosk.ui.main_window import KioskWindow

IMAGE_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF8": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"\x93NUMPY": "NumPy array",
    b"qoif": "QOI",
}


def _snapshot(roots: list[Path]) -> dict[Path, tuple[int, int]]:
    out = {}
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                p = Path(dirpath) / name
                try:
                    st = p.stat()
                except OSError:
                    continue
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


def _pixel_probes(frames: list[np.ndarray]) -> list[bytes]:
    """Runs of raw pixel bytes (BGR and RGB, as a frame would be dumped) from every frame."""
    probes = []
    for f in frames:
        for row in (f.shape[0] // 3, f.shape[0] // 2, 2 * f.shape[0] // 3):
            line = f[row, f.shape[1] // 4 : f.shape[1] // 4 + 24]
            probes.append(line.tobytes())
            probes.append(line[:, ::-1].tobytes())
    return probes


def _image_data_in(data: bytes, probes: list[bytes]) -> str | None:
    for magic, kind in IMAGE_MAGIC.items():
        at = data.find(magic)
        if at >= 0:
            return f"{kind} signature at byte {at}"
    if b"RIFF" in data and b"WEBP" in data:
        return "WebP signature"
    if any(p in data for p in probes):
        return "raw camera pixels"
    return None


@pytest.mark.slow
def test_many_scans_leave_no_image_data_anywhere(
    qtbot, tmp_path, monkeypatch, demo_db, demo_assets, demo_frames
):
    home, work, tmp = tmp_path / "home", tmp_path / "cwd", tmp_path / "tmp"
    for d in (home, work, tmp):
        d.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.chdir(work)

    # The "camera": frames of several products, from a folder the kiosk only reads.
    camera_dir = tmp_path / "camera"
    camera_dir.mkdir()
    scanned: list[np.ndarray] = []
    skus = ["DEMO-001", "DEMO-005", "DEMO-016", "DEMO-008", "DEMO-023", "DEMO-013"]
    for i, sku in enumerate(skus):
        for k, n in enumerate(demo_assets.held_frames(sku)[::6][:4]):
            cv2.imwrite(str(camera_dir / f"{i:02d}-{k}.png"), demo_frames[n])
            scanned.append(demo_frames[n])
    watched = [home, work, tmp, demo_db.parent]
    before = _snapshot(watched)

    settings = load_settings(
        ui={"fullscreen": False},
        thermal={"sysfs_root": tmp_path / "sys"},
        recognition={"auto_mode": True, "steady_s": 0.1, "auto_interval_s": 0.1},
    )
    assert str(settings.data_dir).startswith(str(home))  # the defaults follow XDG
    logs = setup_logging(settings.data_dir)  # as `aislelens kiosk` does
    window = KioskWindow(
        settings, FixedBackend(settings, PluggableCamera(camera_dir, 30).open, demo_db)
    )
    qtbot.addWidget(window)
    window.start()
    qtbot.waitUntil(
        lambda: window.services is not None and window.controller.last_frame is not None,
        timeout=15000,
    )
    runner = window.controller.runner
    for _ in range(30):  # taps on top of the auto scans
        qtbot.mouseClick(window.scan.find_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
        qtbot.wait(40)
    if window.scan.panel.cards:
        qtbot.mouseClick(window.scan.panel.cards[0], Qt.MouseButton.LeftButton)
    window.go_idle()
    window.staff_exit()
    logs.close()
    assert len(runner.latencies_ms) >= 30

    after = _snapshot(watched)
    written = [p for p, sig in after.items() if before.get(p) != sig]
    assert any(p.name == "kiosk.log" for p in written)
    probes = _pixel_probes(scanned)
    offenders = {}
    for path in written:
        found = _image_data_in(path.read_bytes(), probes)
        if found:
            offenders[str(path)] = found
    assert offenders == {}

    log = (settings.data_dir / "kiosk.log").read_text()
    assert "sku=DEMO-" in log and "total=" in log  # SKUs and timings, for the staff
    assert not any(
        p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".npy", ".webp"} for p in written
    )


def test_the_detector_finds_encoded_and_raw_frames(demo_frames):
    frame = demo_frames[len(demo_frames) // 2]
    probes = _pixel_probes([frame])
    assert _image_data_in(cv2.imencode(".png", frame)[1].tobytes(), probes) == (
        "PNG signature at byte 0"
    )
    assert "JPEG" in (_image_data_in(b"log\n" + cv2.imencode(".jpg", frame)[1].tobytes(), []) or "")
    assert _image_data_in(b"header" + frame.tobytes(), probes) == "raw camera pixels"
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    assert _image_data_in(rgb.tobytes(), probes) == "raw camera pixels"
    assert _image_data_in(b"INFO scan confident sku=DEMO-016 total=9.1ms\n", probes) is None
