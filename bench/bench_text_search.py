"""Text search on a large synthetic catalog: latency of word, inner-word and misspelt queries.

    python bench/bench_text_search.py [--products 100000] [--queries 200] [--no-write]

Builds a catalog of generated grocery names (German and English product words, made-up brands,
sizes; 2 % with accents) in a temporary folder: products inserted before the trigram migration
(m006) was applied, the migration timed as it fills its table from them, then more products
inserted with its triggers in place. Then times ``find_text`` per kind of query, through a
kiosk-style finder (vocabulary kept between searches) and as one-off calls that open the file
(``search_catalog_text``: what one `aislelens catalog search --text` costs, start-up aside).
Writes the "text" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlite_utils import Database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section
from catalog import MatchKind, open_finder, search_catalog_text
from catalog.db import SCHEMA_VERSION, migrations, open_catalog_readonly
from catalog.textsearch import Vocabulary

KINDS = [
    "Vollmilch",
    "Milk",
    "Buttermilch",
    "Banana",
    "Tomatoes",
    "Joghurt",
    "Käse",
    "Brot",
    "Apfelsaft",
    "Spaghetti",
    "Reis",
    "Kaffee",
    "Tee",
    "Schokolade",
    "Müsli",
    "Butter",
    "Eier",
    "Mehl",
    "Zucchini",
    "Avocado",
    "Ketchup",
    "Crème-fraîche",
    "Haferdrink",
    "Orangensaft",
    "Kartoffeln",
    "Zwiebeln",
    "Paprika",
    "Gurke",
    "Lachs",
    "Hähnchen",
]
ADJECTIVES = [
    "Bio",
    "Frisch",
    "Light",
    "Classic",
    "Extra",
    "Fein",
    "Natur",
    "Premium",
    "Gold",
    "Mild",
    "Zart",
    "Kräftig",
]
SIZES = ("500 g", "1 L", "250 g", "1 kg", "6 Stück", "200 ml", "0,5 L")
SYLLABLES = [
    "ba",
    "na",
    "to",
    "ma",
    "li",
    "ko",
    "ra",
    "mi",
    "su",
    "de",
    "vo",
    "er",
    "an",
    "ei",
    "en",
    "ro",
    "ka",
    "lu",
    "fe",
    "gu",
]
#: description words are made of these, so that they never match the queries below
FILLER = ["qa", "xe", "zu", "wi", "jo", "py", "ky", "ix"]
#: (query, the kind of match it must come back as)
QUERIES = {
    MatchKind.WORD: ["vollmilch", "bio milk", "kase", "schoko", "crème fraîche", "haferdrink 1"],
    MatchKind.INNER: ["milch", "saft", "ffel", "ferdrink", "ucchini", "bio milch"],
    MatchKind.TYPO: ["vollmlch", "bananna", "tomatos", "zuchini", "kartofeln", "bio ketchpu"],
}


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def _products(n: int, start: int, rng: random.Random) -> list[tuple[object, ...]]:
    brands = [_brand(rng) for _ in range(max(50, n // 5))]
    kinds = KINDS + [_brand(rng) for _ in range(max(50, n // 50))]  # more words than products
    rows = []
    for i in range(start, start + n):
        kind = rng.choice(KINDS if rng.random() < 0.3 else kinds).replace("-", " ")
        name = f"{rng.choice(brands)} {rng.choice(ADJECTIVES)} {kind} {rng.choice(SIZES)}"
        if "ä" not in name and rng.random() < 0.02:
            name = name.replace("a", "à", 1)
        category = rng.choice(("Dairy", "Fruit", "Bakery", "Drinks", "Pantry", "Frozen"))
        description = " ".join("".join(rng.choice(FILLER) for _ in range(3)) for _ in range(12))
        rows.append(
            (f"SKU{i:07d}", name, round(rng.uniform(0.2, 20), 2), category, kind, description)
        )
    return rows


def _insert(db: Database, rows: list[tuple[object, ...]]) -> float:
    t0 = time.perf_counter()
    with db.conn:
        db.conn.executemany(
            "INSERT INTO products (sku, name, price, category, subcategory, description, "
            "aisle, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'Aisle 1', '2026-01-01')",
            rows,
        )
    return len(rows) / (time.perf_counter() - t0)


def _times(fn, queries: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        for q in queries:
            t0 = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200, help="searches per kind (warm)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rng = random.Random(0)
    n_after = max(1, args.products // 10)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.db"
        db = Database(path)
        db.enable_wal()
        migrations.apply(db, stop_before="m006_products_trigram")
        before = _insert(db, _products(args.products - n_after, 0, rng))
        t0 = time.perf_counter()
        migrations.apply(db)
        fill_s = time.perf_counter() - t0
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        after = _insert(db, _products(n_after, args.products, rng))
        db.close()
        ro = open_catalog_readonly(path)
        t0 = time.perf_counter()
        n_terms = len(Vocabulary.load(ro).terms)
        vocab_s = time.perf_counter() - t0
        ro.close()
        finder = open_finder(path)
        lines = []
        for kind, queries in QUERIES.items():
            for q in queries:  # each query finds what it is meant to, as that kind
                hits = finder.find_text(q)
                assert hits and hits[0].kind is kind, (q, hits[:1])
            warm = _times(finder.find_text, queries, max(1, args.queries // len(queries)))
            cold = _times(lambda q: search_catalog_text(path, q), queries, 1)
            lines.append(
                f"| {kind.value} | {', '.join(queries)} | {np.percentile(warm, 50):.1f} / "
                f"{np.percentile(warm, 95):.1f} | {np.percentile(cold, 50):.0f} / "
                f"{np.percentile(cold, 95):.0f} |"
            )
        finder.close()
        size_mb = path.stat().st_size / 1e6
    body = (
        f"{args.products:,} generated products ({n_terms:,} distinct words in names, categories "
        f"and subcategories, the vocabulary misspellings are matched against, read in "
        f"{vocab_s * 1e3:.0f} ms). Inserting products: {before:,.0f}/s before "
        f"m006, {after:,.0f}/s with its triggers; m006 filled its table from "
        f"{args.products - n_after:,} products in {fill_s:.1f} s. Database {size_mb:.0f} MB.\n\n"
        "| kind | queries | finder p50 / p95 (ms) | one-off p50 / p95 (ms) |\n"
        "| --- | --- | ---: | ---: |\n" + "\n".join(lines) + "\n\n"
        "finder: `open_finder(db).find_text(q)`, the vocabulary kept between searches (the "
        "kiosk); one-off: `search_catalog_text(db, q)`, which opens the file and, for "
        "misspellings, reads the vocabulary each time (`aislelens catalog search --text`)."
    )
    print(body)
    if not args.no_write:
        write_section(
            "text",
            f"Text search on {args.products:,} products (bench/bench_text_search.py)",
            body,
            "python bench/bench_text_search.py",
        )


if __name__ == "__main__":
    main()
