"""Importing product files: upserts, several images per product, and every kind of bad row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from catalog_images import draw_product

from catalog import InputFileError, import_products, open_finder


def _issues(report) -> dict[tuple[int, str], str]:
    return {(i.row, i.column): i.reason for i in report.issues}


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_csv_import_creates_products_with_thumbnails_and_attributes(shop, tmp_path) -> None:
    db = tmp_path / "store.db"
    report = import_products(db, shop(6))
    assert report.ok and len(report.created) == 6 and report.images_added == 6
    finder = open_finder(db)
    p = finder.product("S2")
    assert p is not None
    assert (p.name, p.price, p.category, p.subcategory) == ("Product 2", 2.5, "Bakery", "Sub0")
    assert p.attributes == {"colour": "red"} and p.related == ("S3", "S4") and p.image_count == 1
    thumb = finder.thumbnail("S2")
    assert thumb is not None and thumb[:3] == b"\xff\xd8\xff"
    decoded = cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR)
    assert max(decoded.shape[:2]) <= 256
    assert [q.sku for q in finder.goes_well_with("S5")] == ["S0", "S1"]
    finder.close()


def test_reimport_is_an_upsert_by_sku(shop, tmp_path) -> None:
    db = tmp_path / "store.db"
    csv_path = shop(4)
    import_products(db, csv_path)
    again = import_products(db, csv_path)
    assert (len(again.created), len(again.updated), len(again.unchanged)) == (0, 0, 4)
    update = tmp_path / "update.csv"
    update.write_text("sku,price,in_stock\nS1,9.99,no\nS9,1.00,yes\n")
    report = import_products(db, update)
    assert report.updated == ["S1"]
    assert ("S9" in report.rejected) and "missing name" in _issues(report)[(3, "name")]
    finder = open_finder(db)
    s1 = finder.product("S1")
    assert s1 is not None and s1.price == 9.99 and not s1.in_stock and s1.name == "Product 1"
    assert finder.product("S9") is None
    finder.close()


def test_several_images_per_product_by_pipe_or_repeated_rows(tmp_path, write_image) -> None:
    for i in range(4):
        write_image(tmp_path / f"i{i}.png", draw_product(i))
    abs_path = (tmp_path / "i3.png").resolve()
    f = tmp_path / "p.csv"
    f.write_text(f"sku,name,image\nA,Apple,i0.png|i1.png\nB,Bread,i2.png\nB,,{abs_path}\n")
    db = tmp_path / "c.db"
    report = import_products(db, f)
    assert report.ok and report.images_added == 4
    finder = open_finder(db)
    assert finder.product("A").image_count == 2
    assert finder.product("B").image_count == 2
    finder.close()


def test_json_and_jsonl_with_extra_fields(tmp_path, write_image) -> None:
    write_image(tmp_path / "a.jpg", draw_product(1))
    items = [
        {
            "sku": "J1",
            "name": "Jam",
            "price": 3,
            "image": ["a.jpg"],
            "organic": True,
            "attributes": {"size": "250 g"},
            "related": ["J2"],
        },
        {"sku": "J2", "name": "Juice", "price": "2.50", "in_stock": False},
    ]
    (tmp_path / "p.json").write_text(json.dumps({"products": items}))
    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(i) for i in items) + "\n{oops\n")
    report = import_products(tmp_path / "a.db", tmp_path / "p.json")
    assert report.ok and sorted(report.created) == ["J1", "J2"]
    finder = open_finder(tmp_path / "a.db")
    j1 = finder.product("J1")
    assert j1.attributes == {"organic": True, "size": "250 g"} and j1.related == ("J2",)
    assert finder.product("J2").in_stock is False and finder.product("J2").price == 2.5
    finder.close()
    report = import_products(tmp_path / "b.db", tmp_path / "p.jsonl")
    assert sorted(report.created) == ["J1", "J2"]
    assert "invalid JSON" in _issues(report)[(3, "")]


def test_bad_rows_are_listed_and_the_good_ones_imported(tmp_path, write_image) -> None:
    for i in range(3):
        write_image(tmp_path / f"ok{i}.jpg", draw_product(i))
    (tmp_path / "empty.jpg").write_bytes(b"")
    write_image(tmp_path / "really_png.jpg", draw_product(7), ext=".png")
    (tmp_path / "corrupt.jpg").write_bytes((tmp_path / "ok0.jpg").read_bytes()[:300])
    f = tmp_path / "p.csv"
    f.write_text(
        "sku,name,price,image\n"  # line 1
        "G1,Good one,1.50,ok0.jpg\n"  # 2
        ",No sku,1.00,ok1.jpg\n"  # 3 missing SKU
        "G2,Price,abc,ok1.jpg\n"  # 4 bad price
        "G3,Negative,-2,ok1.jpg\n"  # 5 bad price
        "G4,Missing image,1,nope.jpg\n"  # 6
        "G5,Empty jpeg,1,empty.jpg\n"  # 7 0-byte JPEG
        "G6,Corrupt,1,corrupt.jpg\n"  # 8
        "G7,PNG named jpg,€2.25,really_png.jpg\n"  # 9 fine: content is sniffed
        "G8,Too,many,fields,here\n"  # 10 malformed
        "G9,Conflict,1.00,ok1.jpg\n"  # 11
        "G9,Conflict,1.20,ok2.jpg\n"  # 12 conflicting price
        "G10,Same twice,1,ok2.jpg\n"  # 13
        "G10,Same twice,,ok1.jpg\n",  # 14 no conflict: empty cell
        encoding="utf-8",
    )
    db = tmp_path / "c.db"
    report = import_products(db, f)
    issues = _issues(report)
    assert issues[(3, "sku")] == "missing SKU"
    assert "not a price" in issues[(4, "price")] and "negative price" in issues[(5, "price")]
    assert "no such image file" in issues[(6, "image")]
    assert "0 bytes" in issues[(7, "image")]
    assert "corrupt" in issues[(8, "image")] or "truncated" in issues[(8, "image")]
    assert "5 fields, the header has 4" in issues[(10, "")]
    assert issues[(12, "price")].startswith("SKU G9 not imported: 1.20 here, 1.00 in row 11")
    assert "SKU G9 not imported, this row included: row 12" in issues[(11, "")]
    assert sorted(report.created) == ["G1", "G10", "G7"]
    assert set(report.rejected) >= {"G2", "G3", "G4", "G5", "G6", "G8", "G9"}
    finder = open_finder(db)
    assert finder.product("G7").price == 2.25 and finder.thumbnail("G7") is not None
    assert finder.product("G10").image_count == 2 and finder.product("G9") is None
    finder.close()
    assert _count(db, "products") == 3


def test_encodings_bom_accepted_latin1_rows_rejected_utf16_refused(tmp_path, write_image) -> None:
    write_image(tmp_path / "a.jpg", draw_product(0))
    text = "sku,name,image\nC1,Crème brûlée,a.jpg\n"
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    report = import_products(tmp_path / "a.db", tmp_path / "bom.csv")
    assert report.ok and report.created == ["C1"]
    finder = open_finder(tmp_path / "a.db")
    assert finder.product("C1").name == "Crème brûlée"
    assert [p.sku for p in finder.search_text("creme brulee")] == ["C1"]
    finder.close()
    mixed = b"sku,name,image\nC2,Plain,a.jpg\n" + "C3,Café,a.jpg\n".encode("latin-1")
    (tmp_path / "mixed.csv").write_bytes(mixed)
    report = import_products(tmp_path / "b.db", tmp_path / "mixed.csv")
    assert report.created == ["C2"] and "C3" in report.rejected
    assert "UTF-8" in _issues(report)[(3, "name")]
    (tmp_path / "u16.csv").write_bytes(text.encode("utf-16"))
    with pytest.raises(InputFileError, match="UTF-16"):
        import_products(tmp_path / "c.db", tmp_path / "u16.csv")
    assert not (tmp_path / "c.db").exists()


def test_file_level_errors(tmp_path) -> None:
    (tmp_path / "nosku.csv").write_text("name,price\nA,1\n")
    with pytest.raises(InputFileError, match="no sku column"):
        import_products(tmp_path / "c.db", tmp_path / "nosku.csv")
    (tmp_path / "p.xlsx").write_text("x")
    with pytest.raises(InputFileError, match="unknown file type"):
        import_products(tmp_path / "c.db", tmp_path / "p.xlsx")
    (tmp_path / "bad.json").write_text('[{"sku": "A",}]')
    with pytest.raises(InputFileError, match="invalid JSON at line 1"):
        import_products(tmp_path / "c.db", tmp_path / "bad.json")


def test_unbalanced_quote_is_reported_not_swallowed_silently(tmp_path) -> None:
    f = tmp_path / "p.csv"
    f.write_text('sku,name\nA,Apple\nB,"Banana\nC,Cherry\n')
    report = import_products(tmp_path / "c.db", f)
    assert report.created == ["A"]
    assert any("unbalanced quote" in i.reason or "fields" in i.reason for i in report.issues)


def test_dry_run_writes_nothing(shop, tmp_path) -> None:
    db = tmp_path / "store.db"
    report = import_products(db, shop(3), dry_run=True)
    assert len(report.created) == 3 and report.dry_run
    assert not db.exists()
    import_products(db, shop(3))
    (tmp_path / "shop" / "more.csv").write_text("sku,name\nNEW,New thing\nS0,Renamed\n")
    report = import_products(db, tmp_path / "shop" / "more.csv", dry_run=True)
    assert report.created == ["NEW"] and report.updated == ["S0"]
    finder = open_finder(db)
    assert finder.product("NEW") is None and finder.product("S0").name == "Product 0"
    finder.close()


def test_changing_a_catalog_image_replaces_it(shop, tmp_path, write_image) -> None:
    db = tmp_path / "store.db"
    csv_path = shop(2)
    import_products(db, csv_path)
    write_image(tmp_path / "shop" / "images" / "p1.jpg", draw_product(99))
    report = import_products(db, csv_path)
    assert report.updated == ["S1"] and report.images_added == 1 and report.images_removed == 1
    assert _count(db, "images") == 2 and _count(db, "thumbnails") == 2


@pytest.mark.slow
def test_a_20000_by_20000_jpeg_is_decoded_reduced(tmp_path) -> None:
    big = np.zeros((20_000, 20_000), np.uint8)
    big[5000:15000, 5000:15000] = 200
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 50])
    del big
    assert ok
    (tmp_path / "huge.jpg").write_bytes(buf.tobytes())
    (tmp_path / "p.csv").write_text("sku,name,image\nH,Huge,huge.jpg\n")
    report = import_products(tmp_path / "c.db", tmp_path / "p.csv")
    assert report.ok and report.created == ["H"]
    with sqlite3.connect(tmp_path / "c.db") as conn:
        w, h = conn.execute("SELECT width, height FROM images").fetchone()
        tw, th = conn.execute("SELECT width, height FROM thumbnails").fetchone()
    assert (w, h) == (20_000, 20_000) and max(tw, th) <= 256


_DEEP = "[" * 100_000 + "]" * 100_000
_HUGE = "x" * 200_000
BAD_INPUT = {
    # name: (file name, content, created, rejected ⊇, (row, column) -> reason part)
    "later row of a SKU has the wrong field count": (
        "p.csv",
        'sku,name,price\nA,Apple,1.00\nB,Bread,2.00\nA,"Apple\ngreen",1.00,extra\n',
        ["B"],
        {"A"},
        {(4, ""): "4 fields, the header has 3 (lines 4–5"},
    ),
    "a quote gone wrong swallows a later row of a SKU": (
        "p.csv",
        'sku,name,price\nA,Apple,1.00\nD,Dates,4.00\nB,"Bread,2.00\nA,Apple,1.00\n',
        ["D"],
        {"A", "B"},
        {(4, ""): "malformed CSV from here on"},
    ),
    "a quote gone wrong that swallows rows and still has the right field count": (
        "p.csv",
        'sku,name,price\nB,"Bee,1\nC,Cat,1\nD,Dog",1\nC,Cat,2\nE,Eel,3\n',
        ["E"],
        {"B", "C"},
        {(2, "name"): "line break inside the value"},
    ),
    "a cut JSONL line keeps its SKU's other lines out": (
        "p.jsonl",
        '{"sku": "A", "name": "x"}\n{"sku": "A", "name": "x", "price": 1\n{"sku": "Z", "name": "z"}\n',
        ["Z"],
        {"A"},
        {(2, ""): "invalid JSON"},
    ),
    "a huge price cell is reported in a few words": (
        "p.csv",
        f"sku,name,price\nP1,Pricey,{_HUGE}\nP2,Fine,1\n",
        ["P2"],
        {"P1"},
        {(2, "price"): "is not a price"},
    ),
    "JSON nested 100,000 deep": ("p.json", _DEEP, None, set(), "nested more than 32"),
    "JSONL line nested 100,000 deep": (
        "p.jsonl",
        '{"sku": "J1", "name": "Fine"}\n{"sku": "J2", "name": "x", "a": ' + _DEEP + "}\n",
        ["J1"],
        set(),
        {(2, ""): "nested more than 32"},
    ),
    "JSON object nested 40 deep in an extra field": (
        "p.json",
        json.dumps([{"sku": "J3", "name": "x", "a": json.loads("[" * 40 + "]" * 40)}]),
        [],
        {"J3"},
        {(1, ""): "nested more than 32"},
    ),
    "JSON SKU, name, attributes and related of the wrong type": (
        "p.json",
        json.dumps(
            [
                {"sku": ["L1"], "name": "list sku"},
                {"sku": "L2", "name": {"en": "Milk"}},
                {"sku": "L3", "name": "x", "attributes": [1, 2]},
                {"sku": "L4", "name": "x", "attributes": 5},
                {"sku": "L5", "name": True},
                {"sku": "L6", "name": "x", "related": [{"sku": "L1"}]},
                {"sku": 7, "name": "number SKU is fine"},
                {"sku": 7.5, "name": "x"},
            ]
        ),
        ["7"],
        {"L2", "L3", "L4", "L5", "L6"},
        {
            (1, "sku"): "must be text, not an array",
            (2, "name"): "must be text, not an object",
            (3, "attributes"): "must be a JSON object, not an array",
            (4, "attributes"): "must be a JSON object, not a number",
            (5, "name"): "not true or false",
            (6, "related"): "not an object",
            (8, "sku"): "whole number",
        },
    ),
    "NUL and escape characters": (
        "p.csv",
        "sku,name\nN\x001,Nul sku\nN2,Bell\x07name\nN3,Fine\n",
        ["N3"],
        {"N2"},
        {(2, "sku"): "control character", (3, "name"): "control character"},
    ),
    "full-width digits are not a price": (
        "p.csv",
        "sku,name,price\nF1,Wide,１２３\nF2,Narrow,123\n",
        ["F2"],
        {"F1"},
        {(2, "price"): "not a price"},
    ),
    "a cell over 131,072 characters rejects its row only": (
        "p.csv",
        f"sku,name,description\nH1,Huge,{_HUGE}\nH2,After,fine\nH3,Extra,x\n",
        ["H2", "H3"],
        {"H1"},
        {(2, "description"): "200,000 characters, at most 65,536"},
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_reported_and_never_half_written(case: str, tmp_path) -> None:
    name, content, created, rejected, expected = BAD_INPUT[case]
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    db = tmp_path / "c.db"
    if created is None:  # the file as a whole cannot be read: one line, nothing written
        with pytest.raises(InputFileError, match=expected) as err:
            import_products(db, f)
        assert "\n" not in str(err.value) and not db.exists()
        return
    report = import_products(db, f)
    assert sorted(report.created) == created
    assert set(report.rejected) >= rejected
    issues = _issues(report)
    for where, reason in expected.items():
        assert reason in issues.get(where, ""), (where, issues)
    assert all(len(str(i)) < 400 for i in report.issues)  # one line a terminal can show
    finder = open_finder(db)
    try:
        for sku in rejected:
            assert finder.product(sku) is None, sku
    finally:
        finder.close()


def test_a_garbage_header_is_shown_escaped_not_sent_to_the_terminal(tmp_path) -> None:
    f = tmp_path / "g.csv"
    f.write_bytes(b"\x1b[2J\x1b]0;owned\x07,\xff\xfe\x00name," + b"z" * 500 + b"\n1,2,3\n")
    with pytest.raises(InputFileError, match="no sku column") as err:
        import_products(tmp_path / "c.db", f)
    message = str(err.value)
    assert "\\x1b[2J" in message and "\x1b" not in message and "\x07" not in message
    assert len(message) < 300 and "\n" not in message


def test_import_makes_the_catalog_folder_and_other_commands_name_a_missing_one(
    shop, tmp_path, fake_embedder
) -> None:
    from catalog import CatalogNotFoundError, index_catalog

    db = tmp_path / "new" / "deeper" / "store.db"
    assert import_products(db, shop(2)).ok and db.is_file()
    with pytest.raises(CatalogNotFoundError, match="does not exist"):
        index_catalog(tmp_path / "nowhere" / "store.db", fake_embedder)
