"""`aislelens catalog …` end to end with the real default bundle, as staff would run it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from catalog_images import draw_product, shop_photo
from click.testing import CliRunner
from staff_cli import run

from catalog import (
    Confusion,
    evaluate_queries,
    import_products,
    index_catalog,
    open_finder,
    read_queries,
)
from kiosk.cli import cli


@pytest.fixture
def queries(tmp_path, write_image) -> Path:
    """Shelf photos of products 0-5 (two each) and a CSV with image, sku and an extra column."""
    lines = ["image,sku,note"]
    for i in range(6):
        for v in (1, 2):
            write_image(tmp_path / "q" / f"q{i}_{v}.jpg", shop_photo(i, v))
            lines.append(f"q/q{i}_{v}.jpg,S{i},whatever")
    (tmp_path / "queries.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "queries.csv"


@pytest.mark.slow
def test_import_index_search_eval_stats_check(shop, tmp_path, queries) -> None:
    db = tmp_path / "store.db"
    code, out = run("import", shop(6), "--db", db)
    assert code == 0 and "6 new" in out
    code, out = run("index", "--db", db)
    assert code == 0 and "6 embedded" in out and "efficientnet-lite0-retail@1.0.0/int8" in out
    own = tmp_path / "shop" / "images" / "p3.jpg"  # the catalog photo finds itself
    code, out = run("search", "--db", db, own, tmp_path / "q" / "q3_1.jpg", "--k", "3", "--json")
    assert code == 0
    hits = json.loads(out)
    assert hits[0]["matches"][0]["sku"] == "S3" and hits[0]["matches"][0]["score"] > 0.99
    assert len(hits) == 2 and len(hits[1]["matches"]) == 3 and 0 <= hits[1]["margin"] <= 2
    code, out = run("search", "--db", db, own, "--k", "2", "--category", "Fruit")
    assert code == 0 and "S3" in out.splitlines()[1] and "S0" in out.splitlines()[2]
    code, out = run("search", "--db", db, "--text", "product 4")
    assert code == 0 and out.startswith("S4 ")
    result = CliRunner().invoke(cli, ["catalog", "eval", "--db", str(db), str(queries), "--json"])
    assert result.exit_code == 0
    figures = json.loads(result.stdout)  # progress goes to stderr, never into the JSON
    assert "eval: embedding: 12/12" in result.stderr
    assert {"n", "recall_at_1", "recall_at_5", "mrr"} <= set(figures)
    assert figures["n"] == 12  # shelf photos of 6 products: far above chance (1/6)
    assert figures["recall_at_1"] >= 0.5 and figures["recall_at_5"] >= 0.9
    code, out = run("eval", "--db", db, queries)
    assert code == 0 and "Recall@1" in out and "p95" in out and "Fruit" in out
    code, out = run("stats", "--db", db, "--json")
    stats = json.loads(out)
    assert stats["products"] == 6 and stats["embedded"] == 6 and stats["pending"] == 0
    code, out = run("check", "--db", db)
    assert code == 0 and out.strip().endswith("ok")


@pytest.mark.slow
def test_eval_names_the_confused_products_and_shows_progress_on_stderr(
    shop, tmp_path, real_embedder, progress_bars
) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(6))
    index_catalog(db, real_embedder)  # photo by photo: a catalog photo finds itself first
    (tmp_path / "labelled.csv").write_text(
        "image,sku\nshop/images/p3.jpg,S4\nshop/images/p1.jpg,S1\nshop/images/p2.jpg,S2\n"
    )
    items, _ = read_queries(tmp_path / "labelled.csv")
    finder = open_finder(db)
    try:
        report = evaluate_queries(finder, real_embedder, items, progress=progress_bars)
    finally:
        finder.close()
    assert progress_bars == {"eval: embedding": [3, 3], "eval: searching": [3, 3]}
    assert report.confused == [Confusion("S4", "Product 4", "S3", "Product 3", 1)]
    runner = CliRunner()
    result = runner.invoke(
        cli, ["catalog", "eval", "--db", str(db), str(tmp_path / "labelled.csv"), "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["confused"] == [
        {"sku": "S4", "name": "Product 4", "found": "S3", "found_name": "Product 3", "count": 1}
    ]
    progress = result.stderr.splitlines()
    assert progress[0] == "eval: embedding: 0/3" and "eval: embedding: 3/3" in progress
    assert progress[-1] == "eval: searching: 3/3"
    result = runner.invoke(
        cli, ["catalog", "eval", "--db", str(db), str(tmp_path / "labelled.csv")]
    )
    assert result.exit_code == 0 and "Recall@1 0.667" in result.stdout
    assert "S4 Product 4 → S3 Product 3: 1" in result.stderr
    assert "eval: searching: 3/3" in result.stderr


@pytest.mark.slow
def test_enroll_remove_and_bad_input_exit_codes(shop, tmp_path, write_image) -> None:
    db = tmp_path / "store.db"
    run("import", shop(4), "--db", db)
    a = write_image(tmp_path / "e" / "a.jpg", shop_photo(1))
    write_image(tmp_path / "e" / "b.jpg", shop_photo(2))
    (tmp_path / "e" / "z.jpg").write_bytes(b"")
    code, out = run("enroll", "--db", db, "--sku", "S1", a)
    assert code == 0 and "enrolled 1 photo for 1 product " in out
    (tmp_path / "e" / "shots.csv").write_text("sku,image\nS2,b.jpg\nS1,a.jpg\nS9,b.jpg\nS3,z.jpg\n")
    code, out = run("enroll", "--db", db, tmp_path / "e" / "shots.csv")
    assert code == 1 and "1 already enrolled" in out
    assert "row 4, sku: unknown SKU 'S9'" in out and "row 5, image" in out and "0 bytes" in out
    code, out = run("index", "--db", db)
    assert code == 0 and "6 embedded" in out
    code, out = run("remove", "--db", db, "S1", "S2")
    assert code == 0 and "removed 2 products and 4 reference images" in out
    code, out = run("remove", "--db", db, "S1")
    assert code == 2 and out.startswith("error: ") and "no such SKU: S1" in out
    (tmp_path / "bad.csv").write_text("sku,name,price\nX1,Ok,1\nX2,Bad,abc\n")
    code, out = run("import", tmp_path / "bad.csv", "--db", db)
    assert code == 1 and "1 new" in out and "row 3, price" in out
    code, out = run("search", "--db", tmp_path / "none.db", "--text", "x")
    assert code == 2 and out.startswith("error: ") and "no catalog here" in out
    code, out = run("check", "--db", db)
    assert code == 0


@pytest.mark.slow
def test_a_database_made_with_another_bundle(shop, tmp_path, fake_embedder) -> None:
    db = tmp_path / "store.db"
    import_products(db, shop(3))
    index_catalog(db, fake_embedder)  # vectors of ".../fp32:fake"
    code, out = run("index", "--db", db, "--bundle", "efficientnet-lite0", "--precision", "int8")
    assert code == 2 and "never mixes bundles" in out and "--rebuild" in out
    code, out = run("search", "--db", db, tmp_path / "shop" / "images" / "p1.jpg")
    assert code == 2 and "made by" in out
    code, out = run(
        "index", "--db", db, "--bundle", "efficientnet-lite0", "--precision", "int8", "--rebuild"
    )
    assert code == 0 and "3 embedded" in out
    code, out = run("search", "--db", db, tmp_path / "shop" / "images" / "p1.jpg", "--k", "1")
    assert code == 0 and "S1" in out


def _embedded(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0
    finally:
        conn.close()


@pytest.mark.slow
def test_kill_9_in_the_middle_of_index_then_rerun_completes(tmp_path, write_image) -> None:
    n = 400
    lines = ["sku,name,image"]
    for i in range(n):
        write_image(tmp_path / "img" / f"{i}.jpg", draw_product(i, size=200))
        lines.append(f"K{i},Product {i},img/{i}.jpg")
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    db = tmp_path / "store.db"
    assert import_products(db, tmp_path / "p.csv").ok
    env = {
        **os.environ,
        "AISLELENS_CATALOG_COMMIT_EVERY": "16",
        "AISLELENS_CATALOG_EXACT_THRESHOLD": "1",
    }
    cmd = [
        sys.executable,
        "-c",
        "from kiosk.cli import main; main()",
        "catalog",
        "index",
        "--db",
        str(db),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _embedded(db) < 32 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _embedded(db)
    assert 32 <= before < n, "the run was not interrupted in the middle"
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{n - before} embedded" in rerun.stdout and f"{before} up to date" in rerun.stdout
    assert "index: rebuilt" in rerun.stdout
    assert _embedded(db) == n
    check = CliRunner().invoke(
        cli, ["catalog", "check", "--db", str(db)], env={"AISLELENS_CATALOG_EXACT_THRESHOLD": "1"}
    )
    assert check.exit_code == 0 and f"index: {n} vectors, matches" in check.output
