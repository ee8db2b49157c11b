"""Export, quantization and the accuracy gate, end to end through the CLI (export extra)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from kiosk.cli import cli
from models import ImageEmbedder, load_bundle
from models.bundle import BUNDLES_DIR

open_clip = pytest.importorskip("open_clip", reason="the export extra is part of the test install")
pytestmark = pytest.mark.export

TINY = Path(__file__).with_name("tiny_clip.json")


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _graph_and_weights(path: Path):
    """(opset, node signature, initializers by name) of an ONNX file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    opset = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    nodes = [(n.op_type, tuple(n.input), tuple(n.output), n.domain) for n in model.graph.node]
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return opset, nodes, weights


@pytest.mark.slow
def test_export_regenerates_the_shipped_bundle(tmp_path: Path, photos) -> None:
    out = tmp_path / "lite0"
    result = run("models", "export", "efficientnet-lite0", "--out", out, "--no-quantize")
    assert result.exit_code == 0, result.output
    assert "parity: max |diff|" in result.output
    shipped_bundle = load_bundle(BUNDLES_DIR / "efficientnet-lite0")
    made_bundle = load_bundle(out)
    shipped, made = shipped_bundle.manifest, made_bundle.manifest
    assert made.preprocess == shipped.preprocess
    assert made.embedding_dim == shipped.embedding_dim and made.opset == shipped.opset
    assert made.verification["export_parity"]["max_abs_diff"] < 1e-4
    # The same graph from the same pinned packages: node for node, weight for weight. Constant
    # folding runs in floating point on this CPU, so folded weights may differ in the last
    # bits from the shipped file's (measured up to 3.8e-6 across machines): not byte for byte.
    opset_a, nodes_a, weights_a = _graph_and_weights(made_bundle.model_path("fp32"))
    opset_b, nodes_b, weights_b = _graph_and_weights(shipped_bundle.model_path("fp32"))
    assert opset_a == opset_b
    assert nodes_a == nodes_b and len(nodes_a) > 100
    assert weights_a.keys() == weights_b.keys()
    for name, w in weights_a.items():
        assert w.shape == weights_b[name].shape and w.dtype == weights_b[name].dtype, name
        scale = max(1.0, float(np.abs(weights_b[name]).max(initial=0.0)))
        assert np.abs(w.astype(np.float64) - weights_b[name]).max(initial=0.0) <= 2e-5 * scale
    # and the same embeddings of real photographs
    a = ImageEmbedder(made_bundle, "fp32").embed(photos)
    b = ImageEmbedder(shipped_bundle, "fp32").embed(photos)
    assert (a * b).sum(axis=1).min() >= 0.99999
    # refuses to overwrite without being asked
    again = CliRunner().invoke(cli, ["models", "export", "efficientnet-lite0", "--out", str(out)])
    assert again.exit_code == 2 and "not empty" in again.output


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    open_clip.add_model_config(TINY)
    out = tmp_path_factory.mktemp("clip") / "tiny"
    result = run(
        "models",
        "export",
        "open_clip:tiny_clip",
        "--random-weights",
        "--out",
        out,
        "--model-config",
        TINY,
    )
    assert result.exit_code == 0, result.output
    return out


def test_open_clip_export_has_both_towers_and_tokenizer(tiny_clip: Path, photos) -> None:
    bundle = load_bundle(tiny_clip)
    bundle.verify()
    m = bundle.manifest
    assert m.embedding_dim == 32 and m.preprocess.input_size == (64, 64)
    assert m.preprocess.interpolation == "bicubic"
    assert m.text is not None and m.text.context_length == 77
    assert "random" in m.source["weights"]
    assert set(bundle.precisions) == {"fp32", "int8"}  # dynamic int8 for a transformer
    assert "dynamic" in m.files["int8"].quantization
    parity = m.verification["export_parity"]
    assert parity["max_abs_diff"] < 1e-4 and parity["min_cosine"] >= 0.9999
    assert m.verification["text_export_parity"]["min_cosine"] >= 0.9999
    # the runtime (no torch) embeds images and text into the same 32-d space
    vecs = ImageEmbedder.open(tiny_clip, "fp32").embed(photos[:2])
    assert vecs.shape == (2, 32)


def test_torch_free_tokenizer_and_text_tower_match_open_clip(tiny_clip: Path) -> None:
    import torch

    from models.text import TextEmbedder

    texts = ["a bottle of milk", "Müsli 500g", "Crème fraîche & co.", "a_!b", "it's", "x " * 90]
    reference = open_clip.get_tokenizer("tiny_clip")(texts).numpy()
    text = TextEmbedder(load_bundle(tiny_clip))
    assert np.array_equal(text.tokenizer(texts), reference)
    ours = text.embed_text(texts)
    assert ours.shape == (len(texts), 32)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # same vectors as the PyTorch text tower made from the same (seeded) random weights
    torch.manual_seed(0)
    clip = open_clip.create_model("tiny_clip").eval()
    with torch.no_grad():
        ref = clip.encode_text(torch.from_numpy(reference)).numpy()
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    assert (ours * ref).sum(axis=1).min() > 0.9999


def test_fp16_and_dynamic_quantization(tiny_clip: Path, photos) -> None:
    assert run("models", "quantize", tiny_clip, "--method", "fp16").exit_code == 0
    bundle = load_bundle(tiny_clip)
    assert "fp16" in bundle.precisions
    a = ImageEmbedder(bundle, "fp32").embed(photos[:3])
    b = ImageEmbedder(bundle, "fp16").embed(photos[:3])
    assert (a * b).sum(axis=1).min() > 0.99


def test_checkpoint_export_and_bad_sources(tmp_path: Path) -> None:
    import torch

    open_clip.add_model_config(TINY)
    torch.manual_seed(1)
    model = open_clip.create_model("tiny_clip")
    ckpt = tmp_path / "tiny.pt"
    torch.save({"state_dict": model.state_dict()}, ckpt)
    out = tmp_path / "from-ckpt"
    result = run(
        "models",
        "export",
        "open_clip:tiny_clip",
        "--checkpoint",
        ckpt,
        "--out",
        out,
        "--model-config",
        TINY,
        "--license",
        "MIT",
        "--no-quantize",
    )
    assert result.exit_code == 0, result.output
    m = load_bundle(out).manifest
    assert m.source["license"] == "MIT" and "tiny.pt" in m.source["weights"]
    bad = CliRunner().invoke(
        cli,
        [
            "models",
            "export",
            "open_clip:no-such-arch",
            "--random-weights",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert bad.exit_code == 2 and "not an open_clip architecture" in bad.output
    none = CliRunner().invoke(
        cli,
        [
            "models",
            "export",
            "open_clip:tiny_clip",
            "--out",
            str(tmp_path / "y"),
            "--model-config",
            str(TINY),
        ],
    )
    assert none.exit_code == 2 and "exactly one of" in none.output
    lite = CliRunner().invoke(
        cli, ["models", "export", "efficientnet-lite9", "--out", str(tmp_path / "z")]
    )
    assert lite.exit_code == 2 and "unknown EfficientNet-Lite variant" in lite.output


def _labelled_set(folder: Path, photos: list[np.ndarray]) -> tuple[Path, Path]:
    """Each photo is a product; queries are re-framed, darker copies of it."""
    (folder / "img").mkdir(parents=True)
    rng = np.random.default_rng(0)
    with open(folder / "products.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sku", "name", "image"])
        for i, p in enumerate(photos):
            cv2.imwrite(str(folder / "img" / f"p{i}.jpg"), p)
            w.writerow([f"SKU-{i}", f"Photo {i}", f"img/p{i}.jpg"])
    with open(folder / "queries.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "sku", "shot_split"])
        for i, p in enumerate(photos):
            for j in range(3):
                h, wd = p.shape[:2]
                y, x = rng.integers(0, h // 6), rng.integers(0, wd // 6)
                q = (p[y : y + h * 3 // 4, x : x + wd * 3 // 4] * 0.8).astype(np.uint8)
                cv2.imwrite(str(folder / "img" / f"q{i}_{j}.jpg"), q)
                w.writerow([f"img/q{i}_{j}.jpg", f"SKU-{i}", "val"])
        w.writerow(["img/missing.jpg", "SKU-0", "val"])
        w.writerow(["img/q0_0.jpg", "SKU-UNKNOWN", "val"])
    return folder / "products.csv", folder / "queries.csv"


@pytest.mark.slow
def test_quantize_on_store_photos_and_verify_gate(
    tmp_path: Path, bundle_copy: Path, photos
) -> None:
    products, queries = _labelled_set(tmp_path / "set", photos)
    q = run(
        "models", "quantize", bundle_copy, "--calib", tmp_path / "set" / "img", "--calib-limit", 16
    )
    assert q.exit_code == 0, q.output
    assert "of fp32" in q.output
    quantization = load_bundle(bundle_copy).manifest.files["int8"].quantization
    assert "16 images from" in quantization
    assert "image convolutions fp32" in quantization  # the stem, found through its Pad
    ok = CliRunner().invoke(
        cli,
        [
            "models",
            "verify",
            str(bundle_copy),
            "--products",
            str(products),
            "--queries",
            str(queries),
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    report = json.loads(ok.output[ok.output.index("{") :])
    assert report["scores"]["fp32"]["n"] == 3 * len(photos)
    assert report["scores"]["fp32"]["recall_at_1"] >= 0.9
    assert report["int8_vs_fp32_cosine"]["mean"] > 0.95
    assert any("missing.jpg" in s for s in report["skipped"])
    assert any("unknown SKU 'SKU-UNKNOWN'" in s for s in report["skipped"])
    written = load_bundle(bundle_copy).manifest.verification
    assert written["int8"]["recall_at_1"] == report["scores"]["int8"]["recall_at_1"]
    # an impossible gate fails with a clear message and status 1
    strict = CliRunner().invoke(
        cli,
        [
            "models",
            "verify",
            str(bundle_copy),
            "--products",
            str(products),
            "--queries",
            str(queries),
            "--min-cosine",
            "1.01",
            "--no-write",
        ],
    )
    assert strict.exit_code == 1 and "FAILED: int8-vs-fp32 mean cosine" in strict.output


def test_verify_rejects_csv_without_required_columns(tmp_path: Path) -> None:
    bad = tmp_path / "products.csv"
    bad.write_text("code,picture\nA,a.jpg\n")
    result = CliRunner().invoke(
        cli, ["models", "verify", "--products", str(bad), "--queries", str(bad)]
    )
    assert result.exit_code == 2
    assert "missing column(s) sku, image" in result.output and str(bad) in result.output
