"""Privacy under a syscall trace: the kiosk on its demo shop and the catalog commands, each run
under ``strace -f``, open no IPv4/IPv6 socket (no DNS, no connect, no sendto) and create files
only in the documented places (README, "Privacy").

Sampling /proc/PID/fd misses a DNS query that lasts a millisecond; a syscall trace does not.
ONNX Runtime's telemetry sent its first query about 15 s after the library loaded, so the kiosk
runs for 25 s of scanning after it is ready.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parent.parent
AISLELENS = str(Path(sys.executable).parent / "aislelens")
NETWORK = re.compile(r"AF_INET6?\b")

#: Every file the kiosk and the catalog commands may create, relative to the home folder or the
#: working folder (README, "Privacy"). Nothing else may appear under HOME, TMPDIR, the XDG
#: folders or the working folder.
DOCUMENTED = (
    "home/.local/share/aislelens/kiosk.log*",
    "home/.local/share/aislelens/crash.log",
    "home/.cache/aislelens/demo-*",  # the demo shop (drawings, video, catalog): rebuildable
    "cwd/store.db",
    "cwd/store.db-*",  # SQLite's journal / WAL while it is open
    "cwd/store.db.*",  # the vector index and the prototype graph
    "cwd/products.csv",
    "cwd/photos/*",  # the test's own input files
)


def strace() -> str:
    path = shutil.which("strace")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("strace is missing: `make sysdeps` installs it (Debian package strace)")
        pytest.skip("strace is not installed (apt-get install strace; CI installs it)")
    return path


def traced(cmd: list[str], root: Path, env: dict[str, str], timeout: int) -> tuple[str, list[str]]:
    """Run ``cmd`` under strace -f; (stdout, the trace's lines that use an IP address family)."""
    log = root / "trace.txt"
    out = subprocess.run(
        [
            strace(),
            "-f",
            "-qq",
            "-e",
            "trace=socket,socketpair,connect,bind,sendto,sendmsg,sendmmsg",
            "-o",
            str(log),
            *cmd,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=root / "cwd",
        timeout=timeout,
    )
    assert out.returncode == 0, f"{cmd[1:3]} failed: {out.stderr[-2000:]}"
    lines = log.read_text().splitlines()
    log.unlink()
    return out.stdout, [line for line in lines if NETWORK.search(line)]


def files_under(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not p.is_relative_to(root / "cwd" / "photos")
    } | {str(p.relative_to(root)) for p in (root / "cwd" / "photos").glob("*")}


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    for d in ("home", "cwd", "tmp", "sys"):
        (tmp_path / d).mkdir()
    home = tmp_path / "home"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "TMPDIR": str(tmp_path / "tmp"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_RUNTIME_DIR": str(tmp_path / "tmp"),
        "QT_QPA_PLATFORM": "offscreen",
        "AISLELENS_THERMAL__SYSFS_ROOT": str(tmp_path / "sys"),
    }
    return tmp_path, env


def undocumented(files: set[str]) -> list[str]:
    return sorted(f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in DOCUMENTED))


@pytest.mark.slow
def test_the_kiosk_on_its_demo_shop_uses_no_network_and_writes_only_its_files(sandbox):
    root, env = sandbox
    stdout, network = traced(
        [AISLELENS, "kiosk", "--demo", "--windowed", "--run-for", "25"], root, env, timeout=400
    )
    assert network == []
    assert '"scans": ' in stdout and '"scans": 0' not in stdout  # it did recognise products
    files = files_under(root)
    assert undocumented(files) == []
    assert "home/.local/share/aislelens/kiosk.log" in files


@pytest.mark.slow
def test_catalog_import_index_and_search_use_no_network_and_write_only_the_catalog(sandbox):
    sys.path.insert(0, str(REPO / "tests" / "catalog"))
    from catalog_images import draw_product

    root, env = sandbox
    photos = root / "cwd" / "photos"
    photos.mkdir()
    with open(root / "cwd" / "products.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sku", "name", "category", "price", "image"])
        for i in range(6):
            cv2.imwrite(str(photos / f"p{i}.jpg"), draw_product(i))
            writer.writerow([f"SKU-{i}", f"Product {i}", "Test", "1.99", f"photos/p{i}.jpg"])
    db = "store.db"
    for cmd in (
        ["catalog", "import", "products.csv", "--db", db],
        ["catalog", "index", "--db", db],
        ["catalog", "search", "--db", db, "photos/p3.jpg", "--json"],
        ["catalog", "search", "--db", db, "--text", "product", "--json"],
        ["catalog", "check", "--db", db],
    ):
        stdout, network = traced([AISLELENS, *cmd], root, env, timeout=300)
        assert network == [], cmd
        if cmd[1] == "search":
            assert '"SKU-3"' in stdout  # the commands did their work
    assert undocumented(files_under(root)) == []


def test_the_trace_filter_sees_ip_sockets_and_ignores_unix_ones():
    assert NETWORK.search("socket(AF_INET, SOCK_DGRAM|SOCK_CLOEXEC, IPPROTO_IP) = 8")
    assert NETWORK.search("connect(3, {sa_family=AF_INET6, sin6_port=htons(53), ...")
    assert not NETWORK.search('connect(3, {sa_family=AF_UNIX, sun_path="/run/nscd"}, 110)')
    assert undocumented({"home/.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid"}) != []
    assert undocumented({"tmp/.ses", "cwd/store.db.hnsw"}) == ["tmp/.ses"]
