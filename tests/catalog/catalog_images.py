"""Synthetic product photos drawn with OpenCV, for the catalog tests (imported by name:
``from catalog_images import draw_product``)."""

from __future__ import annotations

import cv2
import numpy as np


def draw_product(seed: int, size: int = 320) -> np.ndarray:
    """A distinctive 'packshot': a two-colour texture (stripes, checks, waves or blotches), a
    big shape and a label, all chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    c1, c2 = rng.integers(0, 256, (2, 3)).astype(np.float32)
    freq, angle = float(rng.uniform(3, 14)), float(rng.uniform(0, np.pi))
    kind = seed % 4
    if kind == 0:
        t = (np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle))) > 0) * 1.0
    elif kind == 1:
        t = (np.floor(xx * freq) + np.floor(yy * freq)) % 2
    elif kind == 2:
        t = 0.5 + 0.25 * (
            np.sin(2 * np.pi * freq * xx + rng.uniform(0, 6))
            + np.sin(2 * np.pi * freq * 0.7 * yy * np.cos(angle))
        )
    else:
        cells = max(2, int(freq))
        t = cv2.resize(
            rng.random((cells, cells)).astype(np.float32),
            (size, size),
            interpolation=cv2.INTER_CUBIC,
        ).clip(0, 1)
    t = t.astype(np.float32)[..., None]
    img = np.ascontiguousarray((t * c1 + (1 - t) * c2).astype(np.uint8))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    if rng.random() < 0.5:
        cv2.circle(img, (size // 2, size // 2), int(rng.integers(size // 6, size // 3)), colour, -1)
    else:
        pts = rng.integers(size // 5, size * 4 // 5, (int(rng.integers(3, 7)), 2))
        cv2.fillPoly(img, [pts.astype(np.int32)], colour)
    cv2.putText(
        img,
        f"P{seed}",
        (size // 5, size * 3 // 4),
        cv2.FONT_HERSHEY_SIMPLEX,
        size / 160,
        (255, 255, 255),
        max(1, size // 80),
    )
    return img


def shop_photo(seed: int, variant: int = 1) -> np.ndarray:
    """A 'shelf photo' of product ``seed``: a little rotated, zoomed, darker and noisier."""
    rng = np.random.default_rng(10_000 + seed * 31 + variant)
    img = draw_product(seed)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(
        (w / 2, h / 2), float(rng.uniform(-5, 5)), float(rng.uniform(1.05, 1.2))
    )
    m[:, 2] += rng.uniform(-10, 10, 2)
    img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    img = np.clip(
        img.astype(np.float32) * rng.uniform(0.85, 1.05) + rng.normal(0, 3, img.shape), 0, 255
    ).astype(np.uint8)
    return img
