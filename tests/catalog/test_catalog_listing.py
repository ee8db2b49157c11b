"""What the staff window reads and asks of the library: the product list, a stoppable index
run, and thresholds proposed before they are stored."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import cv2
import numpy as np
from catalog_images import shop_photo
from click.testing import CliRunner

from catalog import CatalogSettings, EnrollItem, enroll_images, import_products, index_catalog
from catalog.adapter import propose_thresholds
from catalog.listing import CatalogListing
from kiosk.cli import cli


def _embedded(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]


def _stored_thresholds(db: Path) -> dict:
    with sqlite3.connect(db) as conn:
        return json.loads(conn.execute("SELECT thresholds FROM adaptation").fetchone()[0])


def test_the_list_counts_catalog_photos_shots_and_vectors(
    shop, tmp_path, fake_embedder, write_image
):
    db = tmp_path / "store.db"
    import_products(db, shop(4, extra_rows=["S9,No picture,2.0,Fruit,Sub,plain,,,red"]))
    shots = [
        EnrollItem("S1", write_image(tmp_path / f"s1_{k}.jpg", shop_photo(1, k))) for k in range(2)
    ]
    enroll_images(db, shots)
    listing = CatalogListing(db)
    try:
        rows = {r.product.sku: r for r in listing.products()}
        assert [r.product.name for r in listing.products()][:2] == ["No picture", "Product 0"]
        assert (rows["S1"].catalog_photos, rows["S1"].enrolled_shots, rows["S1"].embedded) == (
            1,
            2,
            0,
        )
        assert (rows["S9"].catalog_photos, rows["S9"].enrolled_shots) == (0, 0)
        assert rows["S3"].product.price == 3.5 and rows["S3"].product.category == "Fruit"
        thumb = listing.thumbnail("S1")
        assert thumb is not None
        assert cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR).shape[2] == 3
        assert listing.thumbnail("S9") is None
        queries = listing.enrolled_queries()
        assert [(q.sku, q.path) for q in queries] == [("S1", s.path) for s in shots]
    finally:
        listing.close()
    index_catalog(db, fake_embedder)
    listing = CatalogListing(db)
    assert {r.product.sku: r.embedded for r in listing.products()}["S1"] == 3
    listing.close()


def test_a_stopped_index_keeps_whole_chunks_and_the_next_run_carries_on(
    shop, tmp_path, fake_embedder
):
    db = tmp_path / "store.db"
    import_products(db, shop(10))
    settings = CatalogSettings(commit_every=4, batch_size=2)
    done = [0]

    class Bar:
        def update(self, n: int = 1) -> None:
            done[0] += n

        def close(self) -> None:
            pass

    # asked to stop once 6 photos are embedded: the first chunk (4) is committed, the
    # second is half-way (6 of 8) and is dropped whole
    report = index_catalog(
        db,
        fake_embedder,
        settings=settings,
        progress=lambda total, desc: Bar(),
        should_stop=lambda: done[0] >= 6,
    )
    assert report.cancelled and report.embedded == 4 and _embedded(db) == 4
    assert report.index is None and report.adaptation is None
    again = index_catalog(db, fake_embedder, settings=settings)
    assert not again.cancelled and again.embedded == 6 and again.up_to_date == 4
    assert _embedded(db) == 10 and again.index is not None


def test_a_stop_before_the_first_chunk_embeds_nothing(shop, tmp_path, fake_embedder):
    db = tmp_path / "store.db"
    import_products(db, shop(3))
    report = index_catalog(db, fake_embedder, should_stop=lambda: True)
    assert report.cancelled and report.embedded == 0 and _embedded(db) == 0


def test_proposed_thresholds_are_what_calibrate_stores_and_store_nothing(adapted, tmp_path):
    before = _stored_thresholds(adapted)
    proposal = propose_thresholds(adapted, target=0.9)
    assert _stored_thresholds(adapted) == before  # read-only
    copy = tmp_path / "copy.db"
    shutil.copy(adapted, copy)
    result = CliRunner().invoke(
        cli, ["catalog", "calibrate", "--db", str(copy), "--target", "0.9", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(proposal.to_json())
    assert _stored_thresholds(copy) == json.loads(proposal.to_json())
