"""Preprocessing driven only by a bundle's :class:`PreprocessSpec`, in numpy and OpenCV.

The reference is PyTorch's ``Resize(resize_size, antialias=True) → CenterCrop(input_size) →
ToTensor → Normalize(mean, std)`` (torchvision, which resamples like Pillow). This module
computes the same separable antialiased filter taps (triangle for bilinear, Keys a=-0.5 for
bicubic) but only for the output pixels that survive the crop, straight from the source frame:
the result equals the reference up to uint8 rounding (``tests/models/test_preprocess.py``),
and a 1080p camera frame takes about 10 ms on one core.

:meth:`Preprocessor.fast` is the kiosk's path for camera frames: the same geometry, resampled by
OpenCV (halved by ``pyrDown`` while at least twice the size, then bilinear), with the
normalisation and layout change fused into one pass. It differs from the reference by a few grey levels; ``tests/models/test_preprocess.py``
bounds that, and a test on real shop photos checks that recognition is as accurate with it.
The catalog indexes its photos through it too (``CatalogSettings.fast_preprocess``); the exact
path stays the reference for export parity and bundle verification.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import cv2
import numpy as np

from .bundle import PreprocessSpec
from .images import to_bgr8


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - np.abs(x), 0.0, None)


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


FILTERS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bilinear": (_triangle, 1.0),
    "bicubic": (_keys_cubic, 2.0),
}


@lru_cache(maxsize=128)
def filter_taps(
    in_size: int, scale: float, offset: int, out_len: int, interpolation: str
) -> tuple[np.ndarray, np.ndarray]:
    """Source indices [out_len, taps] and weights for an antialiased 1-D resample.

    Output pixel ``j`` is pixel ``j + offset`` of the source resized by ``1 / scale``.
    """
    kernel, radius = FILTERS[interpolation]
    stretch = max(scale, 1.0)  # widen the filter when shrinking: that is the antialiasing
    support = radius * stretch
    centers = (np.arange(out_len) + offset + 0.5) * scale
    lo = np.maximum((centers - support + 0.5).astype(np.int64), 0)
    hi = np.minimum((centers + support + 0.5).astype(np.int64), in_size)
    width = int((hi - lo).max())
    idx = lo[:, None] + np.arange(width)[None, :]
    weights = kernel((idx - centers[:, None] + 0.5) / stretch) * (idx < hi[:, None])
    weights = weights / weights.sum(axis=1, keepdims=True)
    return np.minimum(idx, in_size - 1), weights.astype(np.float32)


def resized_geometry(width: int, height: int, spec: PreprocessSpec) -> tuple[int, int, int, int]:
    """(resized_w, resized_h, crop_left, crop_top) exactly as torchvision computes them."""
    out_h, out_w = spec.input_size
    if spec.resize == "stretch":
        return out_w, out_h, 0, 0
    if width <= height:
        new_w, new_h = spec.resize_size, int(spec.resize_size * height / width)
    else:
        new_w, new_h = int(spec.resize_size * width / height), spec.resize_size
    return new_w, new_h, round((new_w - out_w) / 2.0), round((new_h - out_h) / 2.0)


class Preprocessor:
    """Turns 8-bit BGR images (camera frames, decoded files) into the model's input batch."""

    def __init__(self, spec: PreprocessSpec) -> None:
        self.spec = spec
        std = np.asarray(spec.std, dtype=np.float32)
        mean = np.asarray(spec.mean, dtype=np.float32)
        self._scale = (1.0 / (255.0 * std)).reshape(1, 1, 3)
        self._offset = (mean / std).reshape(1, 1, 3)

    def resize_crop(self, image: np.ndarray) -> np.ndarray:
        """The resized and cropped image, float32 0..255 (H, W, 3), in the model's colour order."""
        image = to_bgr8(image)
        height, width = image.shape[:2]
        out_h, out_w = self.spec.input_size
        new_w, new_h, left, top = resized_geometry(width, height, self.spec)
        ky, wy = filter_taps(height, height / new_h, top, out_h, self.spec.interpolation)
        kx, wx = filter_taps(width, width / new_w, left, out_w, self.spec.interpolation)
        x0, x1 = int(kx.min()), int(kx.max()) + 1
        region = image[:, x0:x1]
        rows = np.zeros((out_h, x1 - x0, 3), np.float32)
        for t in range(ky.shape[1]):  # vertical pass over the columns the crop needs
            rows += region[ky[:, t]] * wy[:, t, None, None]
        out = np.zeros((out_h, out_w, 3), np.float32)
        kx = kx - x0
        for t in range(kx.shape[1]):  # horizontal pass
            out += rows[:, kx[:, t]] * wx[None, :, t, None]
        np.clip(out, 0.0, 255.0, out=out)
        if self.spec.color_order == "RGB":
            out = out[:, :, ::-1]
        return out

    def fast(self, image: np.ndarray) -> np.ndarray:
        """The model's input for one 8-bit image (no batch axis), by OpenCV: several times
        faster than :meth:`resize_crop` + :meth:`normalize`, and not bit-exact with them."""
        image = to_bgr8(image)
        height, width = image.shape[:2]
        out_h, out_w = self.spec.input_size
        new_w, new_h, left, top = resized_geometry(width, height, self.spec)
        # shrinking: halve with a Gaussian (cv2.pyrDown, fast and antialiased) while both
        # sides are at least twice the size, then resize the rest of the way
        while image.shape[1] >= 2 * new_w and image.shape[0] >= 2 * new_h:
            image = cv2.pyrDown(image)
        height, width = image.shape[:2]
        if width >= 2 * new_w or height >= 2 * new_h:  # one side still far too big (stretch)
            interpolation = cv2.INTER_AREA
        elif new_w < width or new_h < height or self.spec.interpolation != "bicubic":
            interpolation = cv2.INTER_LINEAR
        else:
            interpolation = cv2.INTER_CUBIC
        resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
        crop = resized[top : top + out_h, left : left + out_w]
        if self.spec.color_order == "RGB":
            crop = crop[:, :, ::-1]
        if self.spec.layout == "NCHW":  # one pass per channel, straight into the output layout
            out = np.empty((3, out_h, out_w), np.float32)
            for c in range(3):
                np.multiply(crop[:, :, c], self._scale[0, 0, c], out=out[c], dtype=np.float32)
                out[c] -= self._offset[0, 0, c]
            return out
        x = crop.astype(np.float32)
        x *= self._scale
        x -= self._offset
        return x

    def one(self, image: np.ndarray, *, fast: bool) -> np.ndarray:
        """The model's input for one 8-bit image (no batch axis): :meth:`fast`, or the exact
        :meth:`resize_crop` + :meth:`normalize`."""
        return self.fast(image) if fast else self.normalize(self.resize_crop(image))

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels 0..255 (H, W, 3) in model colour order → float32 tensor in the model's layout."""
        x = pixels.astype(np.float32) * self._scale - self._offset
        return np.ascontiguousarray(x.transpose(2, 0, 1) if self.spec.layout == "NCHW" else x)

    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Preprocess one image (H, W, C) or a sequence of images into a batch [n, ...]."""
        if isinstance(images, np.ndarray) and images.ndim in (2, 3):
            images = [images]
        return np.stack([self.one(im, fast=False) for im in images])
