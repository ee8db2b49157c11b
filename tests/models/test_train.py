"""`aislelens models train`: k-fold by product, reproducible weights, a bundle that records its
recipe and held-out figures (export extra). Tiny runs on drawn products: seconds, not an hour."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from kiosk.cli import cli
from models import ImageEmbedder, load_bundle

pytest.importorskip("torch", reason="the export extra is part of the test install")
pytestmark = pytest.mark.export

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "catalog"))
from catalog_images import draw_product  # noqa: E402


def labelled_set(root: Path, products: int = 6, shots: int = 3) -> tuple[Path, Path]:
    """products.csv (one drawn packshot each, with a 'kind' column) and queries.csv (shots)."""
    rng = np.random.default_rng(0)
    (root / "img").mkdir(parents=True)
    with (
        open(root / "products.csv", "w", newline="") as pf,
        open(root / "queries.csv", "w", newline="") as qf,
    ):
        p, q = csv.writer(pf), csv.writer(qf)
        p.writerow(["sku", "name", "kind", "image"])
        q.writerow(["image", "sku"])
        for i in range(products):
            img = draw_product(i, 160)
            cv2.imwrite(str(root / f"img/p{i}.png"), img)
            p.writerow([f"P{i}", f"Product {i}", f"kind{i % 3}", f"img/p{i}.png"])
            for k in range(shots):
                shot = np.clip(img * rng.uniform(0.7, 1.1) + rng.normal(0, 8, img.shape), 0, 255)
                cv2.imwrite(str(root / f"img/s{i}-{k}.png"), shot.astype(np.uint8))
                q.writerow([f"img/s{i}-{k}.png", f"P{i}"])
    return root / "products.csv", root / "queries.csv"


def test_folds_hold_out_whole_groups_and_every_product_once():
    from models.tools.train import fold_products

    skus = [f"P{i}" for i in range(10)]
    groups = {s: f"g{i // 3}" for i, s in enumerate(skus)}  # g0..g2 of 3, g3 of 1
    folds = fold_products(skus, groups, 3, seed=0)
    held = sorted(int(i) for f in folds for i in f)
    assert held == list(range(10))  # every product is held out exactly once
    for f in folds:
        for g in {groups[skus[i]] for i in f}:  # a group is never split across folds
            assert all(groups[skus[i]] != g for other in folds if other is not f for i in other)
    plain = fold_products(skus, None, 5, seed=0)
    assert sorted(int(i) for f in plain for i in f) == list(range(10))
    assert [len(f) for f in plain] == [2] * 5


@pytest.mark.slow
def test_train_scores_held_out_products_and_writes_a_reproducible_bundle(tmp_path):
    from models.tools.train import Recipe, train_bundle

    products, queries = labelled_set(tmp_path / "data")
    recipe = Recipe(views=1, epochs=1, batch=8, freeze_blocks=14)
    report, bundle = train_bundle(
        products, queries, tmp_path / "b1", recipe=recipe, folds=3, group_by="kind", shots=(0, 1)
    )
    assert bundle is not None
    assert [s.shots for s in report.held_out] == [0, 1]
    zero = report.held_out[0]
    assert zero.queries == 6 * 3  # every shot of every product, each scored in its own fold
    assert 0 <= zero.base_r1 <= 1 and 0 <= zero.trained_r1 <= 1
    training = bundle.manifest.source["training"]
    assert training["recipe"]["freeze_blocks"] == 14 and training["folds_grouped_by"] == "kind"
    assert training["wins_on_held_out_products"] == report.wins

    # the bundle is a normal bundle: it loads, embeds and differs from the pretrained model
    loaded = load_bundle(str(tmp_path / "b1"))
    img = draw_product(3, 160)
    trained, base = ImageEmbedder.open(loaded.path, "fp32"), ImageEmbedder.open(None, "fp32")
    v = trained.embed([img])[0]
    assert v.shape == (1280,) and abs(float(np.linalg.norm(v)) - 1) < 1e-4
    assert float(v @ base.embed([img])[0]) < 0.99999
    trained.close()
    base.close()

    # same data, recipe and seed → the same figures and weights
    again, b2 = train_bundle(products, queries, tmp_path / "b2", recipe=recipe, folds=0)
    assert b2 is not None and again.held_out == []
    e2 = ImageEmbedder.open(tmp_path / "b2", "fp32")
    assert float(e2.embed([img])[0] @ v) > 0.9999
    e2.close()


def test_train_refuses_too_few_products_in_one_line(tmp_path):
    products, queries = labelled_set(tmp_path / "data", products=3, shots=1)
    out = CliRunner().invoke(
        cli, ["models", "train", "--products", str(products), "--queries", str(queries)]
    )
    assert out.exit_code == 2
    assert out.output.strip().splitlines()[-1] == (
        "error: training needs photos of at least 4 products (got 3)"
    )


def test_train_help_has_an_example():
    out = CliRunner().invoke(cli, ["models", "train", "--help"])
    assert out.exit_code == 0 and "--group-by subcategory" in out.output
