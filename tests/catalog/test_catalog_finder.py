"""The kiosk's view: products (not images) ranked by image, filters, text, versions, threads."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from catalog_images import shop_photo

from catalog import (
    CatalogNotFoundError,
    CatalogSettings,
    EnrollItem,
    MatchKind,
    ProductFinder,
    SchemaError,
    catalog_version_on_disk,
    enroll_images,
    import_products,
    index_catalog,
    open_finder,
)


def _vec(embedder, path: Path) -> np.ndarray:
    return embedder.embed([str(path)])[0]


def test_results_are_products_best_image_wins_with_margin(
    indexed, tmp_path, fake_embedder, write_image
) -> None:
    shots = [write_image(tmp_path / f"s{i}.jpg", shop_photo(4, i)) for i in range(3)]
    enroll_images(indexed, [EnrollItem("S4", p) for p in shots])
    index_catalog(indexed, fake_embedder, settings=CatalogSettings(adapt=0))  # photo by photo
    finder = open_finder(indexed, bundle_id=fake_embedder.model_id)
    assert isinstance(finder, ProductFinder) and finder.adaptation is None
    result = finder.search_vector(_vec(fake_embedder, shots[1]), k=5)
    skus = [m.product.sku for m in result.matches]
    assert skus[0] == "S4" and len(skus) == len(set(skus)) == 5
    assert result.matches[0].score == pytest.approx(1.0, abs=1e-4)  # the enrolled shot itself
    assert result.margin == pytest.approx(result.matches[0].score - result.matches[1].score)
    assert set(result.timings_ms) == {"search", "lookup"}
    assert finder.product("S4").image_count == 4
    finder.close()


def test_filters_by_category_and_stock(indexed, tmp_path, fake_embedder) -> None:
    (tmp_path / "stock.csv").write_text("sku,in_stock\nS3,no\nS6,no\n")
    import_products(indexed, tmp_path / "stock.csv")
    finder = open_finder(indexed)
    vec = _vec(fake_embedder, tmp_path / "shop" / "images" / "p3.jpg")
    fruit = finder.search_vector(vec, k=10, category="Fruit")
    assert {m.product.sku for m in fruit.matches} == {"S0", "S3", "S6"}
    in_stock = finder.search_vector(vec, k=10, category="Fruit", in_stock_only=True)
    assert [m.product.sku for m in in_stock.matches] == ["S0"] and in_stock.margin == 1.0
    assert finder.search_vector(vec, k=3, category="Nope").matches == []
    finder.close()


def test_similar_goes_well_with_browse_categories(indexed) -> None:
    finder = open_finder(indexed)
    similar = finder.similar("S2", k=4)
    assert len(similar) == 4 and "S2" not in [m.product.sku for m in similar]
    assert all(-1.0 <= m.score <= 1.0 for m in similar)
    assert [p.sku for p in finder.goes_well_with("S8")] == ["S0", "S1"]
    assert finder.similar("NOPE") == [] and finder.goes_well_with("NOPE") == []
    # same kind first: S2 is Bakery/Sub0; the other Bakery products are S5 (Sub1), S8 (Sub0)
    kinds = [(m.product.category, m.product.subcategory) for m in similar]
    assert kinds[:2] == [("Bakery", "Sub0"), ("Bakery", "Sub1")], kinds
    assert all(c != "Bakery" for c, _ in kinds[2:])
    assert finder.categories() == ["Bakery", "Dairy", "Fruit"]
    assert [p.sku for p in finder.browse("Dairy")] == ["S4", "S1", "S7"]  # subcategory, name
    assert finder.thumbnail("NOPE") is None
    finder.close()


def test_text_search_prefixes_any_punctuation_and_ranking(indexed) -> None:
    finder = open_finder(indexed)
    assert [p.sku for p in finder.search_text("product 7")] == ["S7"]
    assert {p.sku for p in finder.search_text("tast numb", k=50)} == {f"S{i}" for i in range(9)}
    assert [p.sku for p in finder.search_text("product's #7!")] == ["S7"]
    assert finder.search_text('"product" AND (7 OR NEAR') == []  # words, never FTS syntax
    assert finder.search_text("   ") == [] and finder.search_text("zzz") == []
    assert [p.sku for p in finder.search_text("bakery product 5")] == ["S5"]
    finder.close()


def test_text_tower_results_follow_the_full_text_matches(indexed, tmp_path, fake_embedder) -> None:
    target = _vec(fake_embedder, tmp_path / "shop" / "images" / "p6.jpg")

    class FakeTextTower:
        def embed_text(self, texts: list[str]) -> np.ndarray:
            return np.stack([target for _ in texts])

    finder = open_finder(indexed, text_embedder=FakeTextTower())
    assert [p.sku for p in finder.search_text("product 2", k=3)][:2] == ["S2", "S6"]
    assert finder.search_text("something red", k=1)[0].sku == "S6"
    hits = finder.find_text("product 2", k=3)
    assert [h.kind for h in hits] == [MatchKind.WORD, MatchKind.LOOKS, MatchKind.LOOKS]
    finder.close()


def test_catalog_version_changes_with_the_catalog(indexed, tmp_path, fake_embedder) -> None:
    finder = open_finder(indexed)
    assert catalog_version_on_disk(indexed) == finder.catalog_version
    (tmp_path / "u.csv").write_text("sku,price\nS1,7.00\n")
    import_products(indexed, tmp_path / "u.csv")
    assert catalog_version_on_disk(indexed) != finder.catalog_version
    assert finder.product("S1").price == 7.0  # details are read live
    finder.close()


def test_concurrent_searches_from_many_threads(indexed, tmp_path, fake_embedder) -> None:
    finder = open_finder(indexed)
    vecs = [_vec(fake_embedder, tmp_path / "shop" / "images" / f"p{i}.jpg") for i in range(9)]

    def top(i: int) -> str:
        result = finder.search_vector(vecs[i % 9], k=3)
        finder.thumbnail(result.matches[0].product.sku)
        return result.matches[0].product.sku

    with ThreadPoolExecutor(6) as pool:
        tops = list(pool.map(top, range(90)))
    assert tops == [f"S{i % 9}" for i in range(90)]
    finder.close()


def test_opening_something_that_is_not_a_catalog(tmp_path) -> None:
    with pytest.raises(CatalogNotFoundError):
        open_finder(tmp_path / "missing.db")
    (tmp_path / "text.db").write_text("hello, not a database at all")
    with pytest.raises(SchemaError, match="not an SQLite file"):
        open_finder(tmp_path / "text.db")
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(SchemaError, match="not an AisleLens catalog"):
        open_finder(tmp_path / "other.db")


def test_a_catalog_from_a_newer_aislelens_is_refused(indexed) -> None:
    with sqlite3.connect(indexed) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('aislelens-catalog', 'm999_future', 'now')"
        )
    with pytest.raises(SchemaError, match="newer"):
        open_finder(indexed)


def test_an_empty_catalog_searches_nothing(tmp_path, fake_embedder, shop) -> None:
    db = tmp_path / "c.db"
    import_products(db, shop(2))
    finder = open_finder(db)
    result = finder.search_vector(np.ones(1280, np.float32) / np.sqrt(1280), k=5)
    assert result.matches == [] and result.margin == 0.0
    assert finder.product("S0") is not None
    finder.close()
