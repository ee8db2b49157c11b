"""HnswIndex (plain and PCA-projected with re-rank) against its oracle ExactIndex: recall,
scores, deletion, filters, save and load."""

from __future__ import annotations

import numpy as np
import pytest

from bench.synthetic import clustered as synthetic_embeddings
from catalog import CatalogError, CatalogSettings, ExactIndex, IndexCorruptError, VectorIndex
from catalog.index_hnsw import HnswIndex, ef_for_size
from catalog.index_projected import PcaProjection, ProjectedIndex
from models import l2_normalize


def clustered(n: int, dim: int = 64, clusters: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    vecs = centres[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, dim))
    return l2_normalize(vecs)


def test_both_backends_satisfy_the_interface() -> None:
    assert isinstance(ExactIndex(8), VectorIndex)
    assert isinstance(HnswIndex(8), VectorIndex)


def test_exact_index_returns_true_neighbours_best_first() -> None:
    data = clustered(500)
    index = ExactIndex(64)
    index.add(data, np.arange(1000, 1500))
    labels, sims = index.search(data[:3], 5)
    assert labels[:, 0].tolist() == [1000, 1001, 1002]
    assert np.allclose(sims[:, 0], 1.0, atol=1e-5)
    assert np.all(np.diff(sims, axis=1) <= 1e-7)
    brute = data[:3] @ data.T
    assert np.allclose(sims, -np.sort(-brute, axis=1)[:, :5], atol=1e-5)


@pytest.mark.slow
def test_hnsw_recall_against_exact() -> None:
    data, queries = clustered(4000), clustered(200, seed=1)
    exact, hnsw = ExactIndex(64), HnswIndex(64, m=32, ef_construction=200, ef=128)
    labels = np.arange(4000)
    exact.add(data, labels)
    hnsw.add(data, labels)
    truth, _ = exact.search(queries, 10)
    found, sims = hnsw.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.95
    assert np.allclose(sims[:, 0], (queries * data[found[:, 0]]).sum(axis=1), atol=1e-4)


@pytest.mark.slow
def test_deleted_items_are_never_returned_and_slots_are_reused() -> None:
    data = clustered(300)
    index = HnswIndex(64, m=8, ef_construction=50, ef=50, capacity=300)
    index.add(data, np.arange(300))
    index.mark_deleted(range(0, 100))
    assert len(index) == 200 and index.deleted_count == 100
    labels, _ = index.search(data[:100], 5)
    assert labels.min() >= 100
    index.add(clustered(50, seed=3), np.arange(1000, 1050))  # reuses deleted slots
    assert index.deleted_count == 50 and len(index) == 250
    assert index._index.get_max_elements() == 300
    assert set(index.labels().tolist()) == set(range(100, 300)) | set(range(1000, 1050))


def test_filters_restrict_results(tmp_path) -> None:
    data = clustered(6000)
    for index in (ExactIndex(64), HnswIndex(64, m=16, ef_construction=80, ef=64)):
        index.add(data, np.arange(6000))
        few = np.arange(0, 6000, 97)  # small: searched exactly
        labels, _ = index.search(data[5:6], 5, allowed=few)
        assert set(labels.ravel()) <= set(few.tolist()) and labels.shape == (1, 5)
        many = np.arange(0, 6000, 2)  # large: hnswlib filter callback
        labels, _ = index.search(data[5:6], 5, allowed=many)
        assert set(labels.ravel()) <= set(many.tolist()) and labels.shape[1] == 5


@pytest.mark.slow
def test_save_load_keeps_items_deletions_and_sets_ef_again(tmp_path) -> None:
    data = clustered(1000)
    index = HnswIndex(64, m=16, ef_construction=80, ef=77)
    index.add(data, np.arange(1000))
    index.mark_deleted([1, 2, 3])
    index.save(tmp_path / "i.hnsw")
    loaded = HnswIndex.load(tmp_path / "i.hnsw", 64, deleted=index.deleted, ef=77)
    assert loaded._index.ef == 77  # hnswlib's load_index resets it
    assert len(loaded) == 997 and loaded.deleted_count == 3
    a, _ = index.search(data[:20], 5)
    b, _ = loaded.search(data[:20], 5)
    assert np.array_equal(a, b)
    exact = ExactIndex(64)
    exact.add(data, np.arange(1000))
    exact.save(tmp_path / "e.npz")
    assert np.array_equal(ExactIndex.load(tmp_path / "e.npz").labels(), np.arange(1000))


def test_default_ef_grows_with_the_catalog_as_the_sweep_chose() -> None:
    assert CatalogSettings().hnsw_ef == 0  # the default: chosen from the graph's size
    assert [ef_for_size(n) for n in (10, 100_000, 300_000, 1_000_000, 5_000_000)] == [
        64,
        64,
        124,
        256,
        256,
    ]
    data = clustered(1000)
    index = HnswIndex(64, m=16, ef_construction=80, ef=0)
    index.add(data, np.arange(1000))
    index.search(data[:1], 5)
    assert index._index.ef == 64
    index.search(data[:1], 100)  # never below k
    assert index._index.ef == 100
    index.search(data[:1], 5)
    assert index._index.ef == 64


def test_a_negative_ef_setting_is_refused() -> None:
    with pytest.raises(CatalogError, match="hnsw_ef >= 0"):
        CatalogSettings(hnsw_ef=-1)


def test_k_larger_than_the_index_returns_what_exists() -> None:
    data = clustered(3)
    for index in (ExactIndex(64), HnswIndex(64)):
        index.add(data, np.array([7, 8, 9]))
        labels, _ = index.search(data[0], 10)
        assert labels.shape == (1, 3) and labels[0, 0] == 7


def test_wrong_dimension_is_a_bundle_mismatch() -> None:
    from catalog import BundleMismatchError

    index = ExactIndex(64)
    index.add(clustered(5), np.arange(5))
    with pytest.raises(BundleMismatchError, match="64-d"):
        index.search(np.zeros(32, np.float32), 1)


# -- the projected index: PCA-projected graph, exact re-rank with the full vectors ---------------
def _projected(gallery: np.ndarray, index_dim: int, **hnsw) -> ProjectedIndex:
    projection = PcaProjection.fit(gallery, index_dim)
    graph = HnswIndex(index_dim, capacity=len(gallery), **hnsw)
    index = ProjectedIndex(graph, projection, lambda ids: (ids, gallery[ids]))
    index.add(gallery, np.arange(len(gallery)))
    return index


@pytest.mark.slow
def test_projected_hnsw_recall_and_scores_match_exact_search() -> None:
    gallery, _, queries = synthetic_embeddings(20_000, 200, seed=3)  # 1280-d, clustered
    exact = ExactIndex.from_arrays(gallery, np.arange(len(gallery)))
    index = _projected(gallery, 256, m=16, ef_construction=100, ef=64)
    assert isinstance(index, VectorIndex) and index.dim == 1280 and index.index_dim == 256
    truth, true_sims = exact.search(queries, 10)
    found, sims = index.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.98
    # scores are the true cosine similarities of the original vectors, best first
    assert np.allclose(sims, np.einsum("qd,qkd->qk", queries, gallery[found]), atol=1e-5)
    assert np.all(np.diff(sims, axis=1) <= 1e-7)
    same = (found == truth).all(axis=1)
    assert same.mean() >= 0.9 and np.allclose(sims[same], true_sims[same], atol=1e-5)


@pytest.mark.slow
def test_projected_index_filters_deletions_and_missing_vectors() -> None:
    gallery, _, queries = synthetic_embeddings(6000, 5, seed=4)
    index = _projected(gallery, 64, m=16, ef_construction=80, ef=64)
    exact = ExactIndex.from_arrays(gallery, np.arange(6000))
    for allowed in (np.arange(0, 6000, 97), np.arange(0, 6000, 2)):  # exact path, graph filter
        labels, sims = index.search(queries, 5, allowed=allowed)
        assert set(labels.ravel()) <= set(allowed.tolist()) and labels.shape == (5, 5)
        _, want_sims = exact.search(queries, 5, allowed=allowed)
        assert np.allclose(sims, want_sims, atol=1e-5)
    top = int(index.search(queries[:1], 1)[0][0, 0])
    index.mark_deleted([top])
    assert top not in index.search(queries[:1], 10)[0]
    gone = index.search(queries[:1], 3)[0][0]  # say, deleted from SQLite since the index

    def still_stored(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = ids[~np.isin(ids, gone)]
        return ids, gallery[ids]

    index.full_vectors = still_stored
    labels, _ = index.search(queries[:1], 10)
    assert labels.shape == (1, 10) and not set(gone.tolist()) & set(labels[0].tolist())
    index.full_vectors = None
    with pytest.raises(CatalogError, match="full vectors"):
        index.search(queries, 1)


@pytest.mark.slow
def test_projection_is_deterministic_and_saved_exactly(tmp_path) -> None:
    gallery, _, _ = synthetic_embeddings(3000, 1, seed=5)
    a, b = PcaProjection.fit(gallery, 32, sample=1000), PcaProjection.fit(gallery, 32, sample=1000)
    assert np.array_equal(a.components, b.components) and a.components.dtype == np.float32
    assert np.allclose(a.components @ a.components.T, np.eye(32), atol=1e-4)
    assert np.allclose(np.linalg.norm(a.project(gallery[:10]), axis=1), 1.0, atol=1e-5)
    a.save(tmp_path / "p.pca")
    loaded = PcaProjection.load(tmp_path / "p.pca", 1280, 32)
    assert np.array_equal(loaded.mean, a.mean) and np.array_equal(loaded.components, a.components)
    with pytest.raises(IndexCorruptError):
        PcaProjection.load(tmp_path / "p.pca", 1280, 16)
    (tmp_path / "p.pca").write_bytes(b"not a projection")
    with pytest.raises(IndexCorruptError):
        PcaProjection.load(tmp_path / "p.pca", 1280, 32)
    tiny = PcaProjection.fit(gallery[:5], 32)  # fewer vectors than dimensions: still 32
    assert tiny.index_dim == 32
