"""Checks made before Qt starts: the system libraries its platform plugin needs, and a display.

Qt aborts the process (SIGABRT, exit 134) when its platform plugin cannot be loaded or cannot
reach a display, and its message often names the wrong library (it blames ``libxcb-cursor0``
when ``libxcb-icccm4`` is missing). :func:`check_display` finds out first, without loading Qt:
it asks the dynamic loader (``ldd``) which libraries of the chosen platform plugin are missing
and maps them to the Debian / Ubuntu / Raspberry Pi OS packages that provide them, and it checks
that an X11 or Wayland display is there to connect to. Problems are a :class:`DisplayError`
whose one line says what to install or how to run headless; the CLI prints it with exit 2.

Plain Python: nothing here imports PySide6 (it locates the package's files with importlib).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import KioskError

#: library soname → the Debian package that ships it (the same names on Ubuntu and Raspberry
#: Pi OS; Ubuntu 24.04 adds a ``t64`` suffix to a few, e.g. libglib2.0-0t64)
DEBIAN_PACKAGES: dict[str, str] = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libICE.so.6": "libice6",
    "libSM.so.6": "libsm6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}

#: Qt platform name → its plugin file under PySide6/Qt/plugins/platforms
PLUGINS = {
    "xcb": "libqxcb.so",
    "wayland": "libqwayland.so",
    "wayland-egl": "libqwayland-egl.so",
    "offscreen": "libqoffscreen.so",
    "minimal": "libqminimal.so",
    "eglfs": "libqeglfs.so",
    "linuxfb": "libqlinuxfb.so",
    "vnc": "libqvnc.so",
}

#: platforms that draw without a display server
HEADLESS = ("offscreen", "minimal", "eglfs", "linuxfb", "vnc")

HEADLESS_HINT = (
    'run it under a virtual screen (xvfb-run -s "-screen 0 1280x800x24" aislelens kiosk …) '
    "or without one (aislelens kiosk --platform offscreen …)"
)


class DisplayError(KioskError):
    """Qt could not start here: a system library or the display is missing (one line)."""


@dataclass(frozen=True)
class Missing:
    """System libraries a Qt platform plugin needs that the dynamic loader cannot find."""

    platform: str
    libraries: tuple[str, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        known = {DEBIAN_PACKAGES[lib] for lib in self.libraries if lib in DEBIAN_PACKAGES}
        return tuple(sorted(known))

    def message(self) -> str:
        libs = ", ".join(self.libraries)
        packages = self.packages
        fix = (
            f"install them with: sudo apt-get install {' '.join(packages)}"
            if packages
            else "install the packages that provide them"
        )
        return (
            f"Qt's {self.platform} platform needs system libraries that are missing ({libs}); {fix}"
        )


def chosen_platform(env: Mapping[str, str] = os.environ) -> str:
    """The platform Qt will use: ``QT_QPA_PLATFORM`` (its first choice), else Wayland inside a
    Wayland session, else X11 (xcb), as Qt 6 decides on Linux."""
    requested = env.get("QT_QPA_PLATFORM", "").strip()
    if requested:
        return re.split(r"[;:]", requested, maxsplit=1)[0].strip()
    if env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def qt_files(platform: str) -> list[Path]:
    """The shared objects Qt loads for ``platform``: QtWidgets' and the platform plugin."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(root.glob("QtWidgets.*.so"))
    plugin = root / "Qt" / "plugins" / "platforms" / PLUGINS.get(platform, f"libq{platform}.so")
    if plugin.exists():
        files.append(plugin)
    return files


def missing_libraries(files: list[Path]) -> tuple[str, ...]:
    """Sonames the dynamic loader cannot find for ``files`` (with everything they pull in)."""
    ldd = shutil.which("ldd")
    if ldd is None or not files:
        return ()
    missing: set[str] = set()
    for path in files:
        out = subprocess.run(
            [ldd, str(path)], capture_output=True, text=True, check=False, timeout=30
        ).stdout
        missing.update(re.findall(r"^\s*(\S+)\s+=>\s+not found", out, flags=re.M))
    return tuple(sorted(missing))


def missing_for(platform: str) -> Missing | None:
    """What Qt's ``platform`` plugin lacks on this machine, or None when nothing is missing."""
    libs = missing_libraries(qt_files(platform))
    return Missing(platform, libs) if libs else None


def _x11_reachable(display: str) -> bool:
    """Whether a local X server answers on ``display`` (``:0``, ``:99.0``); remote ones
    (``host:0``) are assumed to be there."""
    match = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display.strip())
    if not match:
        return True
    path = f"/tmp/.X11-unix/X{match.group(1)}"
    for address in (path, "\0" + path):  # the socket file, or Linux's abstract namespace
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.connect(address)
                return True
            except OSError:
                continue
    return False


def display_problem(platform: str, env: Mapping[str, str] = os.environ) -> str | None:
    """Why ``platform`` has no display to draw on, or None when it has one (or needs none)."""
    if platform in HEADLESS:
        return None
    if platform.startswith("wayland"):
        if env.get("WAYLAND_DISPLAY"):
            return None
        return f"no Wayland display (WAYLAND_DISPLAY is not set); {HEADLESS_HINT}"
    display = env.get("DISPLAY", "")
    if not display:
        return f"no display (DISPLAY is not set); {HEADLESS_HINT}"
    if not _x11_reachable(display):
        return f"no X server answers on DISPLAY={display}; {HEADLESS_HINT}"
    return None


def check_display(env: Mapping[str, str] = os.environ) -> str:
    """Raise :class:`DisplayError` unless Qt can start here; returns the platform it will use."""
    platform = chosen_platform(env)
    missing = missing_for(platform)
    if missing is not None:
        raise DisplayError(missing.message())
    problem = display_problem(platform, env)
    if problem is not None:
        raise DisplayError(problem)
    return platform


def _main(argv: list[str] | None = None) -> int:
    """``python -m kiosk.display [--install] PLATFORM…``: list (or, as root, apt-get install)
    the system packages Qt's platforms need. Used by ``make test`` so that CI on a bare
    machine installs what the offscreen Qt tests load."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m kiosk.display", description=_main.__doc__)
    parser.add_argument("platforms", nargs="*", default=["offscreen"], metavar="PLATFORM")
    parser.add_argument("--install", action="store_true", help="apt-get install them (root)")
    args = parser.parse_args(argv)
    found = [m for m in map(missing_for, args.platforms) if m is not None]
    if not found:
        print(f"Qt system libraries: all present for {', '.join(args.platforms)}")
        return 0
    packages = sorted({p for m in found for p in m.packages})
    unknown = sorted({lib for m in found for lib in m.libraries if lib not in DEBIAN_PACKAGES})
    for m in found:
        print(m.message(), file=sys.stderr)
    can_install = args.install and os.geteuid() == 0 and shutil.which("apt-get") is not None
    if not can_install or not packages:
        return 2
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env)
    apt = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(apt, check=False, env=env).returncode != 0:
        return 2
    still = [m for m in map(missing_for, args.platforms) if m is not None]
    for m in still:
        print(m.message(), file=sys.stderr)
    if unknown:
        print(f"no known package for: {', '.join(unknown)}", file=sys.stderr)
    return 2 if still else 0


if __name__ == "__main__":
    raise SystemExit(_main())
