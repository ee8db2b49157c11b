"""The kiosk's side of systemd's notification protocol: silent off systemd, READY once."""

from __future__ import annotations

import contextlib
import socket

from kiosk.supervision import Supervisor


def test_off_systemd_nothing_is_sent_and_there_is_no_watchdog():
    s = Supervisor({"WATCHDOG_USEC": "30000000"})
    assert not s.active and s.watchdog_interval_s is None
    s.ready("x")
    s.alive()
    s.stopping()  # no socket: nothing happens, nothing raises


def test_ready_is_sent_once_and_the_watchdog_runs_at_half_its_period(tmp_path, monkeypatch):
    address = str(tmp_path / "n.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(1)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", address)  # sdnotify reads it from the environment
        monkeypatch.setenv("WATCHDOG_USEC", "30000000")
        s = Supervisor()
        assert s.watchdog_interval_s == 15.0
        s.ready("self-test scan confident in 12 ms")
        s.ready("again")
        s.alive()
        s.stopping()
        s.alive()  # the window's last events after STOPPING: nothing more is said
        s.stopping()
        got = [sock.recv(4096).decode() for _ in range(3)]
        sock.settimeout(0.2)
        with contextlib.suppress(TimeoutError):
            got.append(sock.recv(4096).decode())
    finally:
        sock.close()
    assert got == [
        "READY=1\nSTATUS=self-test scan confident in 12 ms",
        "WATCHDOG=1",
        "STOPPING=1",
    ]
