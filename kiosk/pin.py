"""The staff PIN's guard: an increasing delay after wrong attempts, then a logged lockout.

Plain Python (no Qt), so the policy is tested on its own: three wrong PINs are free (a
fumbled tap), then each further one makes the keypad wait twice as long (2, 4, 8 … s, at most
5 min); the tenth in a row locks it for 15 minutes. A right PIN resets the count. Trying all
10,000 four-digit PINs then takes weeks instead of under a second.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: The PIN a fresh install has; the kiosk warns while it is unchanged.
DEFAULT_PIN = "2468"


@dataclass(frozen=True)
class PinResult:
    ok: bool
    wait_s: float = 0.0  # > 0: refused without checking, try again after this long
    locked: bool = False  # the long lockout, not a short delay


class PinGuard:
    FREE_ATTEMPTS = 3
    MAX_DELAY_S = 300.0
    LOCKOUT_AFTER = 10
    LOCKOUT_S = 900.0

    def __init__(self, pin: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._pin = pin.encode()
        self._clock = clock
        self.failures = 0
        self._until = 0.0

    @property
    def is_default(self) -> bool:
        return hmac.compare_digest(self._pin, DEFAULT_PIN.encode())

    def wait_s(self) -> float:
        return max(0.0, self._until - self._clock())

    def check(self, entered: str) -> PinResult:
        wait = self.wait_s()
        if wait > 0:
            return PinResult(False, wait, self.failures >= self.LOCKOUT_AFTER)
        if hmac.compare_digest(entered.encode(), self._pin):
            if self.failures:
                log.info("staff PIN accepted after %d wrong attempt(s)", self.failures)
            self.failures = 0
            return PinResult(True)
        self.failures += 1
        if self.failures >= self.LOCKOUT_AFTER:
            delay = self.LOCKOUT_S
            log.warning(
                "staff PIN: %d wrong attempts in a row; keypad locked for %.0f min",
                self.failures,
                delay / 60,
            )
        elif self.failures > self.FREE_ATTEMPTS:
            delay = min(self.MAX_DELAY_S, 2.0 ** (self.failures - self.FREE_ATTEMPTS))
            log.warning("staff PIN: wrong attempt %d; next try in %.0f s", self.failures, delay)
        else:
            delay = 0.0
            log.info("staff PIN: wrong attempt %d", self.failures)
        self._until = self._clock() + delay
        return PinResult(False, delay, self.failures >= self.LOCKOUT_AFTER)
