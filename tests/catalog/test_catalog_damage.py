"""Vectors damaged on disk: `check` finds them although SQLite's integrity_check passes, and
`index` re-embeds or refits them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from catalog import CatalogSettings, check_catalog, index_catalog, open_finder
from catalog.db import READABLE_FROM, SCHEMA_VERSION, open_catalog, open_catalog_readonly
from catalog.vectorcheck import vector_crc

SETTINGS = CatalogSettings(adapt_views=4)


def _flip_byte(blob: bytes, at: int = 17) -> bytes:
    b = bytearray(blob)
    b[at] ^= 0x40
    return bytes(b)


def _nan_with_good_crc(conn: sqlite3.Connection) -> None:
    blob = bytearray(conn.execute("SELECT vector FROM embeddings LIMIT 1").fetchone()[0])
    blob[0:4] = np.float32("nan").tobytes()
    conn.execute(
        "UPDATE embeddings SET vector = ?, crc = ? WHERE id = (SELECT min(id) FROM embeddings)",
        [bytes(blob), vector_crc(bytes(blob))],
    )


def _long_with_good_crc(conn: sqlite3.Connection) -> None:
    v = np.frombuffer(conn.execute("SELECT vector FROM embeddings LIMIT 1").fetchone()[0], "f4")
    blob = (v * 1.5).astype(np.float32).tobytes()
    conn.execute(
        "UPDATE embeddings SET vector = ?, crc = ? WHERE id = (SELECT min(id) FROM embeddings)",
        [blob, vector_crc(blob)],
    )


def _corrupt(table: str, column: str, key: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        row_key, blob = conn.execute(f"SELECT {key}, {column} FROM {table} LIMIT 1").fetchone()
        conn.execute(
            f"UPDATE {table} SET {column} = ? WHERE {key} = ?", [_flip_byte(blob), row_key]
        )

    return run


CASES = {
    "image vector, flipped bit": (_corrupt("embeddings", "vector", "id"), "1 image vectors"),
    "image vector, NaN": (_nan_with_good_crc, "1 image vectors"),
    "image vector, not unit length": (_long_with_good_crc, "1 image vectors"),
    "synthetic views": (_corrupt("view_embeddings", "vectors", "image_id"), "1 sets of synthetic"),
    "prototype": (_corrupt("prototypes", "vector", "product_id"), "1 product prototypes"),
    "adaptation matrix": (_corrupt("adaptation", "matrix", "id"), "the store adaptation"),
}


def _snapshot(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        return {
            "embeddings": conn.execute(
                "SELECT image_id, vector FROM embeddings ORDER BY 1"
            ).fetchall(),
            "views": conn.execute(
                "SELECT image_id, vectors FROM view_embeddings ORDER BY 1"
            ).fetchall(),
            "prototypes": conn.execute(
                "SELECT product_id, vector FROM prototypes ORDER BY 1"
            ).fetchall(),
        }


@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_vectors_are_found_by_check_and_redone_by_index(
    case: str, adapted: Path, fake_embedder
) -> None:
    damage, expected = CASES[case]
    before = _snapshot(adapted)
    assert check_catalog(adapted).ok
    with sqlite3.connect(adapted) as conn:
        damage(conn)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"  # SQLite can't tell
    report = check_catalog(adapted)
    assert not report.ok
    assert any(expected in p and "catalog index" in p for p in report.problems), report.problems
    redone = index_catalog(adapted, fake_embedder, settings=SETTINGS)
    assert any(expected.split(" ", 1)[1] in d for d in redone.damaged), redone.damaged
    assert check_catalog(adapted).ok
    after = _snapshot(adapted)
    for table, rows in before.items():  # re-embedded and refitted to the same numbers
        assert [k for k, _ in after[table]] == [k for k, _ in rows]
        for (_, old), (_, new) in zip(rows, after[table], strict=True):
            np.testing.assert_allclose(
                np.frombuffer(new, "f4"), np.frombuffer(old, "f4"), atol=1e-5
            )
    finder = open_finder(adapted)
    try:
        assert finder.product("S1") is not None
    finally:
        finder.close()


def test_an_older_catalog_is_read_by_the_kiosk_and_upgraded_with_checksums(adapted) -> None:
    assert READABLE_FROM < SCHEMA_VERSION
    with sqlite3.connect(adapted) as conn:  # make it what round 2's first release wrote
        for table in ("embeddings", "view_embeddings", "prototypes", "adaptation"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN crc")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm004_vector_checksums'")
        conn.execute(f"PRAGMA user_version = {READABLE_FROM}")
    ro = open_catalog_readonly(adapted)  # a kiosk updated before its catalog keeps working
    ro.close()
    finder = open_finder(adapted)
    try:
        query = np.frombuffer(_snapshot(adapted)["embeddings"][0][1], np.float32)
        assert finder.search_vector(query, k=3).matches
    finally:
        finder.close()
    open_catalog(adapted).close()  # the next staff command upgrades it
    with sqlite3.connect(adapted) as conn:
        for table in ("embeddings", "view_embeddings", "prototypes", "adaptation"):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE crc IS NULL").fetchone() == (
                0,
            )
    assert check_catalog(adapted).ok


def test_a_damaged_page_met_while_searching_is_one_catalog_error(adapted, monkeypatch) -> None:
    from catalog import CatalogDamagedError
    from catalog import finder as finder_module

    finder = open_finder(adapted)
    vector = np.zeros(finder.dim, np.float32)
    vector[0] = 1.0

    def malformed(*_args, **_kwargs):
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(finder_module, "products_by_id", malformed)
    try:
        with pytest.raises(CatalogDamagedError, match=r"damaged .*catalog check"):
            finder.search_vector(vector)
    finally:
        finder.close()


def test_staff_commands_on_a_garbled_database_print_one_line(adapted) -> None:
    from click.testing import CliRunner

    from kiosk.cli import cli

    data = bytearray(adapted.read_bytes())
    rng = np.random.default_rng(3)
    data[4096:] = rng.integers(0, 256, len(data) - 4096, dtype=np.uint8).tobytes()
    adapted.write_bytes(bytes(data))
    for wal in adapted.parent.glob(adapted.name + "-*"):
        wal.unlink()
    for args in (["stats"], ["search", "--text", "milk"]):
        result = CliRunner().invoke(cli, ["catalog", *args, "--db", str(adapted)])
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and result.output.count("\n") == 1, result.output
