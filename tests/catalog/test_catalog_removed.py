"""Removing products (``remove``, ``import --sync``), keeping them a while, and ``restore``."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from catalog_images import shop_photo
from staff_cli import run

from catalog import (
    CatalogSettings,
    ProductExistsError,
    UnknownProductError,
    check_catalog,
    enroll_frame,
    enrolled_shots,
    import_products,
    index_catalog,
    list_removed,
    remove_products,
    restore_products,
)
from catalog.finder import open_finder
from models import FakeEngine, ImageEmbedder, load_bundle


def _top(db: Path, embedder: ImageEmbedder, photo: Path) -> str | None:
    finder = open_finder(db)
    try:
        result = finder.search_vector(embedder.embed([str(photo)])[0], k=3)
        return result.matches[0].product.sku if result.matches else None
    finally:
        finder.close()


def _skus(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT sku FROM products ORDER BY id")]


def test_sync_dry_run_lists_then_sync_removes_and_restore_finds_them_at_once(
    indexed, tmp_path, fake_embedder
) -> None:
    lines = (tmp_path / "shop" / "products.csv").read_text().splitlines()
    fewer = tmp_path / "shop" / "fewer.csv"
    fewer.write_text("\n".join(lines[:5]) + "\n")  # the header and S0-S3
    code, out = run("import", fewer, "--db", indexed, "--sync", "--dry-run")
    assert code == 0 and "4 unchanged, 0 rejected, 5 removed" in out
    assert "would remove (not in fewer.csv;" in out and "  S4\n  S5\n  S6\n" in out
    assert _skus(indexed) == [f"S{i}" for i in range(9)]  # a dry run removes nothing
    report = import_products(indexed, fewer, sync=True)
    assert report.removed == ["S4", "S5", "S6", "S7", "S8"]
    assert _skus(indexed) == ["S0", "S1", "S2", "S3"]
    photo = tmp_path / "shop" / "images" / "p4.jpg"
    assert _top(indexed, fake_embedder, photo) != "S4"
    kept = {r.sku: r for r in list_removed(indexed)}
    assert set(kept) == {"S4", "S5", "S6", "S7", "S8"}
    assert (kept["S4"].catalog_photos, kept["S4"].vectors) == (1, 1)
    assert kept["S4"].reason == "import --sync fewer.csv"
    checked = check_catalog(indexed)  # S3 goes well with S4: a warning while it can come back
    assert checked.ok and any(
        "S3: goes well with S4, which was removed" in w for w in checked.warnings
    )
    code, out = run("restore", "--db", indexed, "--list")
    assert code == 0 and out.splitlines()[0].split()[:4] == ["sku", "name", "removed", "kept"]
    assert "5 removed products can be restored" in out
    code, out = run("restore", "--db", indexed, "S4")
    assert code == 0 and out.strip() == (
        "restored 1 product with 1 reference image, 1 of them with their vectors (searchable now)"
    )
    assert _top(indexed, fake_embedder, photo) == "S4"  # found at once, no `index` needed
    finder = open_finder(indexed)
    assert finder.thumbnail("S4") is not None and finder.product("S4").related == ("S5", "S6")
    assert [p.sku for p in finder.search_text("product 4")] == ["S4"]
    finder.close()
    assert index_catalog(indexed, fake_embedder).embedded == 0  # nothing left to embed
    assert sorted(r.sku for r in list_removed(indexed)) == ["S5", "S6", "S7", "S8"]
    code, out = run("restore", "--db", indexed, "S4")
    assert code == 2 and "not among the removed products: S4 (nothing restored" in out
    import_products(indexed, tmp_path / "shop" / "products.csv")  # S5-S8 are back from the file
    with pytest.raises(ProductExistsError, match="in the catalog again: S5"):
        restore_products(indexed, ["S5"])
    assert check_catalog(indexed).ok


def test_sync_keeps_rejected_skus_and_removes_nothing_when_a_sku_is_unreadable(
    indexed, tmp_path
) -> None:
    f = tmp_path / "sync.csv"
    f.write_text("sku,name,price\nS0,Product 0,0.5\nS1,Product 1,not a price\n")
    report = import_products(indexed, f, sync=True, dry_run=True)
    assert report.rejected == ["S1"] and report.removed == [f"S{i}" for i in range(2, 9)]
    f.write_text("sku,name,price\nS0,Product 0,0.5\n,Lost its SKU,1\n")
    code, out = run("import", f, "--db", indexed, "--sync")
    assert code == 1 and "0 removed" in out
    assert "sync: nothing removed: the SKU of row 3 could not be read" in out
    assert len(_skus(indexed)) == 9


def test_remove_dry_run_then_remove_keeps_them_for_restore(indexed, tmp_path) -> None:
    code, out = run("remove", "--db", indexed, "S1", "S2", "--dry-run")
    assert code == 0 and out.startswith("would remove 2 products and 2 reference images: S1, S2")
    assert "warning: still named as 'goes well with' by S0, S8" in out
    assert "would be kept until" in out and "catalog restore --db" not in out  # nothing to undo
    assert len(_skus(indexed)) == 9
    code, out = run("remove", "--db", indexed, "S1", "S2")
    assert code == 0 and out.startswith("removed 2 products and 2 reference images: S1, S2")
    assert f"aislelens catalog restore --db {indexed} S1 S2" in out
    assert _skus(indexed) == ["S0", *(f"S{i}" for i in range(3, 9))]
    report = check_catalog(indexed)
    assert report.ok and any(
        "S0: goes well with S1, which was removed" in w for w in report.warnings
    )
    restore_products(indexed, ["S1", "S2"])
    assert sorted(_skus(indexed)) == [f"S{i}" for i in range(9)]


def test_restore_brings_enrolled_shots_back_into_the_adaptation(adapted, tmp_path) -> None:
    shots_before = enrolled_shots(adapted, "S2")
    assert len(shots_before) == 3
    vector = _stored_vector(adapted, shots_before[0].image_id)
    finder = open_finder(adapted)
    assert finder.search_vector(vector, k=3).matches[0].product.sku == "S2"
    finder.close()
    remove_products(adapted, ["S2"])
    finder = open_finder(adapted)
    assert finder.adaptation is not None and finder.product("S2") is None
    finder.close()
    report = restore_products(adapted, ["S2"])
    assert (report.images, report.vectors, report.to_embed) == (4, 4, 0)
    assert [s.path for s in enrolled_shots(adapted, "S2")] == [s.path for s in shots_before]
    finder = open_finder(adapted)
    try:  # refitted with its prototype, without the model: the shot finds it again
        assert finder.adaptation is not None and finder.adaptation.products == 8
        assert finder.search_vector(vector, k=3).matches[0].product.sku == "S2"
    finally:
        finder.close()
    assert check_catalog(adapted).ok


def _stored_vector(db: Path, image_id: int) -> np.ndarray:
    with sqlite3.connect(db) as conn:
        blob = conn.execute("SELECT vector FROM embeddings WHERE image_id = ?", [image_id])
        return np.frombuffer(blob.fetchone()[0], np.float32)


def test_vectors_of_another_bundle_are_not_restored_index_embeds_again(
    indexed, tmp_path, fake_embedder
) -> None:
    remove_products(indexed, ["S3"])
    engine = FakeEngine(dim=1280, seed=7)
    engine.description = "other-fake"
    other = ImageEmbedder(load_bundle(), "fp32", engine=engine)
    index_catalog(indexed, other, rebuild=True)  # the catalog now holds another bundle's vectors
    code, out = run("restore", "--db", indexed, "S3")
    assert code == 0 and "with 1 reference image, 0 of them with their vectors" in out
    assert f"next: aislelens catalog index --db {indexed} (embeds the other 1 photo:" in out
    photo = tmp_path / "shop" / "images" / "p3.jpg"
    assert _top(indexed, other, photo) != "S3"  # not findable until it is embedded again
    assert index_catalog(indexed, other).embedded == 1
    assert _top(indexed, other, photo) == "S3"


def _age(db: Path, sku: str, days: int) -> None:
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE removed_products SET removed_at = ? WHERE sku = ?", [when, sku])


def test_removed_products_are_purged_by_a_later_write_after_the_retention(
    indexed, tmp_path, fake_embedder
) -> None:
    enroll_frame(indexed, "S1", shop_photo(1))
    shot = enrolled_shots(indexed, "S1")[0].path
    remove_products(indexed, ["S1", "S2", "S3", "S4"])
    assert shot.is_file() and len(list_removed(indexed)) == 4
    _age(indexed, "S1", 31)
    assert "S1" not in [r.sku for r in list_removed(indexed)]  # past its time: not offered
    longer = CatalogSettings.from_env({"AISLELENS_CATALOG_REMOVED_KEEP_DAYS": "40"})
    assert "S1" in [r.sku for r in list_removed(indexed, longer)]
    index_catalog(indexed, fake_embedder)  # a later write purges it, with its shot's file
    assert not shot.exists()
    _age(indexed, "S2", 31)
    import_products(indexed, tmp_path / "shop" / "products.csv")  # S1-S4 are back from the file
    _age(indexed, "S3", 31)
    with pytest.raises(UnknownProductError, match="not among the removed products: S3"):
        restore_products(indexed, ["S3"])
    _age(indexed, "S4", 31)
    remove_products(indexed, ["S5"])
    assert [r.sku for r in list_removed(indexed)] == ["S5"]
    with sqlite3.connect(indexed) as conn:
        kept = conn.execute("SELECT count(*) FROM removed_images").fetchone()[0]
        assert (
            kept == 1 and conn.execute("SELECT count(*) FROM removed_products").fetchone()[0] == 1
        )


def test_a_sku_imported_again_keeps_its_removed_copy_and_restore_replace_brings_it_back(
    indexed, tmp_path, fake_embedder
) -> None:
    """Removed, then a new product of that SKU imported, then removed again (as `restore`'s
    advice once had staff do): the first copy, with its photo, is not lost; `--replace` puts
    the removed one back over the one in the catalog, which is kept as removed in its turn."""
    photo = tmp_path / "shop" / "images" / "p4.jpg"
    remove_products(indexed, ["S4"])
    again = tmp_path / "again.csv"
    again.write_text("sku,name,price\nS4,Buttermilk NEW,1.10\n")
    import_products(indexed, again)
    listed = {r.sku: r for r in list_removed(indexed)}
    assert listed["S4"].in_catalog
    code, out = run("restore", "--db", indexed, "--list")
    assert "(in the catalog again)" in out
    code, out = run("restore", "--db", indexed, "S4")
    assert code == 2 and "`restore --replace` puts the removed one back" in out
    code, out = run("restore", "--db", indexed, "--replace", "S4")
    assert code == 0 and "restored 1 product with 1 reference image" in out
    finder = open_finder(indexed)
    try:
        assert finder.product("S4").name == "Product 4"  # the original, with its photo
    finally:
        finder.close()
    assert _top(indexed, fake_embedder, photo) == "S4"
    kept = [r for r in list_removed(indexed) if r.sku == "S4"]
    assert [(r.name, r.reason) for r in kept] == [("Buttermilk NEW", "replaced by restore")]
    remove_products(indexed, ["S4"])  # twice removed: both copies kept, the newest restored
    assert sorted(r.name for r in list_removed(indexed) if r.sku == "S4") == [
        "Buttermilk NEW",
        "Product 4",
    ]
    restore_products(indexed, ["S4"])
    finder = open_finder(indexed)
    try:
        assert finder.product("S4").name == "Product 4"
    finally:
        finder.close()


def test_a_sync_from_a_file_naming_no_product_is_refused_and_restore_all_undoes_a_sync(
    indexed, tmp_path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("sku,name,price\n")
    code, out = run("import", empty, "--db", indexed, "--sync")
    assert code == 2 and "names no product, so --sync would empty the catalog" in out
    assert len(_skus(indexed)) == 9  # nothing changed
    few = tmp_path / "few.csv"
    few.write_text("sku,name,price\nS0,Product 0,0.5\n")
    assert import_products(indexed, few, sync=True).removed == [f"S{i}" for i in range(1, 9)]
    code, out = run("restore", "--db", indexed, "--all")
    assert code == 0 and out.startswith("restored 8 products")
    assert sorted(_skus(indexed)) == [f"S{i}" for i in range(9)]
    code, out = run("restore", "--db", indexed, "--all", "S1")
    assert code == 2 and "one of them" in out
