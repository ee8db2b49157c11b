"""Tuning knobs of the catalog, built once at start-up and passed down.

Defaults suit a kiosk catalog of up to a few hundred thousand reference images; every field can
be overridden from the environment with an ``AISLELENS_CATALOG_`` prefix, e.g.
``AISLELENS_CATALOG_HNSW_EF=200``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from .errors import CatalogError

ENV_PREFIX = "AISLELENS_CATALOG_"
_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class CatalogSettings:
    """Index, thumbnail and batching parameters."""

    #: below this many vectors the catalog is searched exactly with numpy (no HNSW file)
    exact_threshold: int = 10_000
    #: HNSW graph degree: more links, better recall, bigger index
    hnsw_m: int = 32
    #: candidate list size while building the graph
    hnsw_ef_construction: int = 200
    #: candidate list size while searching (raised to k when k is larger); 0: chosen from the
    #: graph's size (64 up to 100,000 vectors, 256 at 1,000,000: recall@10 >= 0.98 within 3 ms)
    hnsw_ef: int = 0
    #: the HNSW graph holds the vectors PCA-projected to this many dimensions (re-ranked with
    #: the full vectors at search); 0, or at least the vectors' width: no projection
    index_dim: int = 256
    #: the prototypes' HNSW graph (large catalogs with a store adaptation) holds only their
    #: first this many principal coordinates, and its candidates are re-ranked with the full
    #: prototypes; 0, or at least the adapted width: the whole prototypes
    proto_graph_dim: int = 128
    #: rebuild the HNSW graph from scratch once this share of its items is marked deleted
    rebuild_deleted_share: float = 0.2
    #: threads hnswlib may use while building (0: all usable CPUs)
    build_threads: int = 0
    #: longest side of the display thumbnails kept for catalog images
    thumbnail_size: int = 256
    thumbnail_quality: int = 85
    #: images embedded per model call, and per committed chunk (resumability granularity)
    batch_size: int = 16
    commit_every: int = 128
    #: threads decoding images while the model runs
    decode_workers: int = 2
    #: catalog photos, their synthetic views and query photos are preprocessed as the kiosk
    #: preprocesses camera frames (OpenCV, :meth:`models.preprocess.Preprocessor.fast`);
    #: False: the exact torchvision resampler, several milliseconds a photo more
    fast_preprocess: bool = True
    #: fit the store adaptation at the end of `index` once shots are enrolled
    #: (catalog/adaptation.py); 0: never (photo-by-photo search); 2: even without shots
    adapt: int = 1
    #: synthetic in-store views embedded per catalog photo (for the adaptation)
    adapt_views: int = 16
    #: at most this many products get synthetic views (a stable sample of larger catalogs)
    adapt_view_products: int = 2000
    #: shrinkage of the within-product covariance towards the identity
    adapt_shrinkage: float = 1.0
    #: the share of "We found it" answers that must be right, for the calibrated thresholds
    calibrate_target: float = 0.97
    #: days a removed product is kept for `catalog restore` (purged by a later write); 0: until
    #: the next write
    removed_keep_days: int = 30

    def __post_init__(self) -> None:
        if self.hnsw_m < 2 or self.hnsw_ef_construction < 1 or self.hnsw_ef < 0:
            raise CatalogError(
                "settings: hnsw_m must be >= 2, hnsw_ef_construction >= 1 and hnsw_ef >= 0"
            )
        if self.index_dim < 0 or self.proto_graph_dim < 0:
            raise CatalogError(
                "settings: index_dim and proto_graph_dim must be >= 0 (0: no projection)"
            )
        if not 0.0 < self.rebuild_deleted_share <= 1.0:
            raise CatalogError("settings: rebuild_deleted_share must be in (0, 1]")
        if self.adapt_views < 0 or self.adapt_view_products < 1 or self.adapt_shrinkage <= 0:
            raise CatalogError(
                "settings: adapt_views must be >= 0, adapt_view_products >= 1, adapt_shrinkage > 0"
            )
        if not 0.5 <= self.calibrate_target < 1.0:
            raise CatalogError("settings: calibrate_target must be in [0.5, 1)")
        if self.removed_keep_days < 0:
            raise CatalogError("settings: removed_keep_days must be >= 0")
        if self.batch_size < 1 or self.commit_every < 1 or self.thumbnail_size < 16:
            raise CatalogError("settings: batch_size, commit_every >= 1, thumbnail_size >= 16")

    def projected_dim(self, dim: int) -> int:
        """Width of the HNSW graph's vectors for ``dim``-d embeddings; 0: not projected."""
        return self.index_dim if 0 < self.index_dim < dim else 0

    def proto_graph_width(self, out_dim: int) -> int:
        """Width of the prototype graph's vectors for ``out_dim``-d prototypes."""
        return self.proto_graph_dim if 0 < self.proto_graph_dim < out_dim else out_dim

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> CatalogSettings:
        """Defaults, then ``AISLELENS_CATALOG_*`` variables, then ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            if f.type in ("bool", bool):
                flag = _FLAGS.get(raw.strip().lower())
                if flag is None:
                    raise CatalogError(
                        f"{ENV_PREFIX}{f.name.upper()}={raw!r}: expected 1 or 0 (true or false)"
                    )
                values[f.name] = flag
                continue
            kind = float if f.type in ("float", float) else int
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise CatalogError(
                    f"{ENV_PREFIX}{f.name.upper()}={raw!r}: expected a {kind.__name__}"
                ) from None
        values.update(overrides)
        return replace(cls(), **values)  # type: ignore[arg-type]
