"""Telling systemd how the kiosk is doing (``Type=notify``): ready, alive, stopping.

Under systemd (``NOTIFY_SOCKET`` set) the unit waits for ``READY=1``, which the kiosk sends
only once the model and catalog are loaded and a self-test scan went through; the GUI thread
then sends ``WATCHDOG=1`` at half the unit's ``WatchdogSec``, so a frozen interface stops
feeding it and systemd restarts the kiosk. Elsewhere every call does nothing. Qt-free: the
window drives it from its own timer. The messages go over systemd's AF_UNIX socket, never
a network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import sdnotify

log = logging.getLogger(__name__)


class Supervisor:
    """The kiosk's side of systemd's notification protocol (via ``sdnotify``)."""

    def __init__(self, env: Mapping[str, str] = os.environ) -> None:
        """``env``: where NOTIFY_SOCKET and WATCHDOG_USEC are read (sdnotify itself connects
        to the socket the process environment names)."""
        self.active = bool(env.get("NOTIFY_SOCKET"))
        self._notifier = sdnotify.SystemdNotifier() if self.active else None
        usec = env.get("WATCHDOG_USEC", "")
        # WATCHDOG_PID names the unit's main process, which is cage, not the kiosk it starts:
        # the unit allows notifications from its children (NotifyAccess=all), so it is not
        # compared with our own pid here
        #: how often to send WATCHDOG=1 (half the unit's WatchdogSec), None: no watchdog
        self.watchdog_interval_s: float | None = (
            int(usec) / 2e6 if self.active and usec.isdigit() and int(usec) > 0 else None
        )
        self.ready_sent = False
        self.stopped = False

    def _send(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def ready(self, status: str) -> None:
        """The kiosk can serve shoppers (once)."""
        if not self.ready_sent:
            self.ready_sent = True
            self._send(f"READY=1\nSTATUS={status}")
            log.info("told systemd: ready (%s)", status)

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def alive(self) -> None:
        """The GUI thread is turning: feed the watchdog (not once the kiosk is stopping)."""
        if not self.stopped:
            self._send("WATCHDOG=1")

    def reloading(self, status: str) -> None:
        """The kiosk is starting again in place (same process, a new model): READY=1 follows
        from the new start. Not STOPPING=1, which would have systemd stop the unit."""
        if not self.stopped:
            self.stopped = True
            self._send(f"RELOADING=1\nSTATUS={status}")

    def stopping(self) -> None:
        if not self.stopped:
            self.stopped = True
            self._send("STOPPING=1")
