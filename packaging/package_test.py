"""Install the built package into a fresh Debian root and use it as IT and staff would.

    python packaging/package_test.py --arch arm64     # make package-test ARCH=arm64

In a bookworm root of that architecture (arm64 runs under qemu-user-static): ``apt-get install
./aislelens_<v>_<arch>.deb`` with its dependencies from Debian; ``aislelens models info``; a
catalog import, index and search on a few drawn products, as the service user; ``aislelens
doctor``; the kiosk on that catalog (natively also on its demo shop) offscreen until ready; then
an upgrade to a package of a higher version (the settings edit and the catalog must survive it), ``apt-get remove`` (both
kept) and ``apt-get purge`` (both gone). Any failed check exits 1 naming it. Prints the figures
and writes them to ``packaging/dist/package-test-<arch>.json``.

Needs root, the network to a Debian mirror (the dependencies), and the two packages built by
``build.py deb --arch ARCH`` and ``build.py deb --arch ARCH --version <v>+upgradetest1``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import DIST, project_version
from roots import Root, RootError, check_arch, host_arch, need_tools, tarball, unpacked

DB = "/var/lib/aislelens/catalog/store.db"
AS_KIOSK = "runuser -u aislelens --"
#: a few products the kiosk's own OpenCV draws inside the root: a colour and a shape each
DRAW = r"""
import csv, pathlib, cv2, numpy as np
out = pathlib.Path("/tmp/shop"); out.mkdir(exist_ok=True)
shapes = [("1001", "Red Circle Tea", (40, 40, 220), "circle"),
          ("1002", "Blue Square Soap", (200, 80, 30), "square"),
          ("1003", "Green Stripe Pasta", (40, 170, 40), "stripes"),
          ("1004", "Yellow Star Cereal", (30, 210, 230), "triangle")]
rows = []
for sku, name, colour, shape in shapes:
    for view in range(2):
        img = np.full((320, 320, 3), 235, np.uint8)
        if shape == "circle":
            cv2.circle(img, (160, 160), 110 - 10 * view, colour, -1)
        elif shape == "square":
            cv2.rectangle(img, (50 + 8 * view, 50), (270, 270 - 8 * view), colour, -1)
        elif shape == "stripes":
            for y in range(40 + 6 * view, 300, 50):
                cv2.rectangle(img, (30, y), (290, y + 22), colour, -1)
        else:
            pts = np.array([[160, 30 + 10 * view], [290, 280], [30, 280]], np.int32)
            cv2.fillPoly(img, [pts], colour)
        cv2.putText(img, name.split()[1], (40, 310), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
        path = out / f"{sku}-{view}.png"
        cv2.imwrite(str(path), img)
        rows.append({"sku": sku, "name": name, "price": "1.99", "category": "test", "image": str(path)})
with open(out / "products.csv", "w", newline="") as fh:
    writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
    writer.writeheader(); writer.writerows(rows)
query = cv2.imread(str(out / "1003-0.png"))
query = cv2.GaussianBlur(cv2.warpAffine(query, cv2.getRotationMatrix2D((160, 160), 8, 0.95),
                                        (320, 320), borderValue=(235, 235, 235)), (5, 5), 0)
cv2.imwrite(str(out / "query.jpg"), query)
"""


#: what the kiosk loads under cage (Qt's Wayland platform and shell), relative to PySide6/
CAGE_PATH = (
    "QtWidgets.abi3.so",
    "Qt/plugins/platforms/libqwayland-egl.so",
    "Qt/plugins/platforms/libqwayland-generic.so",
    "Qt/plugins/wayland-shell-integration/libxdg-shell.so",
)


class Failed(Exception):
    pass


def timed(figures: dict[str, float], name: str, root: Root, command: str, **kw: object) -> str:
    t0 = time.monotonic()
    result = root.run(command, **kw)  # type: ignore[arg-type]
    figures[name] = round(time.monotonic() - t0, 1)
    print(f"  {name}: {figures[name]} s", file=sys.stderr, flush=True)
    return result.stdout


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise Failed(what)
    print(f"  ok: {what}", file=sys.stderr, flush=True)


def kiosk_ready(
    figures: dict[str, float], name: str, root: Root, command: str, on: str, *, timeout: float
) -> dict[str, float]:
    """Run the kiosk as its user until ready; its start-up times (the JSON it prints last)."""
    out = timed(figures, name, root, f"{AS_KIOSK} {command}", timeout=timeout)
    times = json.loads(out.strip().splitlines()[-1])
    expect(times["ready_s"] > 0, f"the kiosk reached ready on {on}")
    return times  # type: ignore[no-any-return]


def apt_install(root: Root, deb: Path) -> str:
    shutil.copy2(deb, root.path(f"/tmp/{deb.name}"))
    return f"apt-get install -y -q --no-install-recommends /tmp/{deb.name}"


def exercise(root: Root, first: Path, second: Path, figures: dict[str, float]) -> None:
    timed(figures, "apt_update_s", root, "apt-get update -q")
    timed(figures, "install_s", root, apt_install(root, first))
    size = root.run("du -sm /opt/aislelens").stdout.split()[0]
    figures["installed_mb"] = float(size)
    expect(
        root.run(
            "test -L /etc/systemd/system/multi-user.target.wants/aislelens-kiosk.service",
            check=False,
        ).returncode
        == 0,
        "the kiosk unit is enabled at boot",
    )
    expect(
        root.run(
            "test -L /etc/systemd/system/timers.target.wants/aislelens-update.timer", check=False
        ).returncode
        == 0,
        "the update timer is enabled",
    )
    expect(
        "torch" not in root.run("ls /opt/aislelens/lib/python3.11/site-packages").stdout,
        "no torch in the installed environment",
    )
    verify = root.run(
        "systemd-analyze verify --man=no /lib/systemd/system/aislelens-kiosk.service "
        "/lib/systemd/system/aislelens-update.service /lib/systemd/system/aislelens-update.timer",
        check=False,
    )
    expect(verify.returncode == 0, f"systemd accepts the unit {verify.stderr.strip()}")
    linked = root.run(
        "cd /opt/aislelens/lib/python3.11/site-packages/PySide6 && ldd " + " ".join(CAGE_PATH)
    ).stdout
    expect("not found" not in linked, "what Qt loads in the cage session resolves")
    modes = root.run(
        "stat -c '%a %U:%G' /etc/aislelens/kiosk.toml /var/lib/aislelens /var/cache/aislelens"
    ).stdout.split("\n")
    expect(modes[0] == "640 root:aislelens", f"the settings are 0640 root:aislelens ({modes[0]})")
    expect(
        all(m.endswith("aislelens:aislelens") for m in modes[1:3]),
        "the state folders are the user's",
    )
    root.run("touch /tmp/installed-mark")
    info = timed(figures, "models_info_s", root, "aislelens models info")
    expect("efficientnet" in info, "aislelens models info names the bundle")

    root.run(
        "cat > /tmp/draw.py <<'EOF'\n" + DRAW + "\nEOF\n/opt/aislelens/bin/python /tmp/draw.py"
    )
    root.run("chmod -R a+rX /tmp/shop")
    timed(
        figures,
        "import_s",
        root,
        f"{AS_KIOSK} aislelens catalog import /tmp/shop/products.csv --db {DB}",
    )
    timed(figures, "index_s", root, f"{AS_KIOSK} aislelens catalog index --db {DB}")
    found = timed(
        figures,
        "search_s",
        root,
        f"{AS_KIOSK} aislelens catalog search --db {DB} /tmp/shop/query.jpg --k 3 --json",
    )
    first_sku = json.loads(found)[0]["matches"][0]["sku"]
    expect(first_sku == "1003", f"a photo of product 1003 finds 1003 first (got {first_sku})")

    doctor = root.run("aislelens doctor --config /etc/aislelens/kiosk.toml", check=False)
    lines = doctor.stdout.splitlines()
    print("\n".join(f"    | {line}" for line in lines), file=sys.stderr)
    for check in ("display", "model", "catalog"):
        expect(any(ln.startswith(f"ok       {check}:") for ln in lines), f"doctor: {check} is ok")

    # the kiosk as the service starts it (its settings, its user), on the store's catalog,
    # offscreen, with a replay camera of the shop's photos, until ready (self-test scan passed)
    root.run(
        "mkdir -p /tmp/camera && cp /tmp/shop/*-1.png /tmp/camera && chmod -R a+rX /tmp/camera"
    )
    times = kiosk_ready(
        figures,
        "kiosk_ready_s",
        root,
        "aislelens kiosk --config /etc/aislelens/kiosk.toml --camera /tmp/camera "
        "--platform offscreen --exit-when-ready",
        "the store's catalog",
        timeout=600,
    )
    figures["kiosk_ready_in_process_s"] = times["ready_s"]
    if not root.emulated:
        # the demo builds its drawn shop first: minutes natively, far longer under qemu
        kiosk_ready(
            figures,
            "kiosk_demo_ready_s",
            root,
            "env QT_QPA_PLATFORM=offscreen XDG_CACHE_HOME=/var/cache/aislelens "
            "XDG_DATA_HOME=/var/lib/aislelens aislelens kiosk --demo --exit-when-ready",
            "its demo shop",
            timeout=900,
        )

    written = root.run("find /opt/aislelens -newer /tmp/installed-mark").stdout.split()
    expect(not written, f"nothing was written under /opt/aislelens at run time {written[:3]}")

    # the store edits its settings; an upgrade must keep them, and the catalog
    root.run('sed -i \'s/^language = "en"/language = "de"/\' /etc/aislelens/kiosk.toml')
    timed(
        figures,
        "upgrade_s",
        root,
        apt_install(root, second) + " -o Dpkg::Options::=--force-confdef",
    )
    version = root.run("dpkg-query -W -f '${Version}' aislelens").stdout
    expect(version == second.name.split("_")[1], f"upgraded to {version}")
    expect(
        'language = "de"' in root.path("/etc/aislelens/kiosk.toml").read_text(),
        "the upgrade kept the settings edit",
    )
    again = root.run(
        f"{AS_KIOSK} aislelens catalog search --db {DB} /tmp/shop/query.jpg --k 1 --json"
    ).stdout
    expect(json.loads(again)[0]["matches"][0]["sku"] == "1003", "the upgrade kept the catalog")

    timed(figures, "remove_s", root, "apt-get remove -y -q aislelens")
    expect(not root.path("/opt/aislelens").exists(), "remove: /opt/aislelens is gone")
    expect(root.path(DB).exists(), "remove: the catalog is kept")
    expect(root.path("/etc/aislelens/kiosk.toml").exists(), "remove: the settings are kept")
    timed(figures, "purge_s", root, "apt-get purge -y -q aislelens")
    for path in (
        "/var/lib/aislelens",
        "/etc/aislelens",
        "/var/cache/aislelens",
        "/usr/bin/aislelens",
    ):
        expect(
            not root.path(path).exists() and not root.path(path).is_symlink(),
            f"purge: {path} is gone",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python packaging/package_test.py",
        description="Install, use, upgrade and purge the package in a fresh Debian root.",
        epilog="example: python packaging/package_test.py --arch amd64",
    )
    parser.add_argument("--arch", choices=["amd64", "arm64"], default=host_arch())
    parser.add_argument("--version", default=project_version(), help="the first package's version")
    args = parser.parse_args(argv)
    arch = check_arch(args.arch)
    first = DIST / f"aislelens_{args.version}_{arch}.deb"
    second = DIST / f"aislelens_{args.version}+upgradetest1_{arch}.deb"
    figures: dict[str, float] = {}
    try:
        for deb in (first, second):
            if not deb.exists():
                raise Failed(f"{deb.name} is missing: run make package-test, which builds it")
        figures["package_mb"] = round(first.stat().st_size / 1e6, 1)
        need_tools("chroot", "unshare")
        base = tarball(arch)
        t0 = time.monotonic()
        print(
            f"package test, {arch} ({'native' if arch == host_arch() else 'qemu'}):",
            file=sys.stderr,
        )
        with unpacked(arch, base) as root:
            exercise(root, first, second, figures)
        figures["total_s"] = round(time.monotonic() - t0, 1)
    except (Failed, RootError) as exc:
        print(f"package test failed ({arch}): {exc}", file=sys.stderr)
        return 1
    report = {"arch": arch, "emulated": arch != host_arch(), "version": args.version, **figures}
    (DIST / f"package-test-{arch}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
