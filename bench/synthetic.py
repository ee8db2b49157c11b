"""Synthetic image embeddings clustered like real ones, for index benchmarks.

Real EfficientNet-Lite0 embeddings of shop photos (the grocery dev set) are non-negative,
L2-normalised, share a strong common direction (mean cosine between different products ≈ 0.37,
within a product ≈ 0.68) and have a low effective rank (half the variance in ~11 of 1280
directions). This generator reproduces those statistics with a hierarchy: a common mean,
category centres, product centres and per-image variation in a power-law spectrum subspace,
then a ReLU and normalisation. It is uniform noise's opposite: neighbours are crowded, which
is what makes approximate search hard.
"""

from __future__ import annotations

import numpy as np

RANK = 256  # latent directions
ALPHA = 0.5  # power-law decay of their scale


class EmbeddingModel:
    """A fixed random 'world' of categories and products; draw any number of images of it."""

    def __init__(
        self, dim: int = 1280, products: int = 25_000, categories: int = 200, seed: int = 0
    ) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        basis = rng.standard_normal((RANK, dim)).astype(np.float32) / np.sqrt(dim)
        spectrum = np.arange(1, RANK + 1, dtype=np.float32) ** -ALPHA
        self.basis = (basis * spectrum[:, None]).astype(np.float32)
        self.mean = np.abs(rng.standard_normal(dim)).astype(np.float32) * 0.02
        cat = rng.standard_normal((categories, RANK)).astype(np.float32) * 1.0
        owner = rng.integers(0, categories, products)
        self.products = cat[owner] + rng.standard_normal((products, RANK)).astype(np.float32) * 0.8
        self.category_of = owner

    def images(self, product_ids: np.ndarray, seed: int) -> np.ndarray:
        """L2-normalised float32 vectors of new images of these products."""
        rng = np.random.default_rng(seed)
        latent = (
            self.products[product_ids]
            + rng.standard_normal((len(product_ids), RANK)).astype(np.float32) * 1.1
        )
        x = self.mean + latent @ self.basis
        x += rng.standard_normal(x.shape).astype(np.float32) * 0.012
        np.maximum(x, 0, out=x)
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x


def clustered(
    n: int,
    queries: int = 1000,
    *,
    dim: int = 1280,
    images_per_product: int = 4,
    seed: int = 0,
    chunk: int = 50_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gallery [n, dim], gallery product ids [n], queries [q, dim]): the gallery holds
    ``images_per_product`` images of each product; queries are new images of random products."""
    products = max(1, n // images_per_product)
    world = EmbeddingModel(dim, products, categories=max(10, products // 125), seed=seed)
    ids = np.repeat(np.arange(products), images_per_product)[:n]
    if len(ids) < n:
        ids = np.concatenate([ids, np.arange(n - len(ids)) % products])
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        out[start : start + chunk] = world.images(ids[start : start + chunk], seed + 1 + start)
    rng = np.random.default_rng(seed + 7)
    q = world.images(rng.integers(0, products, queries), seed + 99)
    return out, ids, q


def statistics(vectors: np.ndarray, product_ids: np.ndarray, sample: int = 2000) -> dict:
    """The figures the generator is tuned to (compare with real embeddings)."""
    rng = np.random.default_rng(0)
    pick = rng.choice(len(vectors), min(sample, len(vectors)), replace=False)
    v, p = vectors[pick], product_ids[pick]
    s = v @ v.T
    iu = np.triu_indices(len(v), 1)
    same = (p[:, None] == p[None, :])[iu]
    var = np.linalg.svd(v - v.mean(0), compute_uv=False) ** 2
    var /= var.sum()
    return {
        "cos_same_product": float(s[iu][same].mean()) if same.any() else float("nan"),
        "cos_different": float(s[iu][~same].mean()),
        "dims_for_half_variance": int(np.searchsorted(np.cumsum(var), 0.5)) + 1,
        "nonnegative": float((v >= 0).mean()),
    }
