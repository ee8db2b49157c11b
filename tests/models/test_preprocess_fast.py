"""The kiosk's fast preprocessing of camera frames (OpenCV) stays close to the exact path: same
geometry, layout and colour order, antialiased, and the same embedding. (The accuracy of
recognition with it, on real shop photos: tests/catalog/test_catalog_grocery.py.)"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from models import Preprocessor, load_bundle


@pytest.fixture(scope="module")
def spec():
    return load_bundle().manifest.preprocess


def _views(photos: list[np.ndarray]) -> list[np.ndarray]:
    """Shapes a kiosk sees: photos, a portrait crop, a 1080p frame, a small upscaled image,
    a guide crop of a 720p frame."""
    out = list(photos)
    out.append(photos[0][:, : photos[0].shape[1] // 2])
    out.append(cv2.resize(photos[1], (1920, 1080)))
    out.append(cv2.resize(photos[2], (150, 100), interpolation=cv2.INTER_AREA))
    out.append(cv2.resize(photos[3], (576, 576), interpolation=cv2.INTER_CUBIC))
    return out


def _fine_patterns() -> list[np.ndarray]:
    """What aliasing shows on: a 2-pixel checkerboard (fine print, barcodes) and noise."""
    yy, xx = np.mgrid[:720, :1280]
    checker = (((yy // 2 + xx // 2) % 2) * 255).astype(np.uint8)
    noise = (np.random.default_rng(0).random((720, 1280, 3)) * 255).astype(np.uint8)
    return [np.repeat(checker[:, :, None], 3, axis=2), noise]


VARIANTS = ["bundle", "stretch", "imagenet-crop", "bicubic", "BGR-NHWC"]


def _variant(spec, variant: str):
    if variant == "stretch":
        return dataclasses.replace(spec, resize="stretch")
    if variant == "imagenet-crop":
        return dataclasses.replace(spec, resize_size=256)
    if variant == "bicubic":
        return dataclasses.replace(spec, interpolation="bicubic")
    if variant == "BGR-NHWC":
        return dataclasses.replace(spec, color_order="BGR", layout="NHWC")
    return spec


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_fast_path_is_close_to_the_exact_one_on_photos(photos, spec, variant: str) -> None:
    spec = _variant(spec, variant)
    pre = Preprocessor(spec)
    grey_level = 1.0 / (255.0 * min(spec.std))
    for view in _views(photos):
        exact = pre(view)[0]
        fast = pre.fast(view)
        assert fast.shape == exact.shape and fast.dtype == np.float32
        # a low-pass filter of another shape (Gaussian halvings, then bilinear): at most 4 to
        # 5.5 grey levels apart on average on these photos
        assert np.abs(fast - exact).mean() < 6 * grey_level
        assert np.corrcoef(fast.ravel(), exact.ravel())[0, 1] > 0.985


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_fast_path_is_antialiased(spec, variant: str) -> None:
    """Shrunk without a low-pass filter, a fine checkerboard comes out as 0s and 255s (about
    70 grey levels from the exact path on average) and noise 35; antialiased, a few."""
    spec = _variant(spec, variant)
    pre = Preprocessor(spec)
    grey_level = 1.0 / (255.0 * min(spec.std))
    for pattern in _fine_patterns():
        assert np.abs(pre.fast(pattern) - pre(pattern)[0]).mean() < 10 * grey_level


def test_the_fast_path_gives_the_same_embedding(photos, embedder_fp32) -> None:
    pre = embedder_fp32.preprocess
    views = _views(photos)
    exact = embedder_fp32.embed_batch(np.stack([pre(v)[0] for v in views]))
    fast = embedder_fp32.embed_batch(np.stack([pre.fast(v) for v in views]))
    assert (exact * fast).sum(axis=1).min() > 0.95  # 0.96 to 0.999 on these views


def test_files_are_embedded_through_the_path_asked_for(photos, embedder_fp32, tmp_path) -> None:
    """Indexing (``fast=True``, the catalog's default) embeds each file exactly as the kiosk
    embeds a frame; ``fast=False`` as the exact resampler does; both in file order, and a bad
    file is skipped either way."""
    pre = embedder_fp32.preprocess
    paths = []
    for i, photo in enumerate(photos[:4]):
        paths.append(tmp_path / f"{i}.jpg")
        cv2.imwrite(str(paths[-1]), cv2.resize(photo, (1600, 1200)))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    paths.insert(2, tmp_path / "bad.jpg")
    good = [embedder_fp32.load(p) for i, p in enumerate(paths) if i != 2]
    for fast, prepare in ((True, pre.fast), (False, lambda im: pre(im)[0])):
        report = embedder_fp32.embed_files(paths, batch_size=2, fast=fast)
        assert report.ok == [0, 1, 3, 4] and [i for i, _ in report.failed] == [2]
        expected = embedder_fp32.embed_batch(np.stack([prepare(im) for im in good]))
        np.testing.assert_allclose(report.vectors, expected, atol=1e-5)
        np.testing.assert_allclose(embedder_fp32.embed(good, fast=fast), expected, atol=1e-5)
    exact = embedder_fp32.embed_files(paths, fast=False).vectors
    fast_vectors = embedder_fp32.embed_files(paths, fast=True).vectors
    assert (exact * fast_vectors).sum(axis=1).min() > 0.95
