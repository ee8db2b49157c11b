"""Recent recognitions keyed by a perceptual hash of the guide region (in memory only).

A repeated scan of the same product — the same scene give or take camera noise — is answered
from here without running the model. The key is a 64-bit DCT hash (structure, in grey) plus a
3 × 3 grid of mean colours (so a red can and a blue can of the same shape never collide), and
the catalog version and bundle id (so a new catalog or model never serves old answers). The
cache holds only those numbers and the results, never pixels, and nothing is written to disk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

import cv2
import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class FrameSignature:
    """What the cache compares: a perceptual hash and a coarse colour layout."""

    phash: int  # 64 bits
    colours: tuple[int, ...]  # 3 × 3 cells × BGR means, 0..255

    def distance(self, other: FrameSignature) -> tuple[int, int]:
        """(Hamming distance of the hashes, largest colour difference of any cell)."""
        bits = (self.phash ^ other.phash).bit_count()
        colour = max(abs(a - b) for a, b in zip(self.colours, other.colours, strict=True))
        return bits, colour


def frame_signature(region: np.ndarray) -> FrameSignature:
    """The signature of an 8-bit BGR image region (the framing guide's content).

    The region is read once, shrunk to 32 × 32 in colour; the hash and the colour cells are
    both taken from that (grey and area averaging commute, up to rounding)."""
    colour = region if region.ndim == 3 else cv2.cvtColor(region, cv2.COLOR_GRAY2BGR)
    small = cv2.resize(colour, (32, 32), interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    low = cv2.dct(grey)[:8, :8].flatten()[1:]  # drop the DC term: brightness is not structure
    bits = low > np.median(low)
    phash = int(sum(1 << i for i, b in enumerate(bits) if b))
    cells = cv2.resize(small, (3, 3), interpolation=cv2.INTER_AREA)
    return FrameSignature(phash, tuple(int(v) for v in cells.reshape(-1)))


class ResultCache(Generic[T]):
    """A thread-safe LRU of results by (signature ≈, catalog version, bundle id).

    Lookup is a linear scan for the nearest signature within the tolerances; with the default
    64 entries that is a few microseconds.
    """

    def __init__(self, size: int = 64, max_distance: int = 5, max_colour: int = 24) -> None:
        self.size = size
        self.max_distance = max_distance
        self.max_colour = max_colour
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[int, tuple[FrameSignature, str, T]] = OrderedDict()
        self._next_key = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, sig: FrameSignature, scope: str) -> T | None:
        """The cached result of the nearest matching signature in ``scope``, or None."""
        with self._lock:
            best: tuple[int, int] | None = None
            best_key = -1
            for key, (other, other_scope, _) in self._entries.items():
                if other_scope != scope:
                    continue
                bits, colour = sig.distance(other)
                close = bits <= self.max_distance and colour <= self.max_colour
                if close and (best is None or (bits, colour) < best):
                    best, best_key = (bits, colour), key
            if best is None:
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(best_key)
            return self._entries[best_key][2]

    def put(self, sig: FrameSignature, scope: str, value: T) -> None:
        """Remember ``value`` for ``sig``, evicting the least recently used entry when full."""
        if self.size <= 0:
            return
        with self._lock:
            self._entries[self._next_key] = (sig, scope, value)
            self._next_key += 1
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (idle reset, new catalog)."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


def cache_scope(catalog_version: str, bundle_id: str) -> str:
    """The part of the key that invalidates on a new catalog or model."""
    return f"{catalog_version}|{bundle_id}"
