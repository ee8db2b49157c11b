"""Indexing throughput of phone photos: 12-megapixel JPEGs, and the same photos at 348 px.

The photos are made here, in a temporary folder: the demo shop's product pictures (drawn by the
demo builder, not taken from any dataset) placed on a textured background at 4032 × 3024, with
sensor-like noise, saved as JPEG quality 92 (about the size a phone writes). Each set goes
through the catalog as staff would run it: ``import_products`` (which also makes thumbnails,
timed apart), then ``index_catalog`` (decode at a reduced scale on the decode threads,
overlapped with the model, vectors into SQLite), timed on its own.

Usage: ``python bench/bench_indexing.py [--photos 160] [--repeats 3]``; writes BENCHMARKS.md
"indexing".
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_section

PHONE = (4032, 3024)  # a 12-megapixel phone photo, landscape


def phone_photo(
    product: np.ndarray, rng: np.random.Generator, size: tuple[int, int], noise: np.ndarray
) -> np.ndarray:
    """``product`` on a shelf-like background at ``size``, with noise a phone sensor leaves
    (``noise``: an int16 field of the photo's shape, shifted at random for each photo)."""
    w, h = size
    y, x = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
    base = 120 + 60 * np.sin(x / rng.uniform(40, 90)) * np.cos(y / rng.uniform(40, 90))
    background = cv2.resize(
        np.dstack([base, base * 0.9, base * 0.8]).clip(0, 255).astype(np.uint8), (w, h)
    )
    side = int(min(w, h) * rng.uniform(0.55, 0.8))
    item = cv2.resize(product, (side, side), interpolation=cv2.INTER_CUBIC)
    x0 = int(rng.integers(0, w - side))
    y0 = int(rng.integers(0, h - side))
    background[y0 : y0 + side, x0 : x0 + side] = item
    shifted = np.roll(noise, (int(rng.integers(0, h)), int(rng.integers(0, w))), axis=(0, 1))
    return cv2.add(background, shifted, dtype=cv2.CV_8U)


def make_photos(folder: Path, n: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    from kiosk.demo.build import build_demo
    from kiosk.settings import load_settings

    demo = build_demo(load_settings().cache_dir)
    products = json.loads(demo.products_file.read_text())
    pictures = [cv2.imread(str(demo.products_file.parent / p["images"][0])) for p in products]
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 6, (size[1], size[0], 3)).astype(np.int16)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        image = phone_photo(pictures[i % len(pictures)], rng, size, noise)
        cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(path)
    return paths


def index_rates(tmp: Path, label: str, photos: list[Path], repeats: int) -> dict:
    """Import the photos as one product each (timed), then index copies of that catalog
    through the fast and the exact preprocessing, alternating, ``repeats`` times each."""
    from catalog import CatalogSettings, import_products, index_catalog
    from kiosk.services import open_embedder
    from kiosk.settings import load_settings

    products = tmp / f"{label}.csv"
    with products.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["sku", "name", "price", "image"])
        for i, p in enumerate(photos):
            out.writerow([f"P{i:05d}", f"Product {i}", "1.00", str(p)])
    base = tmp / f"{label}.db"
    t0 = time.perf_counter()
    report = import_products(base, products)
    import_s = time.perf_counter() - t0
    if not report.ok:
        raise SystemExit(f"import of {label} found problems: {report.issues[:3]}")
    embedder = open_embedder(load_settings())
    rates: dict[str, list[float]] = {"fast": [], "exact": []}
    for r in range(repeats):
        for path in ("fast", "exact") if r % 2 == 0 else ("exact", "fast"):
            db = tmp / f"{label}-{path}.db"
            shutil.copyfile(base, db)
            settings = CatalogSettings.from_env(adapt=0, fast_preprocess=path == "fast")
            t0 = time.perf_counter()
            indexed = index_catalog(db, embedder, settings=settings)
            rates[path].append(len(photos) / (time.perf_counter() - t0))
            if indexed.embedded != len(photos):
                raise SystemExit(f"{label}: indexed {indexed.embedded} of {len(photos)}")
            db.unlink()
    pre = embedder.preprocess
    image = embedder.load(photos[0])  # as indexing decodes it (at a reduced scale)
    cost = {
        "fast": _median_ms(lambda: pre.fast(image)),
        "exact": _median_ms(lambda: pre.normalize(pre.resize_crop(image))),
    }
    embedder.close()
    mean_bytes = sum(p.stat().st_size for p in photos) / len(photos)
    return {
        "photos": len(photos),
        "mean_mb": mean_bytes / 1e6,
        "import_rate": len(photos) / import_s,
        "index_rate": statistics.median(rates["fast"]),
        "exact_rate": statistics.median(rates["exact"]),
        "decoded": f"{image.shape[1]} × {image.shape[0]}",
        "pre_ms": cost,
        "model": embedder.model_id,
    }


def _median_ms(fn, repeats: int = 50) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=160, help="photos per set (default 160)")
    ap.add_argument("--repeats", type=int, default=3, help="index runs per path (default 3)")
    args = ap.parse_args()
    if args.photos < 1 or args.repeats < 1:
        ap.error("--photos and --repeats must be at least 1")
    from catalog import CatalogSettings

    rows = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"making {args.photos} photos of {PHONE[0]}×{PHONE[1]}…", flush=True)
        big = make_photos(tmp / "phone", args.photos, PHONE)
        small = []
        (tmp / "small").mkdir()
        for p in big:
            image = cv2.imread(str(p))
            small_path = tmp / "small" / p.name
            cv2.imwrite(
                str(small_path),
                cv2.resize(image, (464, 348), interpolation=cv2.INTER_AREA),
                [cv2.IMWRITE_JPEG_QUALITY, 92],
            )
            small.append(small_path)
        for label, photos in (("12 MP (4032 × 3024)", big), ("348 px (464 × 348)", small)):
            print(f"indexing {label}…", flush=True)
            rows[label] = index_rates(
                tmp, label.split()[0] + label.split()[1], photos, args.repeats
            )
            r = rows[label]
            print(
                f"  {label}: index {r['index_rate']:.1f} images/s (exact preprocessing "
                f"{r['exact_rate']:.1f}), import (with thumbnails) {r['import_rate']:.1f} "
                f"images/s, {r['mean_mb']:.2f} MB per photo",
                flush=True,
            )
    settings = CatalogSettings.from_env()
    model = next(iter(rows.values()))["model"]
    lines = [
        f"{args.photos} photos per set, made by the script (the demo shop's product pictures on a "
        "textured background with sensor-like noise, JPEG quality 92); the same photos scaled "
        f"to 348 px for the second row. Model `{model}`; decode on {settings.decode_workers} "
        f"threads (JPEGs at a reduced scale by libjpeg) overlapped with the model, batches of "
        f"{settings.batch_size}, vectors committed to SQLite. `import` (which reads every photo "
        "and writes its thumbnail) is timed apart from `index`. **index**: the default, each "
        "photo preprocessed as the kiosk preprocesses a camera frame (OpenCV); *exact*: "
        "`AISLELENS_CATALOG_FAST_PREPROCESS=0`, the torchvision resampler in numpy. Median of "
        f"{args.repeats} runs of each, alternating (which goes first too), on copies of one "
        "imported catalog.",
        "",
        "| photos | MB per photo | decoded at | preprocessing per photo, fast / exact (ms) "
        "| **index** (images/s) | index, exact preprocessing (images/s) "
        "| import with thumbnails (images/s) |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {r['mean_mb']:.2f} | {r['decoded']} | "
            f"{r['pre_ms']['fast']:.2f} / {r['pre_ms']['exact']:.2f} | "
            f"**{r['index_rate']:.1f}** | {r['exact_rate']:.1f} | {r['import_rate']:.1f} |"
        )
    lines += ["", "Target on this 2-core machine: ≥ 50 images/s indexing 12-megapixel photos."]
    cmd = f"python bench/bench_indexing.py --photos {args.photos}"
    cmd += "" if args.repeats == 3 else f" --repeats {args.repeats}"
    path = write_section(
        "indexing", "Indexing phone photos (bench/bench_indexing.py)", "\n".join(lines), cmd
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
