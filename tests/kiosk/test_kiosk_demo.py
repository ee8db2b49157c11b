"""The demo shop: drawn by the project, cached, and recognised by the real default bundle."""

from __future__ import annotations

import json
import time

import numpy as np

from catalog import open_finder
from kiosk.demo.build import build_demo
from kiosk.demo.products import DEMO_PRODUCTS, catalog_photo
from kiosk.services import make_services, open_embedder
from kiosk.settings import load_settings


def test_every_demo_product_is_drawn_distinctly():
    photos = [catalog_photo(d, 96).astype(np.float32) for d in DEMO_PRODUCTS]
    assert len({d.product.sku for d in DEMO_PRODUCTS}) == len(DEMO_PRODUCTS) >= 24
    kinds = {d.product.category for d in DEMO_PRODUCTS}
    assert {"Fruit & veg", "Drinks", "Breakfast", "Snacks"} <= kinds
    for i in range(len(photos)):
        for j in range(i + 1, len(photos)):
            assert np.abs(photos[i] - photos[j]).mean() > 8, (i, j)
    skus = {d.product.sku for d in DEMO_PRODUCTS}
    assert all(set(d.product.related) <= skus for d in DEMO_PRODUCTS)


def test_the_demo_is_built_once_then_reused(demo_assets):
    meta = json.loads((demo_assets.root / "demo.json").read_text())
    rows = json.loads(demo_assets.products_file.read_text())
    assert len(rows) == 12 and all(len(r["images"]) == 1 for r in rows)
    shots = demo_assets.enroll_file.read_text().splitlines()[1:]
    assert len(shots) == 12 * 5 and {s.split(",")[1] for s in shots} == {r["sku"] for r in rows}
    assert {s["sku"] for s in meta["shots"]} == {r["sku"] for r in rows}
    t0 = time.monotonic()
    again = build_demo(demo_assets.root.parent, tuple(_items(rows)), hold_s=1.2)
    assert again.root == demo_assets.root and time.monotonic() - t0 < 0.5
    assert not list(demo_assets.root.parent.glob("*.tmp-*"))  # no half-built folder left


def _items(rows):
    by_sku = {d.product.sku: d for d in DEMO_PRODUCTS}
    return [by_sku[r["sku"]] for r in rows]


def test_the_replay_camera_shows_each_product_and_the_model_recognises_it(
    demo_assets, demo_frames, demo_db
):
    """Golden end to end: replayed frames → real int8 bundle → catalog → the right product."""
    settings = load_settings()
    embedder = open_embedder(settings)
    finder = open_finder(demo_db, bundle_id=embedder.model_id)
    services = make_services(load_settings(cache={"size": 0}), embedder, finder)
    try:
        hits, total = 0, 0
        for shot in demo_assets.shots:
            frames = list(range(shot["start"], shot["end"], 6))
            for n in frames:
                rec = services.recognizer.recognize(demo_frames[n])
                total += 1
                hits += rec.best is not None and rec.best.product.sku == shot["sku"]
            middle = services.recognizer.recognize(demo_frames[frames[len(frames) // 2]])
            assert middle.best is not None and middle.best.product.sku == shot["sku"]
        assert total >= 60 and hits / total >= 0.95
        assert services.recognizer.recognize(demo_frames[0]).outcome.value == "no_match"
    finally:
        services.close()


def test_a_repeated_scan_is_answered_from_the_cache(demo_assets, demo_frames, demo_db):
    settings = load_settings()
    embedder = open_embedder(settings)
    services = make_services(settings, embedder, open_finder(demo_db, bundle_id=embedder.model_id))
    try:
        held = demo_assets.held_frames("DEMO-005")
        first = services.recognizer.recognize(demo_frames[held[5]])
        again = services.recognizer.recognize(demo_frames[held[9]])  # same scene, a moment later
        other = services.recognizer.recognize(demo_frames[demo_assets.held_frames("DEMO-016")[5]])
        assert not first.from_cache and "inference" in first.timings_ms
        assert again.from_cache and "inference" not in again.timings_ms
        assert again.best is not None and again.best.product.sku == "DEMO-005"
        assert not other.from_cache and other.best is not None
        assert other.best.product.sku == "DEMO-016"
        assert services.cache.hits == 1 and services.cache.misses == 2
    finally:
        services.close()
