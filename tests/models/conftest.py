"""Fixtures for the model layer: real photographs and copies of the shipped bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.bundle import BUNDLES_DIR


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """Real colour photographs (scikit-image's package data) as BGR arrays."""
    from models.tools.calibration import skimage_photo_paths

    return [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in skimage_photo_paths()[:6]]


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    """A writable copy of the pretrained EfficientNet-Lite0 bundle (what export makes)."""
    dst = tmp_path / "bundle"
    shutil.copytree(BUNDLES_DIR / "efficientnet-lite0", dst)
    return dst


@pytest.fixture(scope="session")
def embedder_fp32():
    from models import ImageEmbedder

    e = ImageEmbedder.open(precision="fp32")
    yield e
    e.close()
