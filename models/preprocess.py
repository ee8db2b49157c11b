"""Preprocessing driven only by a bundle's :class:`PreprocessSpec`, in numpy and OpenCV.

The reference is PyTorch's ``Resize(resize_size) → CenterCrop(input_size) → ToTensor →
Normalize(mean, std)``. Here the crop box is computed in the source image first and only that
region is resized, which gives the same pixels (up to resampling rounding, tested in
``tests/models/test_preprocess.py``) at a fraction of the cost for a 1080p camera frame.
Downscaling uses area averaging, which like PyTorch's antialiased bilinear filter avoids
aliasing; upscaling uses bilinear.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .bundle import PreprocessSpec
from .images import to_bgr8


def crop_box(width: int, height: int, spec: PreprocessSpec) -> tuple[float, float, float, float]:
    """(x0, y0, crop_w, crop_h) in source pixels of the region the model sees."""
    out_h, out_w = spec.input_size
    if spec.resize == "stretch":
        return 0.0, 0.0, float(width), float(height)
    scale = spec.resize_size / min(width, height)
    if spec.crop == "none":
        return 0.0, 0.0, float(width), float(height)
    crop_w = min(width, out_w / scale)
    crop_h = min(height, out_h / scale)
    return (width - crop_w) / 2.0, (height - crop_h) / 2.0, crop_w, crop_h


class Preprocessor:
    """Turns 8-bit BGR images (camera frames, decoded files) into the model's input batch."""

    def __init__(self, spec: PreprocessSpec) -> None:
        self.spec = spec
        std = np.asarray(spec.std, dtype=np.float32)
        mean = np.asarray(spec.mean, dtype=np.float32)
        self._scale = (1.0 / (255.0 * std)).reshape(1, 1, 3)
        self._offset = (mean / std).reshape(1, 1, 3)

    def resize_crop(self, image: np.ndarray) -> np.ndarray:
        """The cropped, resized uint8 image in the model's colour order (H, W, 3)."""
        image = to_bgr8(image)
        height, width = image.shape[:2]
        out_h, out_w = self.spec.input_size
        x0, y0, cw, ch = crop_box(width, height, self.spec)
        # Integer-aligned crop plus a sub-pixel affine for the remainder keeps this exact and fast.
        ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
        ix1, iy1 = min(width, int(np.ceil(x0 + cw))), min(height, int(np.ceil(y0 + ch)))
        region = image[iy0:iy1, ix0:ix1]
        downscale = cw > out_w or ch > out_h
        if abs(x0 - ix0) < 1e-6 and abs(y0 - iy0) < 1e-6 and region.shape[:2] == (
            round(ch),
            round(cw),
        ):
            interp = cv2.INTER_AREA if downscale else cv2.INTER_LINEAR
            out = cv2.resize(region, (out_w, out_h), interpolation=interp)
        elif downscale:
            # Area-average to the integer crop, then shift by the sub-pixel remainder.
            rw = max(out_w, round(region.shape[1] * out_w / cw))
            rh = max(out_h, round(region.shape[0] * out_h / ch))
            small = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
            dx = (x0 - ix0) * rw / region.shape[1]
            dy = (y0 - iy0) * rh / region.shape[0]
            m = np.float32([[1, 0, -dx], [0, 1, -dy]])
            out = cv2.warpAffine(
                small, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        else:
            sx, sy = out_w / cw, out_h / ch
            m = np.float32(
                [[sx, 0, (0.5 * sx - 0.5) - (x0 - ix0) * sx], [0, sy, (0.5 * sy - 0.5) - (y0 - iy0) * sy]]
            )
            out = cv2.warpAffine(
                region, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        if self.spec.color_order == "RGB":
            out = cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
        return out

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (H, W, 3) in model colour order → float32 tensor in the model's layout."""
        x = pixels.astype(np.float32) * self._scale - self._offset
        return np.ascontiguousarray(x.transpose(2, 0, 1) if self.spec.layout == "NCHW" else x)

    def __call__(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Preprocess one image (H, W, C) or a sequence of images into a batch [n, ...]."""
        if isinstance(images, np.ndarray) and images.ndim in (2, 3):
            images = [images]
        return np.stack([self.normalize(self.resize_crop(im)) for im in images])
