"""index_catalog: incremental embedding, bundle safety, and index files that go bad."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from catalog_images import draw_product, shop_photo

from catalog import (
    BundleMismatchError,
    CatalogSettings,
    EnrollItem,
    check_catalog,
    enroll_images,
    import_products,
    index_catalog,
    open_finder,
    remove_products,
)
from catalog.db import index_paths
from catalog.index_projected import ProjectedIndex
from catalog.index_store import load_index_checked, projection_path
from models import FakeEngine, ImageEmbedder, load_bundle


def _embedded(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]


def test_reindexing_embeds_only_new_and_changed_images(
    shop, tmp_path, fake_embedder, write_image
) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(5))
    first = index_catalog(db, fake_embedder)
    assert (first.images, first.embedded, first.up_to_date) == (5, 5, 0)
    calls = fake_embedder.engine.calls
    again = index_catalog(db, fake_embedder)
    assert (again.embedded, again.up_to_date) == (0, 5)
    assert fake_embedder.engine.calls == calls  # the model never ran

    img = tmp_path / "shop" / "images" / "p2.jpg"
    os.utime(img, ns=(1, 1))  # touched, same content: hash recomputed, nothing re-embedded
    assert index_catalog(db, fake_embedder).embedded == 0
    write_image(img, draw_product(42))  # new content at the same path
    photo = write_image(tmp_path / "shelf" / "s1.jpg", shop_photo(1))
    enroll_images(db, [EnrollItem("S1", photo)])
    changed = index_catalog(db, fake_embedder)
    assert (changed.images, changed.embedded, changed.up_to_date) == (6, 2, 4)
    assert _embedded(db) == 6 and check_catalog(db).ok


def test_unreadable_image_is_skipped_recorded_and_not_retried(
    shop, tmp_path, fake_embedder
) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(3))
    (tmp_path / "shop" / "images" / "p1.jpg").write_bytes(b"\xff\xd8\xff garbage")
    report = index_catalog(db, fake_embedder)
    assert report.embedded == 2 and [s for s, _ in report.failed] == ["S1"]
    calls = fake_embedder.engine.calls
    again = index_catalog(db, fake_embedder)
    assert [s for s, _ in again.failed] == ["S1"] and fake_embedder.engine.calls == calls
    assert any("S1" in n for n in check_catalog(db).notes)


def test_a_catalog_never_mixes_bundles(shop, tmp_path, fake_embedder) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(3))
    index_catalog(db, fake_embedder)
    other = ImageEmbedder(load_bundle(), "int8", engine=FakeEngine(dim=1280, seed=5))
    assert other.model_id != fake_embedder.model_id
    with pytest.raises(BundleMismatchError, match="--rebuild"):
        index_catalog(db, other)
    with pytest.raises(BundleMismatchError, match="made by"):
        open_finder(db, bundle_id=other.model_id)
    switched = index_catalog(db, other, rebuild=True)
    assert switched.embedded == 3
    finder = open_finder(db, bundle_id=other.model_id)
    assert finder.bundle_id == other.model_id
    finder.close()
    with pytest.raises(BundleMismatchError):
        open_finder(db, bundle_id=fake_embedder.model_id)


def test_hnsw_file_is_written_atomically_with_metadata(
    shop, tmp_path, fake_embedder, hnsw_settings
) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(6))
    report = index_catalog(db, fake_embedder, settings=hnsw_settings)
    assert report.index.kind == "hnsw" and report.index.action == "rebuilt"
    idx, meta_path = index_paths(db)
    meta = json.loads(meta_path.read_text())
    assert meta["bundle_id"] == fake_embedder.model_id and meta["count"] == 6
    assert meta["bytes"] == idx.stat().st_size and len(meta["checksum"]) == 64
    pca = projection_path(db)  # 1280-d vectors, projected to the default 256-d in the graph
    assert (meta["dim"], meta["index_dim"]) == (1280, 256)
    assert meta["projection_bytes"] == pca.stat().st_size and len(meta["projection_checksum"]) == 64
    assert not list(tmp_path.glob("*.tmp*"))
    finder = open_finder(db, settings=hnsw_settings)
    assert finder.index_kind == "hnsw" and not finder.index_note
    finder.close()
    assert index_catalog(db, fake_embedder, settings=hnsw_settings).index.action == "unchanged"


@pytest.mark.parametrize(
    "damage",
    [
        "truncate",
        "flip",
        "delete_meta",
        "garbage_meta",
        "truncate_projection",
        "flip_projection",
        "delete_projection",
    ],
)
@pytest.mark.slow
def test_corrupt_index_is_detected_searched_exactly_and_rebuilt(
    damage, shop, tmp_path, fake_embedder, hnsw_settings
) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(6))
    index_catalog(db, fake_embedder, settings=hnsw_settings)
    idx, meta_path = index_paths(db)
    data, pca = idx.read_bytes(), projection_path(db)
    pca_data = pca.read_bytes()
    if damage == "truncate_projection":
        pca.write_bytes(pca_data[: len(pca_data) // 2])
    elif damage == "flip_projection":  # same size: only the checksum can tell
        pca.write_bytes(pca_data[:-100] + bytes([pca_data[-100] ^ 0xFF]) + pca_data[-99:])
    elif damage == "delete_projection":
        pca.unlink()
    elif damage == "truncate":
        idx.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # same size, different bytes: only the checksum can tell
        idx.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    elif damage == "delete_meta":
        meta_path.unlink()
    else:
        meta_path.write_text("{not json")
    finder = open_finder(db, settings=hnsw_settings)  # must not crash (hnswlib would)
    assert finder.index_kind == "exact" and finder.index_note
    vec = fake_embedder.embed([str(tmp_path / "shop" / "images" / "p3.jpg")])[0]
    assert finder.search_vector(vec, k=1).matches[0].product.sku == "S3"
    finder.close()
    if damage != "delete_meta":
        assert not check_catalog(db, hnsw_settings).ok
    report = index_catalog(db, fake_embedder, settings=hnsw_settings)
    assert report.index.action == "rebuilt"
    assert check_catalog(db, hnsw_settings).ok
    finder = open_finder(db, settings=hnsw_settings)
    assert finder.index_kind == "hnsw"
    finder.close()


def test_stale_index_is_detected_then_brought_up_to_date(
    shop, tmp_path, fake_embedder, hnsw_settings, write_image
) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(6))
    index_catalog(db, fake_embedder, settings=hnsw_settings)
    idx, meta_path = index_paths(db)
    shutil.copy(idx, tmp_path / "old.hnsw")
    shutil.copy(meta_path, tmp_path / "old.json")
    enroll_images(db, [EnrollItem("S2", write_image(tmp_path / "e.jpg", shop_photo(2)))])
    index_catalog(db, fake_embedder, settings=hnsw_settings)
    shutil.copy(tmp_path / "old.hnsw", idx)  # as if an old index were put back
    shutil.copy(tmp_path / "old.json", meta_path)
    finder = open_finder(db, settings=hnsw_settings)
    assert finder.index_kind == "exact" and "revision" in finder.index_note
    finder.close()
    report = index_catalog(db, fake_embedder, settings=hnsw_settings)
    assert (report.index.action, report.index.added) == ("updated", 1)
    assert check_catalog(db, hnsw_settings).ok


@pytest.mark.slow
def test_remove_marks_vectors_deleted_then_rebuilds_past_the_share(
    shop, tmp_path, fake_embedder
) -> None:
    settings = CatalogSettings(
        exact_threshold=1, hnsw_m=8, hnsw_ef_construction=40, rebuild_deleted_share=0.3, adapt=0
    )
    db = tmp_path / "store.db"
    import_products(db, shop(10))
    index_catalog(db, fake_embedder, settings=settings)
    first = remove_products(db, ["S1", "S2"], settings=settings)
    assert first.index.action == "updated" and first.index.deleted == 2
    assert check_catalog(db, settings).ok
    finder = open_finder(db, settings=settings)
    assert finder.index_kind == "hnsw" and finder.product("S1") is None
    vec = fake_embedder.embed([str(tmp_path / "shop" / "images" / "p1.jpg")])[0]
    assert "S1" not in [m.product.sku for m in finder.search_vector(vec, k=10).matches]
    finder.close()
    second = remove_products(db, ["S3", "S4"], settings=settings)  # 4 of 10 deleted > 30 %
    assert second.index.action == "rebuilt" and second.index.count == 6
    assert check_catalog(db, settings).ok


def test_leftover_temporary_files_are_cleaned(shop, tmp_path, fake_embedder, hnsw_settings) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(3))
    idx, _ = index_paths(db)
    (idx.parent / f"{idx.name}.tmp12345").write_bytes(b"half written")
    index_catalog(db, fake_embedder, settings=hnsw_settings)
    assert not list(tmp_path.glob("*.tmp*"))


def test_incremental_add_uses_the_stored_projection_and_scores_stay_exact(
    shop, tmp_path, fake_embedder, hnsw_settings, write_image
) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(6))
    index_catalog(db, fake_embedder, settings=hnsw_settings)
    pca_before = projection_path(db).read_bytes()
    photo = write_image(tmp_path / "e.jpg", shop_photo(2))
    enroll_images(db, [EnrollItem("S2", photo)])
    report = index_catalog(db, fake_embedder, settings=hnsw_settings)
    assert (report.index.action, report.index.added) == ("updated", 1)
    assert projection_path(db).read_bytes() == pca_before  # not refitted
    # the photo as `index` embedded it (the preprocessing of CatalogSettings)
    vec = fake_embedder.embed([str(photo)], fast=hnsw_settings.fast_preprocess)[0]
    index, _ = load_index_checked(
        db,
        bundle_id=fake_embedder.model_id,
        dim=1280,
        embeddings_revision=None,
        settings=hnsw_settings,
    )
    assert isinstance(index, ProjectedIndex)
    with sqlite3.connect(db) as conn:
        (label,) = conn.execute("SELECT max(id) FROM embeddings").fetchone()
    stored = index.graph.vectors(np.array([label]))[0]
    assert np.allclose(stored, index.projection.project(vec)[0], atol=1e-5)
    # the finder re-ranks with the full vectors: the same products and scores as exact search
    exact_settings = CatalogSettings(exact_threshold=10**6)
    for query in (vec, fake_embedder.embed([str(tmp_path / "shop/images/p4.jpg")])[0]):
        got = open_finder(db, settings=hnsw_settings)
        want = open_finder(db, settings=exact_settings)
        assert (got.index_kind, want.index_kind) == ("hnsw", "exact")
        a, b = got.search_vector(query, k=4), want.search_vector(query, k=4)
        assert [m.product.sku for m in a.matches] == [m.product.sku for m in b.matches]
        assert np.allclose([m.score for m in a.matches], [m.score for m in b.matches], atol=1e-5)
        assert abs(a.margin - b.margin) < 1e-5
        got.close()
        want.close()


def test_changing_index_dim_rebuilds_and_zero_means_full_vectors(
    shop, tmp_path, fake_embedder, hnsw_settings
) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(6))
    index_catalog(db, fake_embedder, settings=hnsw_settings)
    full = dataclasses.replace(hnsw_settings, index_dim=0)
    report = index_catalog(db, fake_embedder, settings=full)
    assert report.index.action == "rebuilt" and "256-d" in report.index.reason
    assert not projection_path(db).exists()
    assert json.loads(index_paths(db)[1].read_text())["index_dim"] == 0
    assert check_catalog(db, full).ok
    finder = open_finder(db, settings=full)
    vec = fake_embedder.embed([str(tmp_path / "shop" / "images" / "p3.jpg")])[0]
    assert (
        finder.index_kind == "hnsw"
        and finder.search_vector(vec, k=1).matches[0].product.sku == "S3"
    )
    finder.close()
    assert CatalogSettings.from_env({"AISLELENS_CATALOG_INDEX_DIM": "64"}).projected_dim(1280) == 64
    assert CatalogSettings(index_dim=2000).projected_dim(1280) == 0


def _vector_of(db: Path, path: Path) -> np.ndarray:
    with sqlite3.connect(db) as conn:
        (blob,) = conn.execute(
            "SELECT e.vector FROM embeddings e JOIN images i ON i.id = e.image_id "
            "WHERE i.path LIKE ?",
            [f"%{path.name}"],
        ).fetchone()
    return np.frombuffer(blob, np.float32)


def _preprocess_meta(db: Path) -> str | None:
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'preprocess'").fetchone()
    return row[0] if row else None


def test_a_catalog_keeps_the_preprocessing_its_vectors_were_made_with(
    shop, tmp_path, fake_embedder, write_image
) -> None:
    """New photos of a catalog are embedded as its other photos were, whatever the setting
    says now (a catalog indexed before the fast path was recorded counts as exact); `--rebuild`
    re-embeds everything the way the setting asks."""
    db = tmp_path / "store.db"
    import_products(db, shop(3))
    index_catalog(db, fake_embedder, settings=CatalogSettings(fast_preprocess=False))
    assert _preprocess_meta(db) == "exact"
    with sqlite3.connect(db) as conn:  # as a catalog indexed before the record existed
        conn.execute("DELETE FROM meta WHERE key = 'preprocess'")

    def both(path: Path) -> tuple[np.ndarray, np.ndarray]:
        exact, fast = (fake_embedder.embed([str(path)], fast=f)[0] for f in (False, True))
        assert not np.allclose(exact, fast, atol=1e-5)  # the two paths are told apart here
        return exact, fast

    photo = write_image(tmp_path / "s2-shot.jpg", shop_photo(2))
    enroll_images(db, [EnrollItem("S2", photo)])
    assert CatalogSettings().fast_preprocess
    report = index_catalog(db, fake_embedder, settings=CatalogSettings())
    assert report.embedded == 1 and _preprocess_meta(db) == "exact"
    np.testing.assert_allclose(_vector_of(db, photo), both(photo)[0], atol=1e-6)

    report = index_catalog(db, fake_embedder, settings=CatalogSettings(), rebuild=True)
    assert report.embedded == 4 and _preprocess_meta(db) == "fast"
    catalog_photo = tmp_path / "shop" / "images" / "p0.jpg"
    for path in (photo, catalog_photo):
        np.testing.assert_allclose(_vector_of(db, path), both(path)[1], atol=1e-6)
    # a new catalog takes the setting at once
    fresh = tmp_path / "fresh.db"
    import_products(fresh, shop(3))
    index_catalog(fresh, fake_embedder)
    assert _preprocess_meta(fresh) == "fast"
