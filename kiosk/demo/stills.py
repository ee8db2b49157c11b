"""Single demo frames on demand: one product held up, two products at once, an empty counter.

For tests, screenshots and benchmarks that need a known picture in front of the camera.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import scenes
from .products import DEMO_PRODUCTS, DemoProduct

_BY_SKU: dict[str, DemoProduct] = {d.product.sku: d for d in DEMO_PRODUCTS}


def product_frame(sku: str, seed: int = 0, **shot: Any) -> np.ndarray:
    """A 640 × 480 frame of demo product ``sku`` held up in a random pose (``shot`` overrides
    :class:`kiosk.demo.scenes.Shot` fields, e.g. ``hand=-1`` or ``gain=0.2``)."""
    rng = np.random.default_rng(seed)
    base = scenes.random_shot(sku, 1, rng)
    spec = scenes.Shot(**{**base.__dict__, **shot})
    return scenes.render(spec, 0, _BY_SKU[sku].draw(), scenes.background(seed), rng)


def pair_frame(sku_a: str, sku_b: str, seed: int = 0) -> np.ndarray:
    """Two products side by side inside the guide: the model cannot be sure which is meant."""
    rng = np.random.default_rng(seed)
    bg = scenes.background(seed)
    left = scenes.Shot(sku_a, 1, scale=0.62, offset=(-95.0, 0.0), angle=-6.0)
    right = scenes.Shot(sku_b, 1, scale=0.62, offset=(95.0, 0.0), angle=6.0)
    first = scenes.render(left, 0, _BY_SKU[sku_a].draw(), bg, rng, still=True)
    return scenes.render(right, 0, _BY_SKU[sku_b].draw(), first, rng)


def empty_frame(seed: int = 0) -> np.ndarray:
    """The counter with nothing held up."""
    rng = np.random.default_rng(seed)
    return scenes.render(scenes.Shot(None, 1), 0, None, scenes.background(seed), rng)
