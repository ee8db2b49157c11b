"""Synthetic in-store views of a catalog photo, for fitting the store adaptation.

A catalog photo is an "iconic" shot: the product alone, centred, evenly lit, on white. A kiosk
camera sees it held in a hand, tilted, half out of the guide, under glare, against a shelf. The
views made here imitate that (OpenCV and numpy only, seeded, so an index run is repeatable):
random crop and zoom, perspective and rotation, light and colour, blur, glare, a hand-coloured
occluder, and a cluttered background put in place of the white one (made from the other
catalog photos, so it looks like a shelf of products rather than noise).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: how far a pixel may be from pure white and still count as the catalog photo's background
WHITE_TOLERANCE = 28


def foreground_mask(image: np.ndarray) -> np.ndarray:
    """0..1 float mask of what is not the photo's plain light background (feathered)."""
    diff = 255 - image.min(axis=2).astype(np.int16)
    mask = (diff > WHITE_TOLERANCE).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0)


def _clutter(rng: np.random.Generator, size: int, pool: Sequence[np.ndarray]) -> np.ndarray:
    """A shelf-like background: a blurred, darkened mosaic of other products' photos."""
    canvas = np.full((size, size, 3), rng.integers(60, 200), np.uint8)
    if pool:
        tiles = int(rng.integers(2, 5))
        step = size // tiles + 1
        for y in range(0, size, step):
            for x in range(0, size, step):
                tile = pool[int(rng.integers(len(pool)))]
                tile = cv2.resize(tile, (step, step), interpolation=cv2.INTER_AREA)
                canvas[y : y + step, x : x + step] = tile[: size - y, : size - x]
    shade = rng.uniform(0.35, 0.9, size=3)
    canvas = (canvas.astype(np.float32) * shade).clip(0, 255)
    return cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(1.5, 5.0))).astype(np.uint8)


def _hand(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A skin-coloured blob entering from an edge, and its 0..1 mask."""
    mask: np.ndarray = np.zeros((size, size), np.float32)
    edge = int(rng.integers(4))
    along = int(rng.integers(size // 5, 4 * size // 5))
    centre = [(along, size), (along, 0), (0, along), (size, along)][edge]
    axes = (int(rng.integers(size // 6, size // 3)), int(rng.integers(size // 5, size * 2 // 5)))
    cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 3)
    tone = np.array([rng.uniform(90, 170), rng.uniform(120, 190), rng.uniform(170, 235)])
    skin = np.broadcast_to(tone, (size, size, 3)).astype(np.float32)
    return skin, mask


def _pile(
    rng: np.random.Generator, img: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Several smaller, turned copies of the product over each other, filling the frame."""
    size = img.shape[0]
    out = np.full_like(img, 255.0)
    out_mask = np.zeros_like(mask)
    for _ in range(int(rng.integers(4, 9))):
        m = cv2.getRotationMatrix2D(
            (size / 2, size / 2), rng.uniform(0, 360), rng.uniform(0.4, 0.6)
        )
        m[:, 2] += rng.uniform(-0.35, 0.35, size=2) * size
        copy = cv2.warpAffine(img, m, (size, size), borderValue=(255, 255, 255))
        cmask = cv2.warpAffine(mask, m, (size, size))[..., None]
        out = copy * cmask + out * (1 - cmask)
        out_mask = np.maximum(out_mask, cmask[..., 0])
    return out, out_mask


def synthetic_view(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    backgrounds: Sequence[np.ndarray] = (),
    size: int = 256,
) -> np.ndarray:
    """One random in-store-like view of the catalog photo ``image`` (8-bit BGR)."""
    img: np.ndarray = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(
        np.float32
    )
    mask = foreground_mask(img.astype(np.uint8))
    if rng.random() < 0.25:  # a pile of them, as loose fruit and vegetables lie in a crate
        img, mask = _pile(rng, img, mask)
    if rng.random() < 0.8:  # a cluttered shelf instead of the white studio background
        bg = _clutter(rng, size, backgrounds).astype(np.float32)
        img = img * mask[..., None] + bg * (1 - mask[..., None])
    # zoom, shift, rotation and a perspective tilt in one warp
    scale = rng.uniform(0.75, 1.25)
    angle = rng.uniform(-25, 25)
    m: np.ndarray = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    m[:, 2] += rng.uniform(-0.12, 0.12, size=2) * size
    src = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
    jitter = rng.uniform(-0.1, 0.1, size=(4, 2)).astype(np.float32) * size
    persp = cv2.getPerspectiveTransform(src, src + jitter)
    full = persp @ np.vstack([m, [0, 0, 1]])
    border = tuple(float(v) for v in img.reshape(-1, 3).mean(axis=0))
    img = cv2.warpPerspective(img, full, (size, size), borderValue=border)
    # light and colour
    img = img * rng.uniform(0.6, 1.3) + rng.uniform(-30, 30)
    img = img * rng.uniform(0.85, 1.15, size=3)  # white balance
    grey = img.mean(axis=2, keepdims=True)
    img = grey + (img - grey) * rng.uniform(0.6, 1.3)  # saturation
    if rng.random() < 0.3:  # glare: a soft bright spot
        spot: np.ndarray = np.zeros((size, size), np.float32)
        c = (int(rng.integers(size)), int(rng.integers(size)))
        cv2.circle(spot, c, int(rng.integers(size // 10, size // 4)), 1.0, -1)
        spot = cv2.GaussianBlur(spot, (0, 0), size / 16)
        img = img + spot[..., None] * rng.uniform(80, 200)
    if rng.random() < 0.35:  # a hand over part of it
        skin, hand = _hand(rng, size)
        img = img * (1 - hand[..., None]) + skin * hand[..., None]
    if rng.random() < 0.4:  # out of focus or moving
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.8, 2.5)))
    img = img + rng.normal(0, rng.uniform(0, 6), img.shape)  # sensor noise
    return img.clip(0, 255).astype(np.uint8)


def synthetic_views(
    image: np.ndarray,
    n: int,
    *,
    seed: int,
    backgrounds: Sequence[np.ndarray] = (),
    size: int = 256,
) -> list[np.ndarray]:
    """``n`` views of ``image``, the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [synthetic_view(image, rng, backgrounds=backgrounds, size=size) for _ in range(n)]
