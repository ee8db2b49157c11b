"""The store adaptation: fitted by `index`, searched by the finder, calibrated, kept in step."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import numpy as np
import pytest
from catalog_images import shop_photo
from click.testing import CliRunner

from catalog import (
    CatalogSettings,
    EnrollItem,
    check_catalog,
    enroll_images,
    import_products,
    index_catalog,
    open_finder,
    remove_products,
)
from catalog.adaptation import Adaptation, ProductVectors, fit_adaptation, l2n, prototypes
from catalog.adapter import _principal_axes, proto_graph_path
from catalog.calibration import Samples, choose_thresholds
from catalog.index_hnsw import HnswIndex
from catalog.index_projected import PcaProjection, ProjectedIndex
from kiosk.cli import cli


def _clustered(seed: int = 0):
    """Products that differ a little along some directions, photos that vary a lot along
    others (light, angle): the nuisance a frozen model puts into its embeddings."""
    rng = np.random.default_rng(seed)
    d, n = 64, 30
    nuisance = np.linalg.qr(rng.normal(size=(d, 6)))[0].T  # 6 shared directions
    centres = rng.normal(size=(n, d)) * 0.3

    def photos(j: int, count: int) -> np.ndarray:
        x = (
            centres[j]
            + rng.normal(size=(count, 6)) @ nuisance * 3
            + rng.normal(size=(count, d)) * 0.1
        )
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    products = [ProductVectors(j, photos(j, 1), photos(j, 3), photos(j, 8)) for j in range(n)]
    queries = [(j, photos(j, 1)[0]) for j in range(n) for _ in range(5)]
    return products, queries


def test_whitening_suppresses_what_varies_within_a_product():
    products, queries = _clustered()
    adaptation = fit_adaptation(products)
    protos = prototypes(adaptation, products)
    adapted = np.mean(
        [np.argmax(protos @ adaptation.transform(q[None])[0]) == j for j, q in queries]
    )
    refs = [(p.product_id, v) for p in products for v in np.concatenate([p.catalog, p.enrolled])]
    raw = np.mean([max(refs, key=lambda r, q=q: float(r[1] @ q))[0] == j for j, q in queries])
    assert adapted >= raw + 0.2, (adapted, raw)
    # cut to fewer dimensions it still works, and the transform is what the finder applies
    small = fit_adaptation(products, out_dim=16)
    assert small.out_dim == 16 and small.transform(queries[0][1][None]).shape == (1, 16)
    assert np.allclose(np.linalg.norm(small.transform(products[0].views), axis=1), 1.0)
    # the cut keeps what tells products apart, not the nuisance the photos vary most in (six
    # directions here: cutting the raw space to 16 first kept them, 0.32 right; this 0.79, of
    # the 30 products' 64-d differences in 16 dimensions)
    small_protos = prototypes(small, products)
    cut = np.mean([np.argmax(small_protos @ small.transform(q[None])[0]) == j for j, q in queries])
    assert cut >= raw + 0.5, (cut, adapted, raw)


def test_thresholds_reach_the_target_precision_or_never_say_found():
    rng = np.random.default_rng(1)
    margin = rng.uniform(0, 0.4, 400)
    correct = rng.uniform(0, 0.4, 400) < margin + 0.05  # the larger the margin, the likelier right
    samples = Samples(rng.uniform(0.2, 0.8, 400), margin, correct, correct | (margin > 0.1), "t")
    t = choose_thresholds(samples, 0.95)
    shown = samples.margin >= t.confident_margin
    assert samples.correct[shown].mean() >= 0.95 and 0.1 < shown.mean() < 0.9
    assert t.measured["found_share"] == pytest.approx(shown.mean(), abs=0.01)
    assert t.min_score < np.quantile(samples.score, 0.01)
    few = Samples(samples.score[:10], samples.margin[:10], samples.correct[:10], correct[:10], "t")
    assert choose_thresholds(few, 0.95).confident_margin > 1.0  # too few scans: never "found"


def test_index_fits_it_and_the_finder_searches_prototypes(adapted, tmp_path, fake_embedder):
    finder = open_finder(adapted, bundle_id=fake_embedder.model_id)
    assert finder.adaptation is not None and len(finder) == 8  # one prototype per product
    assert finder.decision_thresholds.source.startswith("calibrated: cross-validation")
    photo = fake_embedder.embed([str(tmp_path / "shop" / "images" / "p5.jpg")])[0]
    result = finder.search_vector(photo, k=3)
    assert result.matches[0].product.sku == "S5" and len(result.matches) == 3
    one = finder.search_vector(photo, k=1)  # the margin is to the runner-up all the same
    assert len(one.matches) == 1 and one.margin == pytest.approx(result.margin)
    assert [m.product.sku for m in finder.similar("S5", k=3)] != [] and all(
        m.product.sku != "S5" for m in finder.similar("S5", k=3)
    )
    only = finder.search_vector(photo, k=3, category=result.matches[1].product.category)
    assert {m.product.category for m in only.matches} == {result.matches[1].product.category}
    version = finder.catalog_version
    finder.close()
    # unchanged catalog: nothing refitted, no views embedded again
    again = index_catalog(adapted, fake_embedder, settings=CatalogSettings(adapt_views=4))
    assert again.adaptation is not None and again.adaptation.action == "unchanged"
    # a new enrolled shot makes the stored adaptation stale until `index` refits it
    enroll_images(adapted, [EnrollItem("S2", tmp_path / "s5_0.jpg")])
    index_catalog(adapted, fake_embedder, settings=CatalogSettings(adapt_views=4))
    finder = open_finder(adapted, bundle_id=fake_embedder.model_id)
    assert finder.adaptation is not None and finder.catalog_version != version
    finder.close()
    # removing products refits on what is left, without a model
    remove_products(adapted, ["S0", "S1"])
    finder = open_finder(adapted, bundle_id=fake_embedder.model_id)
    assert finder.adaptation is not None and len(finder) == 6
    finder.close()


def test_turning_it_off_is_noticed_by_a_running_kiosk(adapted, fake_embedder):
    before = open_finder(adapted).catalog_version
    report = index_catalog(adapted, fake_embedder, settings=CatalogSettings(adapt=0))
    assert report.adaptation is not None and report.adaptation.action == "off"
    finder = open_finder(adapted)
    assert finder.adaptation is None and finder.catalog_version != before
    finder.close()


def test_a_stale_adaptation_is_not_used(adapted, tmp_path, fake_embedder):
    enroll_images(adapted, [EnrollItem("S3", tmp_path / "s4_1.jpg")])
    index_catalog(adapted, fake_embedder, settings=CatalogSettings(adapt=0, adapt_views=4))
    finder = open_finder(adapted, bundle_id=fake_embedder.model_id)
    assert finder.adaptation is None and finder.decision_thresholds.source == "default"
    finder.close()


def test_without_enrolled_shots_products_are_searched_photo_by_photo(shop, tmp_path, fake_embedder):
    db = tmp_path / "store.db"
    import_products(db, shop(5))
    report = index_catalog(db, fake_embedder)
    assert report.adaptation is not None and "no enrolled shots" in report.adaptation.action
    finder = open_finder(db, bundle_id=fake_embedder.model_id)
    assert finder.adaptation is None and finder.decision_thresholds.source == "default"
    finder.close()


def test_large_catalogs_get_a_checked_prototype_graph(shop, tmp_path, fake_embedder, write_image):
    db = tmp_path / "store.db"
    import_products(db, shop(12))
    enroll_images(db, [EnrollItem("S1", write_image(tmp_path / "s.jpg", shop_photo(1, 0)))])
    settings = CatalogSettings(exact_threshold=4, adapt_views=3, index_dim=32, hnsw_m=8)
    index_catalog(db, fake_embedder, settings=settings)
    graph = proto_graph_path(db)
    assert graph.exists()
    finder = open_finder(db, bundle_id=fake_embedder.model_id, settings=settings)
    assert finder.index_kind == "adapted prototypes (hnsw)"
    assert finder.adaptation is not None and finder.adaptation.adaptation.out_dim == 32
    photo = fake_embedder.embed([str(tmp_path / "shop" / "images" / "p7.jpg")])[0]
    assert finder.search_vector(photo, k=2).matches[0].product.sku == "S7"
    finder.close()
    graph.write_bytes(graph.read_bytes()[:-100])  # damaged: searched exactly, still right
    finder = open_finder(db, bundle_id=fake_embedder.model_id, settings=settings)
    assert finder.index_kind == "adapted prototypes (exact)"
    assert finder.search_vector(photo, k=2).matches[0].product.sku == "S7"
    finder.close()
    report = check_catalog(db, settings)  # check says so, and index writes it again
    assert any("prototype graph" in p and "catalog index" in p for p in report.problems)
    index_catalog(db, fake_embedder, settings=settings)
    assert check_catalog(db, settings).ok
    finder = open_finder(db, bundle_id=fake_embedder.model_id, settings=settings)
    assert finder.index_kind == "adapted prototypes (hnsw)"
    finder.close()


def test_a_narrow_prototype_graph_ranks_and_scores_like_the_whole_prototypes(
    shop, tmp_path, fake_embedder, write_image
):
    finders = {}
    for width in (8, 0):  # 8 of the 32 adapted coordinates in the graph, or all of them
        db = tmp_path / f"w{width}" / "store.db"
        db.parent.mkdir()
        import_products(db, shop(12))
        shot = write_image(tmp_path / "s.jpg", shop_photo(1, 0))
        enroll_images(db, [EnrollItem("S1", shot)])
        settings = CatalogSettings(
            exact_threshold=4, adapt_views=3, index_dim=32, hnsw_m=8, proto_graph_dim=width
        )
        index_catalog(db, fake_embedder, settings=settings)
        finders[width] = open_finder(db, bundle_id=fake_embedder.model_id, settings=settings)
    narrow, whole = finders[8], finders[0]
    assert narrow.adaptation is not None and narrow.adaptation.graph_dim == 8
    assert whole.adaptation is not None and whole.adaptation.graph_dim == 32
    assert narrow.index_kind == whole.index_kind == "adapted prototypes (hnsw)"
    for i in (1, 4, 7, 11):
        photo = fake_embedder.embed([str(tmp_path / "shop" / "images" / f"p{i}.jpg")])[0]
        a, b = narrow.search_vector(photo, k=5), whole.search_vector(photo, k=5)
        assert a.matches[0].product.sku == f"S{i}"
        assert [m.product.sku for m in a.matches] == [m.product.sku for m in b.matches]
        assert np.allclose([m.score for m in a.matches], [m.score for m in b.matches], atol=1e-5)
    for finder in finders.values():
        finder.close()


def test_catalogs_fitted_before_narrow_graphs_load_their_whole_width_graph(
    shop, tmp_path, fake_embedder, write_image
):
    db = tmp_path / "store.db"
    import_products(db, shop(12))
    enroll_images(db, [EnrollItem("S1", write_image(tmp_path / "s.jpg", shop_photo(1, 0)))])
    settings = CatalogSettings(exact_threshold=4, adapt_views=3, index_dim=32, hnsw_m=8)
    index_catalog(db, fake_embedder, settings=dataclasses.replace(settings, proto_graph_dim=0))
    with sqlite3.connect(db) as conn:  # the params an earlier release wrote: no graph_dim
        params = json.loads(conn.execute("SELECT params FROM adaptation").fetchone()[0])
        del params["graph_dim"], params["fit"]["proto_graph_dim"], params["fit"]["method"]
        conn.execute("UPDATE adaptation SET params = ?", [json.dumps(params)])
    finder = open_finder(db, bundle_id=fake_embedder.model_id, settings=settings)
    assert finder.adaptation is not None and finder.adaptation.graph_dim == 32
    assert finder.index_kind == "adapted prototypes (hnsw)"
    photo = fake_embedder.embed([str(tmp_path / "shop" / "images" / "p7.jpg")])[0]
    assert finder.search_vector(photo, k=2).matches[0].product.sku == "S7"
    finder.close()
    report = index_catalog(db, fake_embedder, settings=settings)  # refitted to the new width
    assert report.adaptation is not None and report.adaptation.action == "fitted"
    finder = open_finder(db, bundle_id=fake_embedder.model_id, settings=settings)
    assert finder.adaptation is not None and finder.adaptation.graph_dim == 32  # 128 >= 32
    finder.close()


def test_principal_axes_keep_the_neighbours_of_a_half_width_graph():
    rng = np.random.default_rng(3)
    d, n = 64, 3000
    scales = 1.0 / np.sqrt(1 + np.arange(d))  # a decaying spectrum, as embeddings have
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    protos = l2n((rng.normal(size=(n, d)) * scales) @ basis).astype(np.float32)
    adaptation = Adaptation(np.zeros(d, np.float32), np.eye(d, dtype=np.float32))
    rotated_adaptation, rotated = _principal_axes(adaptation, protos)
    assert np.allclose(rotated @ rotated.T, protos @ protos.T, atol=1e-5)  # cosines kept
    ids = np.arange(n, dtype=np.int64)
    graph = HnswIndex(d // 2, m=16, ef_construction=100, ef=64, capacity=n)
    graph.add(l2n(rotated[:, : d // 2]), ids)
    leading = PcaProjection(np.zeros(d, np.float32), np.eye(d, dtype=np.float32)[: d // 2])
    index = ProjectedIndex(graph, leading, lambda labels: (labels, rotated[labels]))
    queries = l2n(protos[:200] + rng.normal(size=(200, d)).astype(np.float32) * 0.05)
    found, _ = index.search(rotated_adaptation.transform(queries), 10)
    truth = np.argsort(-(queries @ protos.T), axis=1)[:, :10]
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.98, recall


@pytest.mark.slow
def test_calibrate_and_eval_decisions_from_the_command_line(adapted, tmp_path):
    queries = tmp_path / "queries.csv"
    queries.write_text(
        "image,sku\n" + "".join(f"s{i}_{k}.jpg,S{i}\n" for i in range(8) for k in range(3))
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["catalog", "eval", "--db", str(adapted), str(queries), "--json"])
    assert result.exit_code == 0, result.output
    decisions = json.loads(result.stdout)["decisions"]  # progress is on stderr
    n = decisions["found"]["n"] + decisions["not_sure"]["n"] + decisions["no_match"]["n"]
    assert n == 24 and decisions["found"]["correct"] <= decisions["found"]["n"]
    assert decisions["thresholds"]["source"].startswith("calibrated")
    before = open_finder(adapted).catalog_version
    result = runner.invoke(
        cli, ["catalog", "calibrate", "--db", str(adapted), str(queries), "--target", "0.9"]
    )
    assert result.exit_code == 0, result.output
    assert "labelled photos (queries.csv)" in result.output
    finder = open_finder(adapted)
    assert "queries.csv" in finder.decision_thresholds.source
    assert finder.catalog_version != before  # the kiosk notices and reopens
    finder.close()
    unusable = tmp_path / "unusable.csv"
    unusable.write_text("image,sku\nmissing.jpg,S1\n")
    refused = runner.invoke(cli, ["catalog", "calibrate", "--db", str(adapted), str(unusable)])
    assert refused.exit_code == 2 and "thresholds are unchanged" in refused.output
    kept = open_finder(adapted)
    assert "queries.csv" in kept.decision_thresholds.source
    kept.close()
    text = runner.invoke(cli, ["catalog", "eval", "--db", str(adapted), str(queries)])
    assert "We found it" in text.output and "Is it one of these?" in text.output
