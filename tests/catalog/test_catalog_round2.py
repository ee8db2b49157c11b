"""Staff data operations: list, export (a fixed point of import), import warnings, enrolling by
SKU, and what the kiosk decides when two products have the same photo."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from catalog_images import draw_product, shop_photo
from staff_cli import run

from catalog import (
    CatalogSettings,
    EnrollItem,
    OutputFileError,
    check_catalog,
    enroll_images,
    export_catalog,
    import_products,
    index_catalog,
    list_products,
    open_finder,
)
from catalog.decisions import Decision, DecisionThresholds, decide_result, decision_reason
from catalog.finder import SHARED_NEAR
from kiosk.recognizer import Outcome, classify


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


# --- list -----------------------------------------------------------------------------------


def test_list_filters_counts_and_natural_order(shop, tmp_path, write_image) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(12))
    (tmp_path / "stock.csv").write_text("sku,in_stock,aisle\nS3,no,Aisle 9\n")
    import_products(db, tmp_path / "stock.csv")
    shots = [write_image(tmp_path / f"s{k}.jpg", shop_photo(1, k)) for k in range(2)]
    enroll_images(db, [EnrollItem("S1", p) for p in shots])
    rows = list_products(db)
    assert [r.sku for r in rows] == [f"S{i}" for i in range(12)]  # S2 before S10
    s1, s3 = rows[1], rows[3]
    assert (s1.catalog_photos, s1.enrolled_shots, s1.price, s1.category) == (1, 2, 1.5, "Dairy")
    assert (s3.in_stock, s3.aisle) == (False, "Aisle 9")
    assert [r.sku for r in list_products(db, in_stock=False)] == ["S3"]
    assert [r.sku for r in list_products(db, with_shots=True)] == ["S1"]
    assert len(list_products(db, with_shots=False)) == 11
    assert [r.sku for r in list_products(db, category="fruit")] == ["S0", "S3", "S6", "S9"]
    assert [r.sku for r in list_products(db, category="Fruit", in_stock=True)] == ["S0", "S6", "S9"]
    assert [r.sku for r in list_products(db, text="product 7")] == ["S7"]  # the kiosk's search
    assert list_products(db, text="zzz") == []
    code, out = run("list", "--db", db, "--out-of-stock", "--json")
    assert code == 0 and json.loads(out) == [rows[3].as_dict()]
    code, out = run("list", "--db", db, "--with-shots")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "sku", "name", "price", "aisle", "category", "stock", "photos", "shots"
    ]  # fmt: skip
    assert lines[1].split() == ["S1", "Product", "1", "1.50", "EUR", "Dairy", "yes", "1", "2"]
    assert lines[-1] == "1 product"


# --- export -------------------------------------------------------------------------------

RICH = [
    {
        "sku": "R1",
        "name": "Crème brûlée",
        "price": 2.5,
        "category": "Dairy",
        "subcategory": "Dessert",
        "aisle": "Aisle 3",
        "description": 'Rich, creamy; "the best"; ""really""\nsecond line',
        "image": ["images/p0.jpg", "images/p1.jpg"],
        "related": ["R2", "007"],
        "colour": "gold",
        "attributes": {
            "organic": True,
            "weight_g": 125,
            "nutrition": {"kcal": 250},
            "Pack Size": "4 x 100 g",
            "location": "back room",  # an alias of aisle as a column: must stay an attribute
            "note": " padded ",
            "empty": "",
        },
    },
    {"sku": "R2", "name": "Bread", "price": 3, "in_stock": False, "colour": "brown"},
    {"sku": "R3", "name": "Tea", "price": 1.2345, "currency": "GBP", "image": []},
    {"sku": "007", "name": 'Agent; "double" O', "price": None, "description": "semi;colon;s"},
    {"sku": "R5", "name": "Juice", "price": 0.1, "attributes": {"colour": True}},
]


@pytest.fixture
def rich_catalog(tmp_path, write_image) -> Path:
    """Products with every kind of value, photos inside the shop folder and one outside it."""
    for i in range(2):
        write_image(tmp_path / "shop" / "images" / f"p{i}.jpg", draw_product(i))
    outside = write_image(tmp_path / "elsewhere" / "x.jpg", draw_product(5))
    items = [dict(item) for item in RICH]
    items[1]["image"] = [str(outside)]
    (tmp_path / "shop" / "rich.json").write_text(json.dumps(items), encoding="utf-8")
    db = tmp_path / "a.db"
    report = import_products(db, tmp_path / "shop" / "rich.json")
    assert report.ok and len(report.created) == 5, report.issues
    return db


def _products(db: Path) -> list[tuple]:
    finder = open_finder(db)
    try:
        out = []
        for row in list_products(db):
            p = finder.product(row.sku)
            out.append((p, p.attributes, row.catalog_photos, finder.thumbnail(p.sku) is not None))
        return out
    finally:
        finder.close()


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_export_import_export_gives_the_same_bytes(rich_catalog, tmp_path, suffix) -> None:
    first = tmp_path / "shop" / f"export1{suffix}"
    report = export_catalog(rich_catalog, first)
    assert (report.products, report.images, report.missing) == (5, 3, [])
    text = first.read_text(encoding="utf-8-sig")
    # photos in the file's folder are relative to it, the one outside is absolute
    assert "images/p0.jpg" in text and str(tmp_path / "elsewhere" / "x.jpg") in text
    assert str(tmp_path / "shop" / "images") not in text
    again = tmp_path / "b.db"
    imported = import_products(again, first)
    assert imported.ok and imported.warnings == [] and len(imported.created) == 5
    second = tmp_path / "shop" / f"export2{suffix}"
    export_catalog(again, second)
    assert second.read_bytes() == first.read_bytes()
    assert _products(again) == _products(rich_catalog)  # nothing lost on the way
    assert not list((tmp_path / "shop").glob(".export*"))  # no temporary file left


def test_csv_export_columns_and_the_attributes_that_need_json(
    rich_catalog, tmp_path, write_image
) -> None:
    shot = write_image(tmp_path / "shots" / "r1.jpg", shop_photo(0))
    enroll_images(rich_catalog, [EnrollItem("R1", shot)])
    out = tmp_path / "shop" / "products.csv"
    code, printed = run("export", "--db", rich_catalog, out)
    assert code == 0 and "exported 5 products with 3 catalog photos" in printed
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # spreadsheets read the accents right
    header = data.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == [
        "sku", "name", "price", "currency", "category", "subcategory", "aisle", "description",
        "in_stock", "image", "related", "colour", "attributes",
    ]  # fmt: skip
    rows = {r[0]: r for r in csv.reader(data.decode("utf-8-sig").splitlines()[1:])}
    assert rows["R2"][2:4] == ["3.00", "EUR"] and rows["R2"][8] == "no"
    assert rows["R3"][2:4] == ["1.2345", "GBP"] and rows["007"][2] == ""
    assert rows["R1"][9] == "images/p0.jpg|images/p1.jpg" and rows["R1"][10] == "R2|007"
    assert rows["R1"][11] == "gold" and rows["R5"][11] == ""  # colour: true goes into the JSON
    assert json.loads(rows["R5"][12]) == {"colour": True}
    assert json.loads(rows["R1"][12])["location"] == "back room"
    assert "r1.jpg" not in data.decode("utf-8-sig")  # enrolled shots are not exported


def test_a_description_full_of_semicolons_does_not_change_the_delimiter(tmp_path) -> None:
    # what csv.Sniffer takes for a ';'-separated file; the header's sku column decides
    (tmp_path / "p.csv").write_text(
        'sku,name,description\nA,Apple,"red; sweet; ""crisp""; local"\nB,Bread,"one; two; three"\n'
    )
    report = import_products(tmp_path / "c.db", tmp_path / "p.csv")
    assert report.ok and report.created == ["A", "B"]
    assert [r.name for r in list_products(tmp_path / "c.db")] == ["Apple", "Bread"]


def test_export_with_images_copies_the_photos_beside_the_file(rich_catalog, tmp_path) -> None:
    out = tmp_path / "backup" / "products.jsonl"
    photos = tmp_path / "backup" / "photos"
    code, printed = run("export", "--db", rich_catalog, out, "--images", photos)
    assert code == 0 and "3 photos copied" in printed
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    refs = [ref for item in lines for ref in item["image"]]
    assert len(refs) == 3 and all(r.startswith("photos/") for r in refs)
    assert sorted(p.name for p in photos.iterdir()) == sorted(Path(r).name for r in refs)
    shutil.rmtree(tmp_path / "shop" / "images")  # the originals gone: the backup suffices
    shutil.rmtree(tmp_path / "elsewhere")
    restored = tmp_path / "restored.db"
    assert import_products(restored, out).ok
    assert sum(r.catalog_photos for r in list_products(restored)) == 3
    before = out.read_bytes()
    code, printed = run("export", "--db", restored, out, "--images", photos)
    assert code == 0 and "0 photos copied" in printed  # the copies are already there
    assert out.read_bytes() == before


def test_export_names_missing_photos_and_refuses_what_it_cannot_write(
    rich_catalog, tmp_path
) -> None:
    (tmp_path / "elsewhere" / "x.jpg").unlink()
    code, out = run("export", "--db", rich_catalog, tmp_path / "e.csv")
    assert code == 1 and "photos missing" in out and "R2: " in out and "x.jpg" in out
    code, out = run("export", "--db", rich_catalog, tmp_path / "copies.csv", "--images",
                    tmp_path / "copies")  # fmt: skip
    assert code == 1 and "x.jpg" in (tmp_path / "copies.csv").read_text()  # still named
    again = tmp_path / "again.db"
    reimported = import_products(again, tmp_path / "copies.csv")
    assert "R2" in reimported.rejected  # reported, not silently dropped from the product
    code, out = run("export", "--db", rich_catalog, tmp_path / "e.xlsx")
    assert code == 2 and out.startswith("error: ") and "unknown file type" in out
    code, out = run("export", "--db", rich_catalog, tmp_path / "e.txt", "--format", "json")
    assert code == 2 and "unknown file type '.txt'" in out  # import would read it as CSV
    code, out = run("export", "--db", rich_catalog, tmp_path / "e.csv", "--format", "json")
    assert code == 2 and "the name says csv" in out
    pipe = [{"sku": "P|1", "name": "Pipe"}, {"sku": "R1", "related": ["P|1"]}]
    (tmp_path / "pipe.json").write_text(json.dumps(pipe))
    assert import_products(rich_catalog, tmp_path / "pipe.json").ok
    with pytest.raises(OutputFileError, match=re.escape("SKU R1: related 'P|1' holds a '|'")):
        export_catalog(rich_catalog, tmp_path / "bar.csv")
    assert not (tmp_path / "bar.csv").exists() and not list(tmp_path.glob(".bar.csv*"))
    export_catalog(rich_catalog, tmp_path / "bar.jsonl")  # JSON holds any SKU
    assert '"related": ["P|1"]' in (tmp_path / "bar.jsonl").read_text()


# --- import warnings and clearer problems ----------------------------------------------------


def test_import_problems_and_warnings_are_told_apart(tmp_path, write_image) -> None:
    for i in range(3):
        write_image(tmp_path / f"p{i}.jpg", draw_product(i))
    shutil.copy(tmp_path / "p1.jpg", tmp_path / "twin.jpg")
    f = tmp_path / "products.csv"
    f.write_text(
        "sku,name,price,image,related\n"  # row 1
        "A,Apple,1.00,p0.jpg,B\n"  # 2
        "B,Bread,2.00,p1.jpg,ZZZ\n"  # 3 goes well with a SKU nobody has
        "C,Cake,-1.50,p2.jpg,\n"  # 4 negative
        "D,Dates,0,,\n"  # 5 free?
        "E,Eggs,1.00,,\n"  # 6
        "E,Eggs,1.20,,\n"  # 7 disagrees with row 6
        "T,Twin,1.00,twin.jpg,A\n"  # 8 the same bytes as B's photo
    )
    db = tmp_path / "store.db"
    code, out = run("import", f, "--db", db, "--json")
    report = json.loads(out)
    assert code == 1 and report["rejected"] == ["C", "E"] and report["created"] == 4
    issues = {(i["row"], i["column"]): i["reason"] for i in report["issues"]}
    assert issues[(4, "price")] == "'-1.50' is a negative price (a price is 0 or more)"
    assert issues[(7, "price")].startswith("SKU E not imported: 1.20 here, 1.00 in row 6")
    assert issues[(6, "")].startswith("SKU E not imported, this row included: row 7")
    warnings = {(w["row"], w["column"]): w["reason"] for w in report["warnings"]}
    assert set(warnings) == {(3, "related"), (5, "price"), (3, "image"), (8, "image")}
    assert "'ZZZ', which is not in the catalog" in warnings[(3, "related")]
    assert "the price is 0" in warnings[(5, "price")]
    assert "SKU T has the same photo (identical bytes) as SKU B" in warnings[(8, "image")]
    # warnings alone do not fail an import, and are printed apart from problems
    f.write_text("sku,name,price,image,related\nB,Bread,2.00,p1.jpg,ZZZ\nD,Dates,0,,\n")
    code, out = run("import", f, "--db", db)
    assert code == 0 and "warnings (row, column: reason):" in out and "problems" not in out
    assert "row 3, price: the price is 0" in out


def test_check_fails_on_a_missing_related_sku_and_warns_about_a_shared_photo(
    tmp_path, write_image
) -> None:
    write_image(tmp_path / "p.jpg", draw_product(0))
    shutil.copy(tmp_path / "p.jpg", tmp_path / "same.jpg")
    (tmp_path / "p.csv").write_text("sku,name,image,related\nA,Apple,p.jpg,\nB,Box,same.jpg,A\n")
    db = tmp_path / "store.db"
    import_products(db, tmp_path / "p.csv")
    report = check_catalog(db)
    assert (
        report.ok
        and len(report.warnings) == 1
        and "A and B have the same photo" in (report.warnings[0])
    )
    code, out = run("check", "--db", db)
    assert code == 0 and out.splitlines()[-1] == "ok (1 warning)" and "warning: A and B" in out
    (tmp_path / "r.csv").write_text("sku,related\nA,GONE\n")
    import_products(db, tmp_path / "r.csv")
    code, out = run("check", "--db", db)
    assert code == 1 and "problem: A: goes well with 'GONE', which is not in the catalog" in out
    assert out.splitlines()[-1] == "1 problem (1 warning)"


# --- enrolling by SKU ------------------------------------------------------------------------


def test_enroll_an_unknown_sku_is_one_line_and_enrols_nothing(shop, tmp_path, write_image) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(2))
    photo = write_image(tmp_path / "photo.jpg", shop_photo(1))
    code, out = run("enroll", "--db", db, "--sku", "7777", photo)
    assert code == 2 and out.strip() == f"error: {db}: no such SKU: 7777 (nothing enrolled)"
    assert _count(db, "SELECT count(*) FROM images WHERE kind = 'enrolled'") == 0
    code, out = run("enroll", "--db", db, "--sku", "S1", photo, photo, tmp_path / "none.jpg")
    assert code == 1
    assert out.startswith("enrolled 1 photo for 1 product (1 already enrolled, 1 rejected)")
    assert f"  {tmp_path / 'none.jpg'}: no such file" in out and "row 3" not in out
    assert _count(db, "SELECT count(*) FROM images WHERE kind = 'enrolled'") == 1
    (tmp_path / "shots.csv").write_text("sku,image\nS0,photo.jpg\nNOPE,photo.jpg\n")
    code, out = run("enroll", "--db", db, tmp_path / "shots.csv")
    assert code == 1 and out.startswith("enrolled 1 photo for 1 product (0 already enrolled, 1")
    assert "row 3, sku: unknown SKU 'NOPE' (not in the catalog)" in out
    assert _count(db, "SELECT count(*) FROM images WHERE kind = 'enrolled'") == 2
    (tmp_path / "cols.csv").write_text("sku,picture\nS0,photo.jpg\n")
    code, out = run("enroll", "--db", db, tmp_path / "cols.csv")
    assert code == 2 and "no image or path column" in out and out.count("\n") == 1


# --- the same photo on two products: what the kiosk decides ---------------------------------


@pytest.fixture
def twins(shop, tmp_path) -> Path:
    """A shop whose S6 was given S2's photo (the same bytes under another name)."""
    csv_path = shop(6, extra_rows=["S6,Twin of two,1.0,Fruit,Sub0,Same pack,images/twin.jpg,,"])
    images = tmp_path / "shop" / "images"
    shutil.copy(images / "p2.jpg", images / "twin.jpg")
    db = tmp_path / "store.db"
    report = import_products(db, csv_path)
    assert report.ok and {w.sku for w in report.warnings} == {"S2", "S6"}
    return db


def _assert_not_sure_between_twins(db: Path, vector) -> None:
    finder = open_finder(db)
    try:
        result = finder.search_vector(vector, k=5)
        assert {m.product.sku for m in result.matches[:2]} == {"S2", "S6"}
        assert result.margin == pytest.approx(0.0, abs=1e-5)
        assert result.shared_photo == ("S2", "S6")
        # even where the thresholds would accept a zero margin, no product is picked
        eager = DecisionThresholds(confident_score=0.0, confident_margin=0.0, min_score=-1.0)
        assert decide_result(result, eager) is Decision.NOT_SURE
        assert classify(result, eager) is Outcome.NOT_SURE
        assert "S2 and S6 have the same photo" in decision_reason(result, eager)
    finally:
        finder.close()


def test_two_products_with_one_photo_are_candidates_never_a_guess(
    twins, tmp_path, fake_embedder
) -> None:
    index_catalog(twins, fake_embedder)
    images = tmp_path / "shop" / "images"
    _assert_not_sure_between_twins(twins, fake_embedder.embed([str(images / "p2.jpg")])[0])
    finder = open_finder(twins)
    try:  # a product with its own photo is still found
        result = finder.search_vector(fake_embedder.embed([str(images / "p4.jpg")])[0], k=5)
        assert result.shared_photo == () and result.matches[0].product.sku == "S4"
        assert decide_result(result, finder.decision_thresholds) is Decision.FOUND
        assert decision_reason(result, finder.decision_thresholds) == ""
    finally:
        finder.close()


def test_twins_are_not_sure_with_the_store_adaptation_too(
    twins, tmp_path, fake_embedder, write_image
) -> None:
    shots = [
        EnrollItem(f"S{i}", write_image(tmp_path / f"s{i}_{k}.jpg", shop_photo(i, k)))
        for i in (0, 1, 3, 4, 5)
        for k in range(2)
    ]
    enroll_images(twins, shots)
    report = index_catalog(twins, fake_embedder, settings=CatalogSettings(adapt_views=4))
    assert report.adaptation is not None and report.adaptation.action == "fitted"
    finder = open_finder(twins)
    assert finder.adaptation is not None  # prototypes: the twins' are the same vector
    finder.close()
    photo = tmp_path / "shop" / "images" / "twin.jpg"
    _assert_not_sure_between_twins(twins, fake_embedder.embed([str(photo)])[0])


def test_a_product_just_ahead_of_one_sharing_its_photo_is_not_a_sure_thing(
    twins, tmp_path, fake_embedder
) -> None:
    """S2 also has an enrolled shot of its own: a scan a little nearer that shot puts S2 ahead
    of S6 by a margin the thresholds would accept, but S6 shares S2's photo and is close
    behind, so the answer is still "not sure"; far behind, it no longer matters."""
    import cv2

    images = tmp_path / "shop" / "images"
    cv2.imwrite(str(tmp_path / "s2-shot.jpg"), draw_product(77))  # a photo of S2's own
    enroll_images(twins, [EnrollItem("S2", tmp_path / "s2-shot.jpg")])
    index_catalog(twins, fake_embedder)
    shared, own = fake_embedder.embed([str(images / "p2.jpg"), str(tmp_path / "s2-shot.jpg")])
    eager = DecisionThresholds(confident_score=0.0, confident_margin=0.01, min_score=-1.0)
    finder = open_finder(twins)
    try:
        for mix, near in ((0.55, True), (1.0, False)):
            query = mix * own + (1 - mix) * shared
            result = finder.search_vector(query / np.linalg.norm(query), k=5)
            lead = result.matches[0].score - next(
                m.score for m in result.matches if m.product.sku == "S6"
            )
            assert result.matches[0].product.sku == "S2" and lead > 0.01
            if near:
                assert lead < SHARED_NEAR and result.shared_photo == ("S2", "S6")
                assert decide_result(result, eager) is Decision.NOT_SURE
            elif lead > SHARED_NEAR:
                assert result.shared_photo == ()
                assert decide_result(result, eager) is Decision.FOUND
    finally:
        finder.close()


def test_the_kiosk_finds_shared_photos_from_an_index_not_a_sort_of_every_image(twins) -> None:
    """Opening a catalog looks for products sharing a photo (the rule above); on a large
    catalog that query must read the covering index of migration m007, not sort the images."""
    from catalog.consistency import _SHARED_SHA
    from catalog.db import open_catalog_readonly

    db = open_catalog_readonly(twins)
    try:
        plan = " ".join(str(r[-1]) for r in db.conn.execute(f"EXPLAIN QUERY PLAN {_SHARED_SHA}"))
    finally:
        db.close()
    assert "COVERING INDEX images_sha256" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
