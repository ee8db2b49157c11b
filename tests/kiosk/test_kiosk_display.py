"""Before Qt starts: missing system libraries and a missing display are one line and exit 2,
never Qt's abort (exit 134) with a message that names the wrong library."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk import display
from kiosk.display import DisplayError, Missing, check_display, chosen_platform


def _elf_needing(tmp_path: Path, soname: str) -> Path:
    """A real shared object that needs ``soname``, which then no longer exists."""
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "the test needs a C compiler (Debian's gcc, on every machine of this project)"
    dep_dir = tmp_path / "dep"
    dep_dir.mkdir()
    base = soname.split(".so")[0].removeprefix("lib")
    (tmp_path / "dep.c").write_text("int dep_value(void) { return 1; }\n")
    (tmp_path / "main.c").write_text("int dep_value(void);\nint f(void) { return dep_value(); }\n")
    dep = dep_dir / f"lib{base}.so"
    run = [cc, "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", dep, tmp_path / "dep.c"]
    subprocess.run([str(a) for a in run], check=True)
    lib = tmp_path / "libneeds.so"
    link = [cc, "-shared", "-fPIC", "-o", lib, tmp_path / "main.c", f"-L{dep_dir}", f"-l{base}"]
    subprocess.run([str(a) for a in link], check=True)
    dep.unlink()
    return lib


def test_the_loader_names_the_missing_library_and_its_package(tmp_path):
    # a soname no machine has (a real one, e.g. libxcb-icccm.so.4, may be installed here)
    lib = _elf_needing(tmp_path, "libaislelens-test-missing.so.4")
    assert display.missing_libraries([lib]) == ("libaislelens-test-missing.so.4",)
    missing = Missing("xcb", ("libxcb-icccm.so.4", "libxcb-keysyms.so.1"))
    text = missing.message()
    assert "libxcb-icccm.so.4" in text and "libxcb-keysyms.so.1" in text
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in text
    assert "\n" not in text


def test_missing_libraries_stop_the_start_before_qt(monkeypatch):
    monkeypatch.setattr(display, "missing_libraries", lambda files: ("libxcb-keysyms.so.1",))
    with pytest.raises(DisplayError, match="apt-get install libxcb-keysyms1"):
        check_display({"DISPLAY": ":0"})


def test_no_display_says_how_to_run_headless(monkeypatch):
    monkeypatch.setattr(display, "missing_libraries", lambda files: ())
    with pytest.raises(DisplayError) as err:
        check_display({})
    assert "DISPLAY is not set" in str(err.value)
    assert "xvfb-run" in str(err.value) and "--platform offscreen" in str(err.value)
    with pytest.raises(DisplayError, match="no X server answers on DISPLAY=:87"):
        check_display({"DISPLAY": ":87"})
    with pytest.raises(DisplayError, match="WAYLAND_DISPLAY is not set"):
        check_display({"QT_QPA_PLATFORM": "wayland"})
    assert check_display({"QT_QPA_PLATFORM": "offscreen"}) == "offscreen"


def test_the_platform_is_the_one_qt_would_choose():
    assert chosen_platform({}) == "xcb"
    assert chosen_platform({"QT_QPA_PLATFORM": "wayland;xcb"}) == "wayland"
    assert chosen_platform({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}) == (
        "wayland"
    )
    # the real plugin files exist for the platforms the kiosk supports
    for name in ("xcb", "offscreen", "wayland"):
        assert display.qt_files(name)[-1].name == display.PLUGINS[name]


def test_the_kiosk_command_without_a_display_is_one_line_and_status_2(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env["XDG_DATA_HOME"] = str(tmp_path)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    cmd = [str(Path(sys.executable).parent / "aislelens"), "kiosk", "--demo", "--windowed"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    # whichever comes first on this machine: the libraries to install, or how to run headless
    assert "apt-get install" in lines[0] or "xvfb-run" in lines[0]
    assert not (tmp_path / "cache").exists()  # stopped before building anything


def test_the_readme_names_only_packages_the_check_knows():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### System packages (Linux)", 1)[1].split("**No display at all**")[0]
    named = {
        word
        for row in section.splitlines()
        if row.startswith("| ") and "`" in row
        for word in row.split("`")[-2].split()
    }
    assert len(named) > 20
    assert named <= set(display.DEBIAN_PACKAGES.values())
