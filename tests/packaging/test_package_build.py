"""The Debian package's ingredients: the locks, the staged virtual environment, the nfpm
configuration, the conffile and the maintainer scripts. (Installing the built package in a
Debian root is ``make package-test``, which CI runs as root.)"""

from __future__ import annotations

import importlib.util
import io
import re
import string
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
import yaml

from kiosk.display import DEBIAN_PACKAGES
from kiosk.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(
        f"aislelens_packaging_{name}", PACKAGING / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load("build")


def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """name → (version, number of hashes) of a pip requirements lock."""
    found: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=\S)", lock.read_text()):
        head = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if head:
            found[re.sub(r"[-_.]+", "-", head[1]).lower()] = (
                head[2],
                block.count("--hash=sha256:"),
            )
    return found


def runtime_dependencies() -> set[str]:
    with open(REPO / "pyproject.toml", "rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", d)[0]).lower() for d in deps}


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_each_target_pins_every_runtime_dependency_with_hashes(arch):
    locked = pins(build.lock_file(arch))
    assert runtime_dependencies() <= set(locked)
    assert all(n_hashes >= 1 for _, n_hashes in locked.values())
    # Debian 12's glibc: PySide6 6.8.1+ needs 2.39 on aarch64
    assert locked["pyside6-essentials"][0] == "6.8.0.2"
    assert not build.forbidden_in([f"{name}-{v}" for name, (v, _) in locked.items()])


def test_both_architectures_run_the_same_versions():
    amd64, arm64 = (pins(build.lock_file(a)) for a in ("amd64", "arm64"))
    assert {n: v for n, (v, _) in amd64.items()} == {n: v for n, (v, _) in arm64.items()}


def test_wheels_are_chosen_for_bookworm_and_never_for_a_newer_glibc():
    args = build.platform_args("arm64")
    assert "--platform=manylinux_2_36_aarch64" in args and "--platform=linux_aarch64" in args
    assert not any("2_37" in a or "2_39" in a for a in args)
    assert "--python-version=3.11" in args
    assert "--platform=manylinux_2_17_x86_64" in build.platform_args("amd64")


def _sdist(path: Path, files: list[str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name in files:
            info = tarfile.TarInfo(f"pkg-1.0/{name}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"\n"))
    return path


def test_a_source_distribution_with_c_code_is_built_in_the_targets_root(tmp_path):
    assert build.is_native(_sdist(tmp_path / "a.tar.gz", ["setup.py", "src/bindings.cpp"]))
    assert not build.is_native(_sdist(tmp_path / "b.tar.gz", ["setup.py", "pkg/__init__.py"]))


def test_the_export_extra_is_refused():
    assert build.forbidden_in(["torch-2.14.1-cp311-cp311-linux_x86_64.whl", "numpy-2.4.whl"]) == [
        "torch-2.14.1-cp311-cp311-linux_x86_64.whl"
    ]
    assert build.forbidden_in(["open_clip_torch-2.24-py3-none-any.whl"])


def nfpm_config() -> dict:
    text = string.Template((PACKAGING / "nfpm.yaml").read_text()).substitute(
        ARCH="arm64", VERSION="0.1.0", STAGE="/stage"
    )
    return yaml.safe_load(text)


def test_the_settings_file_is_a_conffile_and_the_unit_and_command_are_installed():
    config = nfpm_config()
    by_dst = {c["dst"]: c for c in config["contents"]}
    assert by_dst["/etc/aislelens/kiosk.toml"]["type"] == "config"  # upgrades keep local edits
    assert by_dst["/usr/bin/aislelens"] == {
        "src": "/opt/aislelens/bin/aislelens",
        "dst": "/usr/bin/aislelens",
        "type": "symlink",
    }
    assert by_dst["/opt/aislelens"]["type"] == "tree"
    for item in config["contents"]:
        if item.get("type") not in ("symlink", "tree"):
            assert (REPO / item["src"]).is_file(), item["src"]
    for script in config["scripts"].values():
        assert subprocess.run(["sh", "-n", str(REPO / script)]).returncode == 0, script


def test_the_package_depends_on_what_the_kiosk_loads_under_cage():
    depends = set(nfpm_config()["depends"])
    assert {"python3.11", "cage", "systemd", "adduser"} <= depends
    wayland_and_base = [
        "libEGL.so.1",
        "libGL.so.1",
        "libX11.so.6",
        "libfontconfig.so.1",
        "libfreetype.so.6",
        "libxkbcommon.so.0",
        "libglib-2.0.so.0",
        "libdbus-1.so.3",
        "libwayland-client.so.0",
        "libwayland-cursor.so.0",
        "libwayland-egl.so.1",
    ]
    assert {DEBIAN_PACKAGES[lib] for lib in wayland_and_base} <= depends


def test_the_shipped_settings_load_and_write_only_where_the_unit_allows():
    settings = load_settings(PACKAGING / "kiosk.toml")
    unit = (PACKAGING / "systemd" / "aislelens-kiosk.service").read_text()
    assert "StateDirectory=aislelens" in unit and "CacheDirectory=aislelens" in unit
    assert "--config /etc/aislelens/kiosk.toml" in unit
    # ProtectSystem=strict: only /var/lib/aislelens and /var/cache/aislelens are writable
    assert settings.catalog_db is not None
    assert settings.catalog_db.is_relative_to("/var/lib/aislelens")
    assert settings.data_dir == Path("/var/lib/aislelens")
    assert settings.cache_dir == Path("/var/cache/aislelens")
    assert settings.ui.fullscreen and settings.ui.hide_cursor


@pytest.mark.slow
def test_the_staged_environment_runs_on_debians_python_without_a_source_check(
    tmp_path, monkeypatch
):
    """The app wheel staged as the package lays it out (the locked wheels are left out)."""
    monkeypatch.setattr(build, "BUILD", tmp_path)
    root = build.stage("amd64", tmp_path / "empty-wheelhouse")
    venv = root / "opt" / "aislelens"
    assert (venv / "bin" / "python").readlink() == Path("/usr/bin/python3.11")
    assert "home = /usr/bin" in (venv / "pyvenv.cfg").read_text()
    script = (venv / "bin" / "aislelens").read_text()
    assert script.startswith("#!/opt/aislelens/bin/python\n") and "kiosk.cli" in script
    site = venv / "lib" / "python3.11" / "site-packages"
    assert (site / "models" / "bundles" / "efficientnet-lite0-retail" / "model.int8.onnx").is_file()
    pyc = next((site / "kiosk" / "__pycache__").glob("cli.cpython-311.pyc")).read_bytes()
    assert int.from_bytes(pyc[4:8], "little") == 0b01  # hash-based, unchecked: never stale
    assert not list(site.glob("torch*")) and not (site / "bin").exists()
    # the byte-code names the installed paths, not this machine's staging folder
    assert b"/opt/aislelens/lib/python3.11/site-packages/kiosk/cli.py" in pyc
    assert str(tmp_path).encode() not in pyc
    # and it runs: this machine's Python 3.11 stands in for Debian's
    out = subprocess.run(
        [sys.executable, "-c", "import kiosk.cli, catalog, models; print('ok')"],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "ok", out.stderr
