"""Catalog benchmark on the grocery dev set: accuracy, indexing throughput, bytes per product.

    python bench/bench_catalog.py [--data ../shared/datasets/grocerystore-dev] [--precision auto]
                                  [--bundle NAME|PATH]

1. Accuracy through the catalog (import → enrol → index → finder.search_vector): catalog images
   only (every photo as a query, and the `val` photos), then with 1, 3 and 5 in-store shots per
   product enrolled from `shot_split=train`, queried with `val`. Cross-checked against exact
   product ranking (models.metrics.product_ranks) on the same vectors.
2. End-to-end indexing throughput of real photos (decode + model + SQLite), images/s.
3. Bytes per product: database (rows, thumbnails, vectors, full-text index) and HNSW index.

The data set is read where it lies and nothing derived from it is written to the repository;
catalogs are built in a temporary folder. Writes the "catalog" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section
from catalog import (
    CatalogSettings,
    EnrollItem,
    catalog_stats,
    enroll_images,
    evaluate_vectors,
    import_products,
    index_catalog,
    open_finder,
)
from catalog.index_store import iter_db_vectors
from models import ImageEmbedder
from models.metrics import product_ranks, retrieval_scores

REPO = Path(__file__).resolve().parent.parent


def read_shots(data: Path) -> list[dict[str, str]]:
    with open(data / "queries.csv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def build(
    tmp: Path,
    name: str,
    data: Path,
    shots: dict[str, list[Path]],
    k: int,
    embedder: ImageEmbedder,
    settings: CatalogSettings,
) -> tuple[Path, float, int]:
    """A catalog with the 65 catalog images plus ``k`` enrolled shots per product; returns
    (db, indexing seconds, images embedded)."""
    db = tmp / f"{name}.db"
    import_products(db, data / "products.csv", settings=settings)
    if k:
        items = [EnrollItem(sku, p) for sku, paths in sorted(shots.items()) for p in paths[:k]]
        enroll_images(db, items, settings=settings)
    t0 = time.perf_counter()
    report = index_catalog(db, embedder, settings=settings)
    seconds = time.perf_counter() - t0
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db, seconds, report.embedded


def oracle(db: Path, vectors: np.ndarray, skus: list[str]) -> float:
    """Recall@1 of exact product ranking on the catalog's stored vectors."""
    with sqlite3.connect(db) as conn:
        owner = dict(
            conn.execute(
                "SELECT e.id, p.sku FROM embeddings e JOIN images i ON "
                "i.id = e.image_id JOIN products p ON p.id = i.product_id"
            )
        )
        dim = conn.execute("SELECT dim FROM embeddings LIMIT 1").fetchone()[0]
    from sqlite_utils import Database

    gdb = Database(db)
    labels, gallery = zip(*iter_db_vectors(gdb, dim), strict=True)
    gdb.close()
    ids = np.concatenate(labels)
    ranks = product_ranks(vectors, np.concatenate(gallery), [owner[i] for i in ids], skus)
    return retrieval_scores(ranks).recall_at_1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get(
        "AISLELENS_DEV_DATA", str(REPO.parent / "shared" / "datasets" / "grocerystore-dev")
    )
    parser.add_argument("--data", type=Path, default=Path(default))
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--bundle", help="bundle name or folder (default: the shipped default)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    data: Path = args.data
    embedder = ImageEmbedder.open(args.bundle, precision=args.precision)
    settings = CatalogSettings.from_env()
    rows = read_shots(data)
    shots: dict[str, list[Path]] = {}
    for r in rows:
        if r["shot_split"] == "train":
            shots.setdefault(r["sku"], []).append(data / r["image"])
    t0 = time.perf_counter()
    embedded = embedder.embed_files(
        [str(data / r["image"]) for r in rows], fast=settings.fast_preprocess
    )
    query_s = time.perf_counter() - t0
    vectors = embedded.vectors
    skus = [rows[i]["sku"] for i in embedded.ok]
    val = np.array([rows[i]["shot_split"] == "val" for i in embedded.ok])
    print(
        f"embedded {len(skus)} query photos in {query_s:.1f} s "
        f"({len(skus) / query_s:.1f} images/s, {embedder.model_id})",
        flush=True,
    )

    results = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        configs = [
            ("catalog only, all photos", 0, None),
            ("catalog only, val", 0, val),
            ("+1 shot, val", 1, val),
            ("+3 shots, val", 3, val),
            ("+5 shots, val", 5, val),
        ]
        dbs: dict[int, Path] = {}
        for label, k, mask in configs:
            if k not in dbs:
                dbs[k], _, _ = build(tmp, f"k{k}", data, shots, k, embedder, settings)
            finder = open_finder(dbs[k], settings=settings)
            q = vectors if mask is None else vectors[mask]
            s = skus if mask is None else [x for x, m in zip(skus, mask, strict=True) if m]
            report = evaluate_vectors(finder, q, s, k=10)
            finder.close()
            exact_r1 = oracle(dbs[k], q, s)
            results.append((label, report, exact_r1, len(finder)))
            print(
                f"{label:<26} n={report.n:<5} R@1 {report.recall_at_1:.3f} R@5 "
                f"{report.recall_at_5:.3f} R@10 {report.recall_at_10:.3f} MRR {report.mrr:.3f}"
                f"  (exact oracle R@1 {exact_r1:.3f}; p50 {report.latency_ms['p50']:.2f} ms)",
                flush=True,
            )
        # Throughput and size: every train shot enrolled (65 + 2,162 images), HNSW forced.
        hnsw = CatalogSettings.from_env(exact_threshold=1)
        big, seconds, n_embedded = build(tmp, "all", data, shots, 10_000, embedder, hnsw)
        rate = n_embedded / seconds
        sizes = {k: catalog_stats(db) for k, db in dbs.items()}
        sizes[-1] = catalog_stats(big)
    print(f"indexed {n_embedded} photos end to end in {seconds:.1f} s: {rate:.1f} images/s")
    lines = [
        f"Grocery dev set (65 products, 3 categories), bundle `{embedder.model_id}`, through the "
        "catalog: import → enrol → index → `finder.search_vector` (k=10). Chance: R@1 = 0.015.",
        "",
        "| catalog | queries | Recall@1 | Recall@5 | Recall@10 | MRR | search p50 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r, _exact, _n in results:
        lines.append(
            f"| {label} | {r.n} | {r.recall_at_1:.3f} | {r.recall_at_5:.3f} | "
            f"{r.recall_at_10:.3f} | {r.mrr:.3f} | {r.latency_ms['p50']:.2f} |"
        )
    agree = all(abs(r.recall_at_1 - e) < 1e-9 for _, r, e, _ in results)
    lines += [
        "",
        "Shots are the first k `train` photos of each product (file order); queries the 236 "
        "`val` photos (or all 2,398). Exact product ranking (`models.metrics.product_ranks`) on "
        f"the same vectors gives {'the same' if agree else 'different'} Recall@1"
        + ("." if agree else ": " + ", ".join(f"{lbl} {e:.3f}" for lbl, _, e, _ in results)),
        "",
        f"- Indexing throughput, real photos end to end (decode on {settings.decode_workers} "
        f"threads + model + SQLite, batches of {settings.batch_size}): **{rate:.1f} images/s** "
        f"({n_embedded} photos in {seconds:.1f} s); query photos alone: "
        f"{len(skus) / query_s:.1f} images/s.",
    ]
    for k, title in ((0, "catalog images only"), (5, "+5 shots"), (-1, "every train shot")):
        st = sizes[k]
        per = st.bytes_per_product
        lines.append(
            f"- Bytes per product, {title} ({st.catalog_images + st.enrolled_images} images): "
            f"database {per['database']:,.0f} (vectors {st.vector_bytes / st.products:,.0f}, "
            f"thumbnails {st.thumbnail_bytes / st.products:,.0f}), index "
            f"{per['index']:,.0f} ({st.index_kind}), total **{per['total']:,.0f}**"
        )
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        path = write_section(
            "catalog",
            "Catalog on the grocery dev set (bench/bench_catalog.py)",
            body,
            "python bench/bench_catalog.py" + (f" --bundle {args.bundle}" if args.bundle else ""),
        )
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
