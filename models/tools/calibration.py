"""Real photographs for calibration and parity checks, and loaders for a store's own images.

The default set is the colour photographs that ship inside the scikit-image wheel (astronaut,
cat, coffee, rocket, motorcycle, …), read from disk with OpenCV: nothing is downloaded. Each photo
gives several views (crops at different scales, flips) so int8 calibration sees a spread of
framings like a kiosk camera does.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import DatasetError, ImageError
from ..images import load_image

#: Colour photographs inside scikit-image's package data (not fetched: part of the wheel).
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "retina.jpg",
    "color.png",
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def skimage_photo_paths() -> list[Path]:
    try:
        import skimage.data
    except ImportError as exc:
        raise DatasetError(
            "the default calibration photos come from scikit-image: install the export extra "
            "(pip install -e '.[export]') or pass --calib FOLDER|CSV"
        ) from exc
    root = Path(skimage.data.__file__).parent
    paths = [root / name for name in SKIMAGE_PHOTOS if (root / name).is_file()]
    if not paths:
        raise DatasetError(f"{root}: no sample photographs found in scikit-image's data")
    return paths


def image_paths(source: str | os.PathLike[str]) -> list[Path]:
    """Image paths from a folder (recursively) or a CSV with an ``image`` column."""
    src = Path(source)
    if src.is_dir():
        return sorted(p for p in src.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if src.suffix.lower() == ".csv":
        with open(src, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "image" not in reader.fieldnames:
                raise DatasetError(f"{src}: needs an 'image' column (has: {reader.fieldnames})")
            return [src.parent / row["image"] for row in reader if row.get("image")]
    raise DatasetError(f"{src}: not a folder of images or a CSV with an 'image' column")


def augmented_views(image: np.ndarray, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The image itself, then random crops (40–100 % of the shorter side) with flips."""
    yield image
    h, w = image.shape[:2]
    for _ in range(n - 1):
        side = int(min(h, w) * rng.uniform(0.4, 1.0))
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        view = image[y : y + side, x : x + side]
        yield view[:, ::-1].copy() if rng.random() < 0.5 else view.copy()


def calibration_images(
    source: str | os.PathLike[str] | None = None,
    *,
    limit: int = 128,
    views: int = 8,
    seed: int = 0,
) -> list[np.ndarray]:
    """BGR images for calibration: a folder/CSV of a store's photos, or the shipped photos."""
    paths = skimage_photo_paths() if source is None else image_paths(source)
    rng = np.random.default_rng(seed)
    if source is not None:
        views = 1 if len(paths) >= limit else max(1, -(-limit // max(1, len(paths))))
        if len(paths) > limit:
            paths = [paths[i] for i in sorted(rng.choice(len(paths), limit, replace=False))]
    images: list[np.ndarray] = []
    for p in paths:
        try:
            images.extend(augmented_views(load_image(p), views, rng))
        except ImageError:
            continue
    if not images:
        raise DatasetError(f"{source}: no readable images for calibration")
    return images[:limit]
