"""Today's scans by outcome, for the staff page (Qt-free; counts only, never what was shown)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable


class ScanTally:
    """How many scans ended in each outcome today; starts again at local midnight."""

    def __init__(self, today: Callable[[], dt.date] = dt.date.today) -> None:
        self._today = today
        self._day = today()
        self._counts: Counter[str] = Counter()

    def _roll(self) -> None:
        day = self._today()
        if day != self._day:
            self._day, self._counts = day, Counter()

    def add(self, outcome: str) -> None:
        self._roll()
        self._counts[outcome] += 1

    def counts(self) -> dict[str, int]:
        self._roll()
        return dict(self._counts)

    @property
    def total(self) -> int:
        return sum(self.counts().values())
