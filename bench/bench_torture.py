"""The torture campaign: kill -9 during import and index, and corrupt what lies on disk.

    python bench/bench_torture.py [--kills 12] [--corruptions 40] [--seed 0] [--no-write]

On the kiosk's demo shop (28 products, 5 enrolled shots each, drawn by kiosk/demo; nothing
from a data set), with every command run as staff run it (`aislelens catalog …` in its own
process) and an HNSW index file forced (`AISLELENS_CATALOG_EXACT_THRESHOLD=1`):

1. **kill -9**: `catalog import` and `catalog index` are killed at a random moment, then
   `catalog check` must pass, a rerun must finish, and the result must equal a clean build
   (the same products; vectors equal to 1e-5, and the same search results).
2. **Corruption**: one thing on disk is damaged: 16 random bytes in a random page of the
   database, in the index file, its metadata or the prototype graph, or a truncation of one
   of them; or one byte of the model bundle's ONNX file. Then `check` runs, and a search of
   every enrolled shot's vector. Each trial is counted as *detected* (check or the search
   said so, in one line), *harmless* (nothing said, and every search result is as before: the
   same products in the same order, every score equal to 1e-5), *silently wrong* (nothing
   said, but a result changed) or *crashed* (a traceback, a signal, an unexpected exit
   status). A detected one is then repaired by `catalog index`, unless
   SQLite's integrity check says the database file itself is damaged (then the remedy is a
   backup, or importing again, and the count says so). A repaired catalog must give the same
   results in the same sense. Scores are compared unrounded, to 1e-5 and not to the bit: a
   repair that re-embeds a photo refits the store adaptation, whose sums may differ from the
   first fit's in the last bits (measured 9e-7 in a prototype).

Prints the counts and writes the "torture" section of BENCHMARKS.md (unless --no-write);
exits 1 when anything crashed, was silently wrong or failed to resume.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-c", "from kiosk.cli import main; main()"]
ENV = {
    **os.environ,
    "AISLELENS_CATALOG_EXACT_THRESHOLD": "1",  # an index file even for 28 products
    "AISLELENS_CATALOG_COMMIT_EVERY": "16",
    "QT_QPA_PLATFORM": "offscreen",
}


@dataclass
class Run:
    code: int  # exit status; negative: killed by that signal
    out: str
    err: str

    @property
    def crashed(self) -> bool:
        return self.code < 0 or self.code not in (0, 1, 2) or "Traceback" in self.err


def run(*args: str, timeout: float = 600) -> Run:
    proc = subprocess.run(
        [*CLI, *args], env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def catalog_files(db: Path) -> list[Path]:
    return [p for p in db.parent.iterdir() if p.name.startswith(db.name)]


def copy_catalog(db: Path, to: Path) -> Path:
    shutil.rmtree(to, ignore_errors=True)
    to.mkdir(parents=True)
    for p in catalog_files(db):
        if not p.name.endswith(".lock"):
            shutil.copy2(p, to / p.name)
    return to / db.name


def checkpoint(db: Path) -> None:
    """Fold the WAL into the database file, so that its pages are what lies on disk."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def product_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT sku, name, price, category, aisle, related FROM products ORDER BY sku"
        ).fetchall()


def vectors(db: Path) -> dict[str, np.ndarray]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT i.path, e.vector FROM embeddings e JOIN images i ON i.id = e.image_id"
        ).fetchall()
    return {path: np.frombuffer(blob, np.float32) for path, blob in rows}


def probe(db: Path, queries: Path) -> Run:
    """Search every query vector in a fresh process (the kiosk's read-only view)."""
    code = (
        "import json, sys, numpy as np\n"
        "from catalog import open_finder, CatalogError\n"
        "try:\n"
        f"    f = open_finder({str(db)!r})\n"
        f"    q = np.load({str(queries)!r})\n"
        "    out = []\n"
        "    for v in q:\n"
        "        r = f.search_vector(v, k=3)\n"
        "        out.append([[m.product.sku, m.product.name, m.product.price,\n"
        "                     float(m.score)] for m in r.matches])\n"
        "    f.close()\n"
        "except CatalogError as exc:\n"
        "    print(exc, file=sys.stderr); sys.exit(2)\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=300
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def same_results(got: list, expected: list, tol: float = 1e-5) -> bool:
    """The same products in the same order for every query, and scores within ``tol``."""
    return len(got) == len(expected) and all(
        len(g) == len(e)
        and all(a[:3] == b[:3] and abs(a[3] - b[3]) <= tol for a, b in zip(g, e, strict=True))
        for g, e in zip(got, expected, strict=True)
    )


def one_line(r: Run) -> bool:
    lines = [line for line in r.err.splitlines() if line.strip() and "WARNING" not in line]
    return not r.crashed and len(lines) <= 3


@dataclass
class Campaign:
    counts: Counter = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)

    def note(self, key: str, detail: str = "") -> None:
        self.counts[key] += 1
        if detail:
            self.details.append(f"{key}: {detail}")


def kill_campaign(c: Campaign, assets, work: Path, ref: Path, kills: int, rng: random.Random):
    """Kill -9 import and index at random moments; check, resume, compare with the clean build."""
    ref_products, ref_vectors = product_rows(ref), vectors(ref)
    base = work / "kill-base"
    import_s = _timed(
        lambda: run("catalog", "import", str(assets.products_file), "--db", str(base / "s.db"))
    )
    run("catalog", "enroll", "--db", str(base / "s.db"), str(assets.enroll_file))
    index_s = _timed(
        lambda: run("catalog", "index", "--db", str(copy_catalog(base / "s.db", work / "t")))
    )
    for i in range(kills):
        stage = "import" if i % 3 == 0 else "index"
        trial = work / f"kill{i}"
        if stage == "import":
            shutil.rmtree(trial, ignore_errors=True)
            trial.mkdir(parents=True)
            db = trial / "s.db"
            args = ["catalog", "import", str(assets.products_file), "--db", str(db)]
            span = import_s
        else:
            db = copy_catalog(base / "s.db", trial)
            args = ["catalog", "index", "--db", str(db)]
            span = index_s
        proc = subprocess.Popen(
            [*CLI, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.05, 0.95) * span)
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        c.note(f"kill -9 during {stage}" + (" (had finished)" if finished else ""))
        if db.exists():
            check = run("catalog", "check", "--db", str(db))
            problems = [line for line in check.out.splitlines() if line.startswith("problem:")]
            if check.crashed or (check.code != 0 and not problems):
                c.note("integrity failures", f"{stage} kill {i}: {check.err.strip()[-300:]}")
            elif problems and all(p.startswith("problem: index:") for p in problems):
                # the derived index file was being swapped in: detected, never used (the
                # kiosk searches exactly), rebuilt by the rerun below
                c.note("index file left to rebuild (detected, searched exactly meanwhile)")
            elif problems:
                c.note("integrity failures", f"{stage} kill {i}: {'; '.join(problems)[-300:]}")
        again = run(*args)
        if stage == "import":
            run("catalog", "enroll", "--db", str(db), str(assets.enroll_file))
            again = run("catalog", "index", "--db", str(db))
        if again.code != 0:
            c.note("failed resumes", f"{stage} kill {i}: {again.err.strip()[-300:]}")
            continue
        got = vectors(db)
        same = product_rows(db) == ref_products and got.keys() == ref_vectors.keys()
        diff = max(
            (float(np.abs(got[k] - ref_vectors[k]).max()) for k in got if k in ref_vectors),
            default=0.0,
        )
        if not same or diff > 1e-5:
            c.note("different from a clean build", f"{stage} kill {i}: max diff {diff:.2g}")
        else:
            c.note("equal to a clean build")
        if diff == 0.0 and same:
            c.note("bit-identical vectors")


def _timed(fn) -> float:
    t0 = time.monotonic()
    r = fn()
    if r.code != 0:
        raise SystemExit(f"setup failed: {r.err.strip()[-500:]}")
    return time.monotonic() - t0


def _damage(path: Path, rng: random.Random, *, page: bool) -> str:
    size = path.stat().st_size
    data = bytearray(path.read_bytes())
    if not page and rng.random() < 0.25:
        cut = rng.randrange(0, max(1, size))
        path.write_bytes(bytes(data[:cut]))
        return f"{path.name} truncated to {cut} of {size} bytes"
    if page:
        pages = size // 4096
        n = rng.randrange(1, pages)  # page 0 is the header: it is caught by every open
        at = n * 4096 + rng.randrange(0, 4096 - 16)
        where = f"{path.name} page {n + 1} of {pages}"
    else:
        at = rng.randrange(0, max(1, size - 16))
        where = f"{path.name} byte {at} of {size}"
    data[at : at + 16] = rng.randbytes(16)
    path.write_bytes(bytes(data))
    return where


def corruption_campaign(c: Campaign, ref: Path, work: Path, n: int, rng: random.Random) -> None:
    queries = work / "queries.npy"
    with sqlite3.connect(ref) as conn:
        rows = conn.execute(
            "SELECT e.vector FROM embeddings e JOIN images i ON i.id = e.image_id "
            "WHERE i.kind = 'enrolled' ORDER BY e.id"
        ).fetchall()
    np.save(queries, np.stack([np.frombuffer(b, np.float32) for (b,) in rows]))
    clean = probe(ref, queries)
    if clean.code != 0:
        raise SystemExit(f"probe failed on the clean catalog: {clean.err}")
    expected = json.loads(clean.out)
    targets = ["db"] * 6 + ["hnsw", "hnsw.json", "proto.hnsw", "model"]
    for i in range(n):
        kind = targets[i % len(targets)] if i < len(targets) else rng.choice(targets)
        if kind == "model":
            _model_trial(c, work, rng)
            continue
        db = copy_catalog(ref, work / f"corrupt{i}")
        target = db if kind == "db" else db.with_name(f"{db.name}.{kind}")
        if not target.exists():
            continue
        where = _damage(target, rng, page=kind == "db")
        c.note(f"corruptions tried: {'database pages' if kind == 'db' else 'index files'}")
        check = run("catalog", "check", "--db", str(db))
        search = probe(db, queries)
        if check.crashed or search.crashed:
            c.note("crashed", f"{where}: {(check.err or search.err).strip()[-400:]}")
            continue
        said = check.code != 0 or search.code != 0
        if said and not (one_line(check) and one_line(search)):
            c.note("crashed", f"{where}: more than one line: {(check.err + search.err)[-400:]}")
            continue
        if said and "integrity_check" in check.out:
            # SQLite's own structure is damaged: nothing derived can mend that; check says
            # so and the remedy is the backup, or importing and indexing again
            c.note("detected")
            c.note("detected: database file damaged (restore, or import again)")
        elif said:
            c.note("detected")
            repair = run("catalog", "index", "--db", str(db))
            after, again = run("catalog", "check", "--db", str(db)), probe(db, queries)
            if (
                repair.code == 0
                and after.code == 0
                and again.code == 0
                and same_results(json.loads(again.out), expected)
            ):
                c.note("repaired by index")
            else:
                c.note(
                    "not repaired",
                    f"{where}: {repair.err.strip()[-200:]} {after.out.strip()[-200:]}",
                )
        elif same_results(json.loads(search.out), expected):
            c.note("harmless (not detected, results unchanged)")
        else:
            c.note("silently wrong", where)


def _model_trial(c: Campaign, work: Path, rng: random.Random) -> None:
    from models import ModelError, load_bundle

    bundle = load_bundle()
    copy = work / "bundle"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(bundle.path, copy)
    onnx = copy / "model.int8.onnx"
    data = bytearray(onnx.read_bytes())
    at = rng.randrange(0, len(data))
    data[at] ^= 1 << rng.randrange(8)
    onnx.write_bytes(bytes(data))
    c.note("corruptions tried: model files")
    r = run("models", "info", str(copy))
    try:
        from models import ImageEmbedder

        ImageEmbedder.open(str(copy), "int8").close()
        loaded = True
    except ModelError:
        loaded = False
    if r.crashed:
        c.note("crashed", f"model byte {at}: {r.err[-300:]}")
    elif loaded or r.code == 0:
        c.note("silently wrong", f"model byte {at} flipped and the bundle still loads")
    else:
        c.note("detected")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=12)
    ap.add_argument("--corruptions", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md")
    ap.add_argument("--json", action="store_true", help="print the counts as JSON")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    from kiosk.demo.build import build_demo

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aislelens-torture-") as tmp:
        work = Path(tmp)
        assets = build_demo(work / "demo")
        ref = work / "ref" / "s.db"
        ref.parent.mkdir()
        for step in (
            ("catalog", "import", str(assets.products_file), "--db", str(ref)),
            ("catalog", "enroll", "--db", str(ref), str(assets.enroll_file)),
            ("catalog", "index", "--db", str(ref)),
        ):
            _timed(lambda step=step: run(*step))
        checkpoint(ref)
        c = Campaign()
        kill_campaign(c, assets, work, ref, args.kills, rng)
        corruption_campaign(c, ref, work, args.corruptions, rng)
    failures = (
        "crashed",
        "silently wrong",
        "failed resumes",
        "integrity failures",
        "different from a clean build",
        "not repaired",
    )
    counts = dict(sorted({**dict.fromkeys(failures, 0), **c.counts}.items()))
    bad = sum(counts[k] for k in failures)
    if args.json:
        print(json.dumps({"counts": counts, "details": c.details, "bad": bad}))
    else:
        for key, value in counts.items():
            print(f"{value:5d}  {key}")
        for line in c.details:
            print(f"       {line}")
    if not args.no_write:
        body = "| outcome | count |\n|---|---:|\n" + "\n".join(
            f"| {k} | {v} |" for k, v in counts.items()
        )
        if c.details:
            body += "\n\n" + "\n".join(f"- {line}" for line in c.details)
        body += f"\n\nThe campaign took {time.monotonic() - started:.0f} s."
        write_section(
            "torture",
            "Torture campaign (kill -9 and corruption)",
            body,
            f"python bench/bench_torture.py --kills {args.kills} --corruptions {args.corruptions} --seed {args.seed}",
        )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
