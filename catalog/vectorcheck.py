"""Checksums of the vectors a catalog stores, and finding the rows a disk fault damaged.

SQLite's ``integrity_check`` covers the b-tree structure, not the bytes of a BLOB: a damaged
page can leave a vector that reads back as different numbers with no error. Every vector row
therefore carries the CRC-32 of its bytes (``crc``), written with it in the same transaction.
``catalog check`` reports rows whose bytes no longer match, or whose numbers are not finite (or,
for image embeddings, not of unit length); ``catalog index`` drops them so that they are
re-embedded (image and view vectors) or refitted (the adaptation and its prototypes).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
from sqlite_utils import Database

#: How far an image embedding's length may stray from 1 (they are stored L2-normalised).
NORM_TOLERANCE = 1e-3


def vector_crc(*blobs: bytes) -> int:
    """CRC-32 of the concatenated bytes (what the ``crc`` columns hold)."""
    crc = 0
    for blob in blobs:
        crc = zlib.crc32(blob, crc)
    return crc


def _sql_crc(*blobs: bytes | None) -> int | None:
    if any(b is None for b in blobs):
        return None
    return vector_crc(*blobs)  # type: ignore[arg-type]


def register_crc_function(db: Database) -> None:
    """Make ``aislelens_crc32(blob, ...)`` available to SQL on this connection."""
    db.conn.create_function("aislelens_crc32", -1, _sql_crc, deterministic=True)


def _finite(blob: bytes) -> np.ndarray | None:
    if len(blob) % 4:
        return None
    values = np.frombuffer(blob, np.float32)
    return values if np.isfinite(values).all() else None


@dataclass
class VectorDamage:
    """Rows whose stored bytes are not what was written."""

    embeddings: list[int] = field(default_factory=list)  # embeddings.id
    views: list[int] = field(default_factory=list)  # view_embeddings.image_id
    prototypes: int = 0  # rows; any one makes the whole fit suspect
    adaptation: bool = False

    @property
    def count(self) -> int:
        return len(self.embeddings) + len(self.views) + self.prototypes + int(self.adaptation)

    def describe(self) -> list[str]:
        parts = []
        if self.embeddings:
            parts.append(f"{len(self.embeddings)} image vectors")
        if self.views:
            parts.append(f"{len(self.views)} sets of synthetic-view vectors")
        if self.prototypes:
            parts.append(f"{self.prototypes} product prototypes")
        if self.adaptation:
            parts.append("the store adaptation")
        return parts


def find_damaged(db: Database) -> VectorDamage:
    """Every vector row whose checksum, numbers or length show damage (reads them all)."""
    damage = VectorDamage()
    conn = db.conn
    for row_id, dim, blob, crc in conn.execute("SELECT id, dim, vector, crc FROM embeddings"):
        values = _finite(blob) if crc == vector_crc(blob) and len(blob) == 4 * dim else None
        if values is None or abs(float(np.dot(values, values)) - 1.0) > 2 * NORM_TOLERANCE:
            damage.embeddings.append(row_id)
    for image_id, n, dim, blob, crc in conn.execute(
        "SELECT image_id, n, dim, vectors, crc FROM view_embeddings"
    ):
        if crc != vector_crc(blob) or len(blob) != 4 * n * dim or _finite(blob) is None:
            damage.views.append(image_id)
    for blob, crc in conn.execute("SELECT vector, crc FROM prototypes"):
        if crc != vector_crc(blob) or _finite(blob) is None:
            damage.prototypes += 1
    for mean, matrix, crc in conn.execute("SELECT mean, matrix, crc FROM adaptation"):
        if crc != vector_crc(mean, matrix) or _finite(mean) is None or _finite(matrix) is None:
            damage.adaptation = True
    return damage


def drop_damaged(db: Database, damage: VectorDamage) -> None:
    """Delete the damaged rows (the caller holds the write lock) so the next steps redo them."""
    with db.atomic():
        db.conn.executemany(
            "DELETE FROM embeddings WHERE id = ?", [(i,) for i in damage.embeddings]
        )
        db.conn.executemany(
            "DELETE FROM view_embeddings WHERE image_id = ?", [(i,) for i in damage.views]
        )
        if damage.prototypes or damage.adaptation:
            db.conn.execute("DELETE FROM adaptation")
            db.conn.execute("DELETE FROM prototypes")
