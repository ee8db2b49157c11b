"""Text search as staff and shoppers type: whole words, words inside words, misspellings, accents,
the order of the three, an older catalog without the trigram table, and the command line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from catalog import (
    MatchKind,
    import_products,
    open_finder,
    remove_products,
    search_catalog_text,
)
from catalog.db import READABLE_FROM, SCHEMA_VERSION, open_catalog, open_catalog_readonly
from catalog.textsearch import find_text
from kiosk.cli import cli

#: (sku, name, price, category, aisle): what a small grocer sells, look-alike words included
GROCER = [
    ("MILK1", "Milk 1 L", "1.19", "Dairy", "Aisle 3"),
    ("MILKY", "Milky Way bar", "0.89", "Sweets", "Aisle 7"),
    ("BUTTM", "Buttermilk", "0.99", "Dairy", "Aisle 3"),
    ("VOLLM", "Vollmilch 3,5 %", "1.29", "Dairy", "Aisle 3"),
    ("BANAN", "Banana", "0.25", "Fruit", "Fresh produce"),
    ("BANDA", "Bandana scarf", "4.99", "Household", "Aisle 12"),
    ("TOMVI", "Tomatoes on the vine", "2.49", "Vegetables", "Fresh produce"),
    ("TOMKE", "Tomato ketchup", "1.79", "Sauces", "Aisle 5"),
    ("CREME", "Crème fraîche", "1.09", "Dairy", "Aisle 3"),
    ("BERGK", "Bergkäse", "3.99", "Cheese", "Deli counter"),
    ("APPL1", "Granny Smith apples", "", "Fruit", "Fresh produce"),
]


def test_this_sqlites_trigram_tokenizer_folds_accents_only_from_3_45() -> None:
    """Why the catalog folds accents itself for its trigram index (catalog/textfold.py)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute(
            "CREATE VIRTUAL TABLE t USING fts5 (x, tokenize='trigram remove_diacritics 1')"
        )
        supported = True
    except sqlite3.OperationalError:
        supported = False
    finally:
        conn.close()
    assert supported == (sqlite3.sqlite_version_info >= (3, 45, 0)), sqlite3.sqlite_version


def _write_products(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    lines = ["sku,name,price,currency,category,aisle,description"]
    lines += [f'{s},"{n}",{p},EUR,{c},{a},Fresh from the farm' for s, n, p, c, a in rows]
    # shelf filler, so that every search has neighbours it must not match
    lines += [f"F{i},Pasta shape {i},1.00,EUR,Pantry,Aisle 9,Durum wheat" for i in range(40)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def grocer(tmp_path) -> Path:
    db = tmp_path / "grocer.db"
    report = import_products(db, _write_products(tmp_path / "products.csv", GROCER))
    assert not report.issues and len(report.created) == len(GROCER) + 40
    return db


def _found(db: Path, text: str, k: int = 20) -> list[tuple[str, MatchKind]]:
    return [(h.product.sku, h.kind) for h in search_catalog_text(db, text, k)]


def test_whole_words_then_word_beginnings_then_inner_words(grocer) -> None:
    assert _found(grocer, "milk") == [
        ("MILK1", MatchKind.WORD),  # the word itself
        ("MILKY", MatchKind.WORD),  # a word starting with it
        ("BUTTM", MatchKind.INNER),  # inside a word
    ]
    assert _found(grocer, "tomato") == [("TOMKE", MatchKind.WORD), ("TOMVI", MatchKind.WORD)]
    assert _found(grocer, "milch") == [("VOLLM", MatchKind.INNER)]
    assert _found(grocer, "ilk") == [(s, MatchKind.INNER) for s in ("MILK1", "BUTTM", "MILKY")]
    assert _found(grocer, "gran smi") == [("APPL1", MatchKind.WORD)]
    assert _found(grocer, "smi") == [("APPL1", MatchKind.WORD)]
    # a short word that cannot be an inner word still narrows one down
    assert _found(grocer, "milch 3") == [("VOLLM", MatchKind.INNER)]
    assert _found(grocer, "milk", k=2) == [("MILK1", MatchKind.WORD), ("MILKY", MatchKind.WORD)]


def test_accents_are_folded_in_words_and_inside_words(grocer) -> None:
    assert _found(grocer, "creme fraiche") == [("CREME", MatchKind.WORD)]
    assert _found(grocer, "kase") == [("BERGK", MatchKind.INNER)]  # Bergkäse
    assert _found(grocer, "KÄSE") == [("BERGK", MatchKind.INNER)]
    assert _found(grocer, "bergkase") == [("BERGK", MatchKind.WORD)]


def test_misspellings_find_the_closest_spelling(grocer) -> None:
    hits = search_catalog_text(grocer, "vollmlch")
    assert [(h.product.sku, h.kind, h.edits, h.corrected) for h in hits] == [
        ("VOLLM", MatchKind.TYPO, 1, ("vollmilch",))
    ]
    assert _found(grocer, "bananna") == [("BANAN", MatchKind.TYPO)]  # not Bandana (2 edits)
    assert {s for s, _ in _found(grocer, "tomatos")} == {"TOMVI", "TOMKE"}
    assert _found(grocer, "granny smiht") == [("APPL1", MatchKind.TYPO)]  # swapped letters
    assert _found(grocer, "Crme fraiche") == [("CREME", MatchKind.TYPO)]
    assert _found(grocer, "bonana") == [("BANAN", MatchKind.TYPO)]  # a letter changed
    assert _found(grocer, "grany smith") == [("APPL1", MatchKind.TYPO)]
    assert _found(grocer, "mlik") == [("MILK1", MatchKind.TYPO)]  # 4 letters: 1 edit
    assert _found(grocer, "butermlik") == [("BUTTM", MatchKind.TYPO)]  # 9 letters: 2 edits
    assert _found(grocer, "bnanaa") == []  # 6 letters: 2 edits are too many
    assert _found(grocer, "mlk") == []  # 3 letters: too short to guess
    assert _found(grocer, "qwertz") == [] and _found(grocer, "bananna qwertz") == []
    assert _found(grocer, '"vollmlch"*!') == [("VOLLM", MatchKind.TYPO)]  # FTS5 syntax is inert


def test_misspellings_are_looked_for_only_when_little_else_matched(grocer, tmp_path) -> None:
    rows = [
        *GROCER,
        ("MILD1", "Mild salsa", "2.00", "Sauces", "Aisle 5"),
        ("MULCH", "Garden mulch", "6.50", "Garden", "Outside"),
    ]
    db = tmp_path / "more.db"
    import_products(db, _write_products(tmp_path / "more.csv", rows))
    # three products match "milk" itself: "mild" (one letter off) is not offered
    assert "MILD1" not in [s for s, _ in _found(db, "milk")]
    # one product has "milch" inside a word: close spellings follow it
    assert _found(db, "milch") == [("VOLLM", MatchKind.INNER), ("MULCH", MatchKind.TYPO)]
    # a word the catalog has is never taken for a misspelling of another
    assert _found(db, "mild") == [("MILD1", MatchKind.WORD)]


def test_the_kiosks_finder_matches_the_library_and_follows_changes(grocer, tmp_path) -> None:
    finder = open_finder(grocer)
    try:
        assert [p.sku for p in finder.search_text("vollmlch")] == ["VOLLM"]
        assert [h.product.sku for h in finder.find_text("milk")] == ["MILK1", "MILKY", "BUTTM"]
        hit = finder.find_text("bananna")[0]
        assert hit.product.price == 0.25 and hit.product.aisle == "Fresh produce"
        # products are read live: a renamed product is found by its new name, inside a word
        # and misspelt (the triggers keep the trigram table in step, the vocabulary follows)
        (tmp_path / "rename.csv").write_text("sku,name\nVOLLM,Haltbare Bergmilch\n")
        import_products(grocer, tmp_path / "rename.csv")
        assert [p.sku for p in finder.search_text("bergmlch")] == ["VOLLM"]
        assert [p.sku for p in finder.search_text("milch")] == ["VOLLM"]
        assert finder.search_text("vollmilch") == [] and finder.search_text("vollmlch") == []
        remove_products(grocer, ["BUTTM"])
        assert [p.sku for p in finder.search_text("milk")] == ["MILK1", "MILKY"]
    finally:
        finder.close()
    with sqlite3.connect(grocer) as conn:  # any SQLite client's writes are followed too
        conn.execute("UPDATE products SET name = 'Käsekuchen' WHERE sku = 'F3'")
    assert _found(grocer, "sekuchen") == [("F3", MatchKind.INNER)]
    with sqlite3.connect(grocer) as conn:  # the trigram index agrees with its table
        conn.execute("INSERT INTO products_trigram (products_trigram) VALUES ('integrity-check')")
        assert conn.execute("SELECT count(*) FROM products_folded").fetchone() == (
            len(GROCER) - 1 + 40,
        )


def _as_before_m006(db: Path) -> None:
    """Make ``db`` what a catalog written before the trigram table looks like."""
    with sqlite3.connect(db) as conn:
        for trigger in ("ai", "ad", "au"):
            conn.execute(f"DROP TRIGGER products_trigram_{trigger}")
        conn.execute("DROP TABLE products_trigram")
        conn.execute("DROP TABLE products_folded")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm006_products_trigram'")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")


def test_an_older_catalog_is_searched_without_the_trigram_table_then_upgraded(grocer) -> None:
    _as_before_m006(grocer)
    assert READABLE_FROM <= SCHEMA_VERSION - 1
    finder = open_finder(grocer)  # the kiosk reads it read-only, as it is
    try:
        assert [(h.product.sku, h.kind) for h in finder.find_text("milk")] == [
            ("MILK1", MatchKind.WORD),
            ("MILKY", MatchKind.WORD),
            ("BUTTM", MatchKind.INNER),  # found by scanning the names instead
        ]
        assert [p.sku for p in finder.search_text("milch 3")] == ["VOLLM"]
        assert [p.sku for p in finder.search_text("vollmlch")] == ["VOLLM"]
        assert finder.search_text("kase") == []  # the scan does not fold accents
    finally:
        finder.close()
    ro = open_catalog_readonly(grocer)
    try:
        assert ro.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'products_trigram'"
        ).fetchone() == (0,)  # reading never upgrades
    finally:
        ro.close()
    open_catalog(grocer).close()  # the next staff command upgrades it, filling the table
    assert _found(grocer, "kase") == [("BERGK", MatchKind.INNER)]
    assert _found(grocer, "milch") == [("VOLLM", MatchKind.INNER)]
    db = open_catalog_readonly(grocer)
    try:
        n = db.execute("SELECT count(*) FROM products_trigram").fetchone()[0]
        assert n == len(GROCER) + 40
        assert [h.product.sku for h in find_text(db, "pasta shape 7")] == ["F7"]
    finally:
        db.close()


def _search(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["catalog", "search", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_search_text_from_the_command_line(grocer) -> None:
    code, out, err = _search("--db", grocer, "--text", "milk")
    lines = out.splitlines()
    assert code == 0 and err == "" and len(lines) == 3
    assert lines[0].startswith("MILK1 ") and "Milk 1 L  1.19 EUR  Aisle 3  (Dairy; word)" in out
    assert lines[2].startswith("BUTTM ") and "(Dairy; inside a word)" in lines[2]
    code, out, _ = _search("--db", grocer, "--text", "vollmlch")
    assert code == 0 and out.startswith("VOLLM ")
    assert "1.29 EUR  Aisle 3  (Dairy; spelling: vollmilch)" in out
    code, out, _ = _search("--db", grocer, "--text", "granny")
    assert code == 0 and "no price  Fresh produce" in out
    code, out, _ = _search("--db", grocer, "--text", "tomatos", "--json")
    hits = json.loads(out)
    assert code == 0 and {h["sku"] for h in hits} == {"TOMVI", "TOMKE"}
    assert {h["price"] for h in hits} == {2.49, 1.79} and {h["currency"] for h in hits} == {"EUR"}
    assert {h["aisle"] for h in hits} == {"Fresh produce", "Aisle 5"}
    assert {h["match"] for h in hits} == {"typo"} and {h["edits"] for h in hits} == {1}
    assert {c for h in hits for c in h["corrected"]} <= {"tomato", "tomatoes"}


def test_search_text_that_finds_nothing_says_so_and_exits_1(grocer) -> None:
    code, out, err = _search("--db", grocer, "--text", "qwertz")
    assert code == 1 and out == "" and err == "no products match 'qwertz'\n"
    code, out, err = _search("--db", grocer, "--text", "qwertz", "--json")
    assert code == 1 and json.loads(out) == [] and "no products match 'qwertz'" in err


def test_text_search_options_that_do_not_apply_are_refused(tmp_path) -> None:
    from click.testing import CliRunner

    from kiosk.cli import cli

    db = tmp_path / "shop.db"
    (tmp_path / "p.csv").write_text("sku,name,category\nA,Vollmilch,Dairy\n")
    assert import_products(db, tmp_path / "p.csv").ok
    runner = CliRunner()
    for args, said in (
        (["--text", "   "], "--text needs a word to look for"),
        (["--text", "milch", "--category", "Dairy"], "filter an image search"),
        (["--text", "milch", "--in-stock"], "filter an image search"),
    ):
        result = runner.invoke(cli, ["catalog", "search", "--db", str(db), *args])
        assert result.exit_code == 2 and said in result.output, result.output


def test_decomposed_names_are_found_as_typed_and_long_queries_are_cut_short(tmp_path) -> None:
    """A product file written on a Mac spells "Bergkäse" as "Bergka" + a combining umlaut:
    imported, it is the same text as the kiosk's keyboard types, and an inner-word search or
    a search with the combining form finds it. A query pasted at length is looked at only so
    far."""
    import unicodedata

    from catalog.textsearch import MAX_QUERY_WORDS, query_words

    db = tmp_path / "shop.db"
    name = unicodedata.normalize("NFD", "Bergkäse")
    assert len(name) == 9
    (tmp_path / "p.csv").write_text(f"sku,name\nK1,{name}\nK2,Gouda\n", encoding="utf-8")
    assert import_products(db, tmp_path / "p.csv").ok
    for query in ("käse", "kase", unicodedata.normalize("NFD", "käse"), "bergkäse"):
        assert [h.product.sku for h in search_catalog_text(db, query)] == ["K1"], query
    assert search_catalog_text(db, "K1")[0].product.name == "Bergkäse"  # stored composed
    assert len(query_words(" ".join(f"w{i}" for i in range(1000)))) <= MAX_QUERY_WORDS
    assert query_words("gouda gouda Gouda") == ["gouda", "Gouda"]
