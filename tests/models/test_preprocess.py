"""The numpy/OpenCV preprocessing matches the PyTorch reference the model was exported with."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from models import Preprocessor, load_bundle

torch = pytest.importorskip("torch", reason="the export extra is part of the test install")
from models.tools.export import torch_preprocess  # noqa: E402


@pytest.fixture(scope="module")
def spec():
    return load_bundle().manifest.preprocess


def _views(photos: list[np.ndarray]) -> list[np.ndarray]:
    """Shapes a kiosk sees: photos, a portrait crop, a 1080p frame, a small upscaled image."""
    out = list(photos)
    out.append(photos[0][:, : photos[0].shape[1] // 2])
    out.append(cv2.resize(photos[1], (1920, 1080)))
    out.append(cv2.resize(photos[2], (150, 100), interpolation=cv2.INTER_AREA))
    return out


@pytest.mark.parametrize("variant", ["bundle", "stretch", "imagenet-crop", "bicubic"])
def test_matches_pytorch_reference(photos, spec, variant: str) -> None:
    if variant == "stretch":
        spec = dataclasses.replace(spec, resize="stretch")
    elif variant == "imagenet-crop":
        spec = dataclasses.replace(spec, resize_size=256)
    elif variant == "bicubic":
        spec = dataclasses.replace(spec, interpolation="bicubic")
    ours = Preprocessor(spec)(_views(photos))
    ref = torch_preprocess(_views(photos), spec).numpy()
    assert ours.shape == ref.shape == (len(photos) + 3, 3, 224, 224)
    # torchvision rounds to uint8, we keep floats: at most one grey level apart
    one_level = 1.0 / (255.0 * min(spec.std))
    assert np.abs(ours - ref).max() <= one_level * 1.01


def test_same_embedding_as_pytorch_preprocessing(photos, spec, embedder_fp32) -> None:
    ours = embedder_fp32.embed(_views(photos))
    ref = embedder_fp32.embed_batch(torch_preprocess(_views(photos), spec).numpy())
    cos = (ours * ref).sum(axis=1)
    # all that is left is the reference rounding to uint8 (at most one grey level per pixel)
    assert cos.min() > 0.995


def test_batch_equals_single_and_colour_order(photos, spec) -> None:
    pre = Preprocessor(spec)
    batch = pre(photos[:3])
    for i in range(3):
        assert np.array_equal(batch[i], pre(photos[i])[0])
    bgr_spec = dataclasses.replace(spec, color_order="BGR")
    assert np.allclose(Preprocessor(bgr_spec)(photos[0])[0, 0], batch[0, 2])


def test_grayscale_and_rgba_frames_are_accepted(spec) -> None:
    pre = Preprocessor(spec)
    assert pre(np.full((300, 400), 128, np.uint8)).shape == (1, 3, 224, 224)
    assert pre(np.full((300, 400, 4), 128, np.uint8)).shape == (1, 3, 224, 224)
