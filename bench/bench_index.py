"""Vector index benchmark: HNSW against exact numpy search on clustered 1280-d embeddings.

    python bench/bench_index.py [--sizes 10000 100000 1000000] [--queries 500] [--index-dim 256]

For each size: HNSW build rate (vectors/s, all usable CPUs; with a projection, the PCA fit is
included), single-query latency p50/p95 (one thread) of the catalog's index and ExactIndex,
recall@10 against exact search, the speed ratio, and the index size on disk per vector (graph
plus projection). As in the catalog, the graph holds the vectors PCA-projected to
``index_dim`` dimensions and each search re-ranks its candidates with their full vectors, read
by id from a SQLite table like the catalog's (``--index-dim 0``: full vectors, no re-rank).
Parameters come from CatalogSettings (M, ef_construction, ef, index_dim) unless given. Writes
the "index" section of BENCHMARKS.md; rows of sizes not measured in this run are kept from the
previous section, marked as such.
"""

from __future__ import annotations

import argparse
import gc
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlite_utils import Database

from bench.report import BENCHMARKS, write_section
from bench.synthetic import clustered, statistics
from catalog import CatalogSettings, ExactIndex
from catalog.index_hnsw import HnswIndex, ef_for_size
from catalog.index_projected import PcaProjection, ProjectedIndex
from catalog.index_store import iter_db_vectors, new_graph


def exact_top10(gallery: np.ndarray, queries: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """Ground truth by blocked matrix products (same result as ExactIndex, less memory)."""
    best_s = np.full((len(queries), 10), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 10), dtype=np.int64)
    for start in range(0, len(gallery), chunk):
        sims = queries @ gallery[start : start + chunk].T
        top = np.argpartition(-sims, 9, axis=1)[:, :10]
        s = np.concatenate([best_s, np.take_along_axis(sims, top, 1)], axis=1)
        i = np.concatenate([best_i, top + start], axis=1)
        order = np.argsort(-s, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
    return best_i


def latencies(search, queries: np.ndarray) -> np.ndarray:
    out = []
    for q in queries:
        t0 = time.perf_counter()
        search(q, 10)
        out.append((time.perf_counter() - t0) * 1e3)
    return np.array(out)


def vector_table(gallery: np.ndarray, path: Path) -> Database:
    """The gallery in a SQLite ``embeddings`` table (id, vector BLOB), as the catalog stores it."""
    conn = sqlite3.connect(str(path), check_same_thread=False)
    conn.execute("CREATE TABLE embeddings (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)")
    for start in range(0, len(gallery), 10_000):
        conn.executemany(
            "INSERT INTO embeddings (id, vector) VALUES (?, ?)",
            ((start + i, v.tobytes()) for i, v in enumerate(gallery[start : start + 10_000])),
        )
    conn.commit()
    return Database(conn)


def bench_size(
    n: int, n_queries: int, settings: CatalogSettings, efs: list[int], tmp: Path
) -> dict:
    t0 = time.perf_counter()
    gallery, ids, queries = clustered(n, n_queries, seed=n)
    gen_s = time.perf_counter() - t0
    stats = statistics(gallery, ids)
    truth = exact_top10(gallery, queries)
    exact = ExactIndex.from_arrays(gallery, np.arange(n))
    n_exact = min(n_queries, max(50, 20_000_000 // n))  # exact search at 1M is slow
    exact_ms = latencies(exact.search, queries[:n_exact])
    dim = gallery.shape[1]
    index_dim = settings.projected_dim(dim)
    graph = new_graph(index_dim or dim, n, settings)
    index: HnswIndex | ProjectedIndex = graph
    db = vector_table(gallery, tmp / f"vectors{n}.db") if index_dim else None
    t0 = time.perf_counter()
    if db is not None:

        def full_vectors(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            parts = list(iter_db_vectors(db, dim, labels))
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

        projection = PcaProjection.fit(gallery, index_dim)
        index = ProjectedIndex(graph, projection, full_vectors)
    for start in range(0, n, 50_000):
        index.add(gallery[start : start + 50_000], np.arange(start, min(n, start + 50_000)))
    build_s = time.perf_counter() - t0
    graph.save(tmp / "i.hnsw")
    file_bytes = (tmp / "i.hnsw").stat().st_size
    (tmp / "i.hnsw").unlink()
    if isinstance(index, ProjectedIndex):
        index.projection.save(tmp / "i.pca")
        file_bytes += (tmp / "i.pca").stat().st_size
    sweep = []
    default_ef = settings.hnsw_ef or ef_for_size(n)
    for ef in sorted(set([*efs, default_ef])):
        graph.ef = ef
        graph._index.set_ef(ef)
        found = np.stack([index.search(q, 10)[0][0] for q in queries])
        recall = float(
            np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
        )
        ms = latencies(index.search, queries)
        sweep.append(
            {
                "ef": ef,
                "recall_at_10": recall,
                "p50_ms": float(np.percentile(ms, 50)),
                "p95_ms": float(np.percentile(ms, 95)),
            }
        )
    main = next(s for s in sweep if s["ef"] == default_ef)
    result = {
        "n": n,
        "index_dim": index_dim,
        "generate_s": gen_s,
        "stats": stats,
        "build_s": build_s,
        "build_rate": n / build_s,
        "exact_p50_ms": float(np.percentile(exact_ms, 50)),
        "exact_p95_ms": float(np.percentile(exact_ms, 95)),
        "exact_queries": n_exact,
        "file_bytes": file_bytes,
        "sweep": sweep,
        **main,
        "speedup": float(np.percentile(exact_ms, 50)) / main["p50_ms"],
    }
    print(
        f"n={n:>9,}: build {n / build_s:,.0f} vectors/s ({build_s:.1f} s), "
        f"HNSW p50 {main['p50_ms']:.2f} ms p95 {main['p95_ms']:.2f} ms, recall@10 "
        f"{main['recall_at_10']:.4f}; exact p50 {result['exact_p50_ms']:.2f} ms p95 "
        f"{result['exact_p95_ms']:.2f} ms; {result['speedup']:.0f}x faster; "
        f"{file_bytes / n:.0f} bytes/vector ({index_dim or dim}-d graph)  {stats}",
        flush=True,
    )
    for s in sweep:
        print(
            f"    ef={s['ef']:<4} recall@10 {s['recall_at_10']:.4f}  p50 {s['p50_ms']:.3f} ms"
            f"  p95 {s['p95_ms']:.3f} ms",
            flush=True,
        )
    del index, graph, exact, gallery
    if db is not None:
        db.conn.close()
    gc.collect()
    return result


def previous_rows(measured: list[int]) -> tuple[list[str], list[str], str]:
    """Table rows and ef-sweep entries of the current BENCHMARKS.md section for sizes this run
    does not measure, and the index description they were measured with."""
    if not BENCHMARKS.exists():
        return [], [], ""
    found = re.search(
        r"<!-- bench:index -->(.*?)<!-- /bench:index -->", BENCHMARKS.read_text(), re.S
    )
    if not found:
        return [], [], ""
    section = found.group(1)
    setup = re.search(r"^(HnswIndex \([^)]*\)[^.]*?) against", section, re.M)
    rows, sweeps = [], []
    for line in section.splitlines():
        size = re.match(r"\| ([\d,]+)[ ¹]* \|", line)
        if size and int(size.group(1).replace(",", "")) not in measured:
            rows.append(line)
        if line.startswith("ef sweep"):
            for entry in line.split(": ", 1)[1].split("; "):
                size = re.match(r"([\d,]+)[ ¹]*:", entry)
                if size and int(size.group(1).replace(",", "")) not in measured:
                    sweeps.append(entry)
    return rows, sweeps, setup.group(1) if setup else ""


def mark_carried(text: str) -> str:
    """Put the footnote mark after the leading vector count of a row or sweep entry."""
    return re.sub(
        r"^(\| )?([\d,]+)(?:¹)?", lambda m: f"{m.group(1) or ''}{m.group(2)}¹", text, count=1
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--m", type=int)
    parser.add_argument("--ef-construction", type=int)
    parser.add_argument("--ef", type=int)
    parser.add_argument("--index-dim", type=int, help="PCA width of the graph (0: none).")
    parser.add_argument("--sweep", type=int, nargs="*", default=[32, 128, 256])
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    overrides = {
        k: v
        for k, v in (
            ("hnsw_m", args.m),
            ("hnsw_ef_construction", args.ef_construction),
            ("hnsw_ef", args.ef),
            ("index_dim", args.index_dim),
        )
        if v is not None
    }
    settings = CatalogSettings.from_env(**overrides)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_size(n, args.queries, settings, args.sweep, Path(tmp)) for n in args.sizes]
    s0 = rows[0]["stats"]
    index_dim = rows[0]["index_dim"]
    ef_text = (
        str(settings.hnsw_ef) if settings.hnsw_ef else "chosen from the size: 64 to 100k, 256 at 1M"
    )
    if index_dim:
        setup = (
            f"HnswIndex (M={settings.hnsw_m}, ef_construction={settings.hnsw_ef_construction}, "
            f"ef={ef_text}, cosine) over the vectors PCA-projected to {index_dim} "
            "dimensions, each search re-ranking max(4k, k+32) candidates exactly with their "
            "full vectors read by id from SQLite (as the catalog does),"
        )
    else:
        setup = (
            f"HnswIndex (M={settings.hnsw_m}, ef_construction={settings.hnsw_ef_construction}, "
            f"ef={ef_text}, cosine) over the full vectors (no projection)"
        )
    lines = [
        f"{setup} against ExactIndex (numpy) on synthetic 1280-d "
        f"embeddings shaped like the real ones (`bench/synthetic.py`: cosine within a product "
        f"{s0['cos_same_product']:.2f}, between products {s0['cos_different']:.2f}, half the "
        f"variance in {s0['dims_for_half_variance']} directions; real EfficientNet-Lite0 "
        "embeddings of the grocery photos: 0.68, 0.37, 11). Build on all usable CPUs (PCA fit "
        "included); queries one at a time on one thread, k=10, "
        f"{args.queries} queries. Index size: graph plus projection.",
        "",
        "| vectors | build (vectors/s) | HNSW p50 / p95 (ms) | exact p50 / p95 (ms) | "
        "recall@10 vs exact | speed-up (p50) | index file (bytes/vector) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']:,} | {r['build_rate']:,.0f} | {r['p50_ms']:.2f} / {r['p95_ms']:.2f} | "
            f"{r['exact_p50_ms']:.2f} / {r['exact_p95_ms']:.2f} | {r['recall_at_10']:.4f} | "
            f"{r['speedup']:.0f}× | {r['file_bytes'] / r['n']:,.0f} |"
        )
    old_rows, old_sweeps, old_setup = previous_rows(args.sizes)
    lines += [mark_carried(row) for row in old_rows]
    sweeps = [
        f"{r['n']:,}: "
        + ", ".join(
            f"ef {s['ef']} → {s['recall_at_10']:.3f} / {s['p50_ms']:.2f}" for s in r["sweep"]
        )
        for r in rows
    ] + [mark_carried(entry) for entry in old_sweeps]
    lines += ["", "ef sweep (recall@10, p50 ms): " + "; ".join(sweeps)]
    if old_rows:
        if "PCA" not in old_setup:
            old_setup = old_setup.rstrip(",") + ", full 1280-d vectors, without projection"
        lines += [
            "",
            f"¹ Not re-measured in this run: kept from an earlier run of this script with "
            f"{old_setup.rstrip(',')}.",
        ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        sizes = " ".join(str(n) for n in args.sizes)
        path = write_section(
            "index",
            "Vector index: HNSW vs exact (bench/bench_index.py)",
            body,
            f"python bench/bench_index.py --sizes {sizes} --queries {args.queries}",
        )
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
