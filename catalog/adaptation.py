"""Store adaptation: what a store's own photos teach the search, fitted by ``catalog index``.

A frozen ImageNet model puts two photos of one product far apart when the light, the angle or
the background differ, and two look-alike products close together. The store's own photos say
which directions of the embedding space are such nuisance: the spread of one product's photos
(its catalog photo, synthetic in-store views of it (:mod:`catalog.augment`) and the shots staff
enrolled). The adaptation is

- a *shrunk within-class whitening* ``z = normalise((x − mean) · A)``: ``A`` scales down the
  directions in which one product's photos vary (``(S_w + λ·mean(eig) I)^-½`` with ``S_w`` the
  pooled within-product covariance), so that what tells products apart counts more; above
  ``exact_threshold`` products the whitened space is then cut to its ``index_dim`` leading
  principal components, to keep the kiosk's memory flat (whitening first: cutting the raw
  space first kept the directions the photos vary most in, which are mostly nuisance, and on
  the development set the calibration could then never say "We found it");
- one *prototype* per product in that space: the normalised sum of its catalog photos, its
  enrolled shots and the mean of its synthetic views.

A scan is embedded, transformed (one ``d × r`` product, well under a millisecond) and compared
with the prototypes, so the per-scan cost grows with the number of products only as the index
search does. Measured on the grocery development set (``bench/bench_recognition.py``), this
lifts Recall@1 with five enrolled shots from about 0.49 (best single photo) to about 0.71.
Nothing is trained on any product but the store's own, so it holds for a store's new products.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: shrinkage of the within-class covariance towards a multiple of the identity (λ above):
#: chosen on half of the development set's products, checked on the other half
DEFAULT_SHRINKAGE = 1.0
#: synthetic views of each catalog photo
DEFAULT_VIEWS = 16


def l2n(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class ProductVectors:
    """One product's raw embeddings, by where they came from."""

    product_id: int
    catalog: np.ndarray  # [n, d] catalog photos
    enrolled: np.ndarray  # [n, d] in-store shots staff enrolled
    views: np.ndarray  # [n, d] synthetic views of the catalog photos (may be empty)

    def all(self) -> np.ndarray:
        return np.concatenate([self.catalog, self.enrolled, self.views])


@dataclass(frozen=True)
class Adaptation:
    """``z = normalise((x − mean) @ matrix)``: the store's adapted space."""

    mean: np.ndarray  # [d]
    matrix: np.ndarray  # [d, r]

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def out_dim(self) -> int:
        return int(self.matrix.shape[1])

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return l2n((x - self.mean) @ self.matrix)

    def prototype_sum(self, p: ProductVectors) -> np.ndarray:
        """The unnormalised prototype of a product (sum of its photos, plus its views' mean)."""
        total = np.zeros(self.out_dim, np.float32)
        for part in (p.catalog, p.enrolled):
            if len(part):
                total += self.transform(part).sum(axis=0)
        if len(p.views):
            total += self.transform(p.views).mean(axis=0)
        return total


#: the statistics are estimated on at most this many products (a seeded sample): they settle
#: long before that, and the fit's cost stays a few seconds however large the catalog
FIT_PRODUCTS = 5000


def fit_adaptation(
    products: Iterable[ProductVectors],
    *,
    shrinkage: float = DEFAULT_SHRINKAGE,
    out_dim: int = 0,
    chunk: int = 8192,
    max_products: int = FIT_PRODUCTS,
    seed: int = 0,
) -> Adaptation:
    """Fit the adaptation on the store's products.

    ``out_dim`` (0: keep every dimension) cuts the whitened space to that many principal
    components of the store's whitened photos."""
    products = list(products)
    if not products:
        raise ValueError("no product vectors to fit an adaptation on")
    if len(products) > max_products:
        pick = np.random.default_rng(seed).choice(len(products), max_products, replace=False)
        products = [products[i] for i in np.sort(pick)]
    d = products[0].catalog.shape[1] if len(products[0].catalog) else products[0].all().shape[1]
    total = np.zeros(d, np.float64)
    count = 0
    for p in products:
        v = p.all()
        total += v.sum(axis=0)
        count += len(v)
    mean = total / max(count, 1)

    def centred(p: ProductVectors) -> np.ndarray:
        v = p.all().astype(np.float32)
        return v - v.mean(axis=0) if len(v) >= 2 else v[:0]

    within = np.zeros((d, d))
    n_within = 0
    for block in _blocks(products, chunk, centred):  # one product of matrices per block
        within += (block.T @ block).astype(np.float64)
        n_within += len(block)
    if n_within == 0:  # no product has two photos: nothing to learn, plain centring
        matrix = np.eye(d)
    else:
        eig, vecs = np.linalg.eigh(within / n_within)
        eig = np.maximum(eig, 0.0)
        ridge = shrinkage * max(float(eig.mean()), 1e-12)
        matrix = vecs @ np.diag(1.0 / np.sqrt(eig + ridge)) @ vecs.T
    if 0 < out_dim < d:  # the leading principal axes of the whitened photos
        scatter = np.zeros((d, d))
        whiten = matrix.astype(np.float32)
        for block in _blocks(
            products, chunk, lambda p: (p.all() - mean).astype(np.float32) @ whiten
        ):
            scatter += (block.T @ block).astype(np.float64)
        _, vecs = np.linalg.eigh(scatter / max(count, 1))
        matrix = matrix @ vecs[:, ::-1][:, :out_dim]
    return Adaptation(mean.astype(np.float32), matrix.astype(np.float32))


def _blocks(products: list[ProductVectors], chunk: int, fn) -> Iterable[np.ndarray]:
    rows: list[np.ndarray] = []
    n = 0
    for p in products:
        rows.append(fn(p))
        n += len(rows[-1])
        if n >= chunk:
            yield np.concatenate(rows)
            rows, n = [], 0
    if rows:
        yield np.concatenate(rows)


def prototypes(adaptation: Adaptation, products: Iterable[ProductVectors]) -> np.ndarray:
    """[n_products, r] normalised prototypes, in the order given."""
    return l2n(np.stack([adaptation.prototype_sum(p) for p in products]))
