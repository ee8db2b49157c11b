"""Throwaway Debian roots, of this machine's architecture or another one run under qemu.

``build.py`` compiles the wheels PyPI has no build of inside one; ``package_test.py`` installs
the package into a fresh one. Each root is unpacked from a tarball that ``mmdebstrap`` makes
once per suite and architecture and keeps under ``packaging/build/roots/``. Needs root
(``chroot``), ``mmdebstrap``, and for a foreign architecture ``qemu-user-static``.

Only ``/proc`` and a tmpfs on ``/dev/shm`` are mounted inside: the device nodes come with the
tarball, and ``/sys`` stays out (onnxruntime's import crashes qemu when it can read it). Each
command mounts them in a mount namespace of its own (``unshare --mount``), so the kernel drops
them when the command's last process ends, however it ends: a build killed with ``kill -9``
leaves a folder that ``rm -rf`` removes, never a ``/proc`` mounted under the checkout.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
ROOTS = BUILD / "roots"
SUITE = "bookworm"
#: another Debian mirror than mmdebstrap's default (deb.debian.org with updates and security)
MIRROR = os.environ.get("AISLELENS_DEBIAN_MIRROR", "")
ARCHES = ("amd64", "arm64")
#: the environment commands inside a root get (nothing of the caller's leaks in: no PIP_*)
ROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}


class RootError(Exception):
    """A root could not be made or a command in it failed; the message says which."""


def host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def check_arch(arch: str) -> str:
    if arch not in ARCHES:
        raise RootError(f"unknown architecture {arch!r}: choose {' or '.join(ARCHES)}")
    return arch


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise RootError(
            f"{', '.join(missing)} not found: apt-get install mmdebstrap qemu-user-static "
            "binfmt-support arch-test util-linux (or: make package-deps, as root)"
        )
    if os.geteuid() != 0:
        raise RootError("building in a Debian root needs root (chroot): run it with sudo")


def ensure_emulation(arch: str) -> None:
    """Make sure this kernel runs ``arch`` programs (binfmt_misc + qemu-user-static)."""
    if arch == host_arch():
        return
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "register").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)], check=False)
    qemu = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}[arch]
    if not (binfmt / qemu).exists() and shutil.which("update-binfmts"):
        subprocess.run(["update-binfmts", "--enable", qemu], check=False, capture_output=True)
    if not (binfmt / qemu).exists():
        raise RootError(
            f"this machine cannot run {arch} programs: apt-get install qemu-user-static "
            f"binfmt-support, then update-binfmts --enable {qemu}"
        )


def tarball(arch: str, include: Sequence[str] = (), *, tag: str = "base") -> Path:
    """The cached root tarball of ``arch`` (made on first use: about 1 min, 2.5 under qemu)."""
    check_arch(arch)
    need_tools("mmdebstrap")
    ensure_emulation(arch)
    path = ROOTS / f"{SUITE}-{arch}-{tag}.tar"
    if path.exists():
        return path
    ROOTS.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.tar")
    cmd = ["mmdebstrap", "--variant=apt", "--format=tar", f"--arch={arch}", "--quiet"]
    if include:
        cmd.append("--include=" + ",".join(include))
    cmd += [SUITE, str(partial), *([MIRROR] if MIRROR else [])]
    print(f"making a {SUITE} {arch} root (once): {shlex.join(cmd)}", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RootError(f"mmdebstrap failed: {_last_line(result.stderr)}")
    partial.replace(path)  # never a half-written tarball under the final name
    return path


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


#: the exit status of a command whose root could not get its /proc and /dev/shm mounted
MOUNT_FAILED = 125


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path) + "/"
    with open("/proc/mounts") as fh:
        points = [line.split()[1] for line in fh]
    return [p for p in points if p.startswith(prefix)]


class Root:
    """An unpacked root: ``run`` a shell command in it, ``path`` a file of it from outside."""

    def __init__(self, top: Path, arch: str) -> None:
        self.top = top
        self.arch = arch

    def path(self, inside: str) -> Path:
        return self.top / inside.lstrip("/")

    @property
    def emulated(self) -> bool:
        """True when the root's programs run under qemu (another architecture than the host)."""
        return self.arch != host_arch()

    def run(
        self,
        command: str,
        *,
        env: dict[str, str] | None = None,
        check: bool = True,
        timeout: float = 1800,
    ) -> subprocess.CompletedProcess[str]:
        # /proc and /dev/shm in a mount namespace of this command's own (see the module's doc)
        mounts = (
            'mount -t proc proc "$1/proc" && mount -t tmpfs shm "$1/dev/shm" || { echo '
            f'"cannot mount /proc and /dev/shm in $1" >&2; exit {MOUNT_FAILED}; }}; shift; '
        )
        argv = ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c"]
        argv += [mounts + 'exec "$@"', "sh", str(self.top), "chroot", str(self.top)]
        argv += ["/usr/bin/env", "-i"]
        argv += [f"{k}={v}" for k, v in {**ROOT_ENV, **(env or {})}.items()]
        argv += ["/bin/sh", "-c", command]
        # a session of its own, so that a timeout kills what the command started too
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RootError(
                f"in the {self.arch} root, `{command}` took longer than {timeout:.0f} s"
            ) from None
        result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
        if result.returncode == MOUNT_FAILED and "cannot mount /proc" in err:
            raise RootError(f"in the {self.arch} root: {_last_line(err)}")  # whatever ``check``
        if check and result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            tail = "\n".join(output.splitlines()[-15:])
            raise RootError(
                f"in the {self.arch} root, `{command}` exited {result.returncode}:\n{tail}"
            )
        return result


@contextmanager
def unpacked(arch: str, source: Path) -> Iterator[Root]:
    """A fresh root from ``source`` (a tarball), removed afterwards with everything in it."""
    BUILD.mkdir(parents=True, exist_ok=True)
    top = Path(tempfile.mkdtemp(prefix=f"root-{arch}-", dir=BUILD))
    try:
        # device nodes and owners as mmdebstrap made them
        subprocess.run(["tar", "-xpf", str(source), "--numeric-owner", "-C", str(top)], check=True)
        shutil.copy2("/etc/resolv.conf", top / "etc" / "resolv.conf")
        yield Root(top, arch)
    finally:
        for point in sorted(_mounts_under(top), key=len, reverse=True):  # none: each run's own
            subprocess.run(["umount", "-l", point], check=False)
        left = _mounts_under(top)
        if left:  # never delete through a mount point
            print(f"warning: left {top} in place, still mounted: {left}", file=sys.stderr)
        else:
            shutil.rmtree(top, ignore_errors=True)
