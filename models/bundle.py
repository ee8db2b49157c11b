"""Model bundles: a folder with ``manifest.json`` and one ONNX file per precision.

The manifest is the single source of truth for how to feed a model (input size, resize and
crop rule, normalisation, colour order) and what comes out (embedding dimension). Loading a
bundle checks every file it will use against the size and sha256 the manifest records, so a
missing, truncated or altered file is a :class:`BundleError` naming the file, never a crash
inside ONNX Runtime or a silently wrong vector.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import BundleFileError, BundleNotFoundError, ManifestError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")

#: Bundles that ship inside the package.
BUNDLES_DIR = Path(__file__).resolve().parent / "bundles"
DEFAULT_BUNDLE = "efficientnet-lite0"


@dataclass(frozen=True)
class PreprocessSpec:
    """How an image becomes the model's input tensor (all the runtime needs to know)."""

    input_size: tuple[int, int]  # (height, width)
    resize: str = "shorter"  # "shorter": shorter side to resize_size, then crop; or "stretch"
    resize_size: int = 256
    crop: str = "center"  # the crop after a "shorter" resize (a "stretch" resize needs none)
    interpolation: str = "bilinear"  # antialiased, as torchvision/Pillow; or "bicubic"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # on 0..1 pixel values
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    color_order: str = "RGB"
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        if self.resize not in ("shorter", "stretch"):
            raise ManifestError(f"preprocess.resize: unknown rule {self.resize!r}")
        if self.crop != "center":
            raise ManifestError(f"preprocess.crop: unknown rule {self.crop!r}")
        if self.interpolation not in ("bilinear", "bicubic"):
            raise ManifestError(f"preprocess.interpolation: unknown {self.interpolation!r}")
        if self.color_order not in ("RGB", "BGR"):
            raise ManifestError(f"preprocess.color_order: unknown order {self.color_order!r}")
        if self.layout not in ("NCHW", "NHWC"):
            raise ManifestError(f"preprocess.layout: unknown layout {self.layout!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ManifestError("preprocess.mean/std: need three values, std > 0")


@dataclass(frozen=True)
class ModelFile:
    """One ONNX file of a bundle."""

    path: str
    sha256: str
    bytes: int
    precision: str
    quantization: str = ""  # "", "static-qdq-per-channel", "dynamic", ...

    @classmethod
    def describe(cls, folder: Path, rel: str, precision: str, quantization: str = "") -> ModelFile:
        """The manifest entry of a file now in ``folder``: its size and sha256."""
        p = folder / rel
        return cls(rel, sha256_file(p), p.stat().st_size, precision, quantization)


@dataclass(frozen=True)
class TextTower:
    """The text encoder of a CLIP-style bundle and its tokenizer."""

    files: dict[str, ModelFile]
    tokenizer: str  # e.g. "clip-bpe"
    tokenizer_files: dict[str, str]  # role -> relative path (hashes recorded in `extra_files`)
    context_length: int = 77


@dataclass
class Manifest:
    """The parsed manifest.json of a bundle."""

    name: str
    version: str
    source: dict[str, Any]
    preprocess: PreprocessSpec
    embedding_dim: int
    opset: int
    files: dict[str, ModelFile]
    input_name: str = "image"
    output_name: str = "embedding"
    text: TextTower | None = None
    extra_files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256
    verification: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprocess"]["input_size"] = list(self.preprocess.input_size)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], *, where: str = MANIFEST) -> Manifest:
        def need(obj: dict[str, Any], key: str, ctx: str) -> Any:
            if key not in obj:
                raise ManifestError(f"{where}: missing field {ctx}{key}")
            return obj[key]

        try:
            version = int(data.get("format_version", FORMAT_VERSION))
            if version > FORMAT_VERSION:
                raise ManifestError(
                    f"{where}: format_version {version} is newer than this AisleLens "
                    f"understands ({FORMAT_VERSION}); upgrade AisleLens"
                )
            pre = dict(need(data, "preprocess", ""))
            pre["input_size"] = tuple(need(pre, "input_size", "preprocess."))
            pre["mean"] = tuple(pre.get("mean", PreprocessSpec.mean))
            pre["std"] = tuple(pre.get("std", PreprocessSpec.std))
            files = {
                prec: ModelFile(**{"precision": prec, **f})
                for prec, f in need(data, "files", "").items()
            }
            for prec in files:
                if prec not in PRECISIONS:
                    raise ManifestError(f"{where}: unknown precision {prec!r} in files")
            text = None
            if data.get("text"):
                t = dict(data["text"])
                t["files"] = {p: ModelFile(**{"precision": p, **f}) for p, f in t["files"].items()}
                text = TextTower(**t)
            return cls(
                name=str(need(data, "name", "")),
                version=str(need(data, "version", "")),
                source=dict(data.get("source", {})),
                preprocess=PreprocessSpec(**pre),
                embedding_dim=int(need(data, "embedding_dim", "")),
                opset=int(data.get("opset", 0)),
                files=files,
                input_name=str(data.get("input_name", "image")),
                output_name=str(data.get("output_name", "embedding")),
                text=text,
                extra_files=dict(data.get("extra_files", {})),
                verification=dict(data.get("verification", {})),
                format_version=version,
            )
        except ManifestError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"{where}: invalid manifest ({exc})") from exc


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Bundle:
    """A model bundle on disk: its folder and its parsed manifest."""

    path: Path
    manifest: Manifest

    @property
    def name(self) -> str:
        return self.manifest.name

    def bundle_id(self, precision: str) -> str:
        """A stable identifier of the vectors one precision of this bundle makes.

        Vectors from different ids must never be mixed in one index.
        """
        f = self.model_file(precision, verify=False)
        return f"{self.manifest.name}@{self.manifest.version}/{precision}:{f.sha256[:12]}"

    @property
    def precisions(self) -> list[str]:
        return [p for p in PRECISIONS if p in self.manifest.files]

    def model_file(self, precision: str, *, verify: bool = True) -> ModelFile:
        if precision not in self.manifest.files:
            have = ", ".join(self.precisions) or "none"
            raise BundleFileError(
                f"{self.path}: bundle {self.name!r} has no {precision} model (it has: {have})"
            )
        entry = self.manifest.files[precision]
        if verify:
            self.verify_file(entry.path, entry.sha256, entry.bytes)
        return entry

    def model_path(self, precision: str, *, verify: bool = True) -> Path:
        """Path of the ONNX file for ``precision``, checked against its size and sha256."""
        return self.path / self.model_file(precision, verify=verify).path

    def verify_file(self, rel: str, sha256: str, size: int | None = None) -> None:
        p = self.path / rel
        if not p.is_file():
            raise BundleFileError(f"{p}: file listed in the manifest is missing")
        actual = p.stat().st_size
        if size is not None and actual != size:
            raise BundleFileError(
                f"{p}: {actual} bytes, the manifest says {size} (truncated or replaced)"
            )
        if sha256_file(p) != sha256:
            raise BundleFileError(f"{p}: sha256 does not match the manifest (file altered)")

    def verify(self) -> None:
        """Check every file the manifest lists."""
        for f in self.manifest.files.values():
            self.verify_file(f.path, f.sha256, f.bytes)
        if self.manifest.text:
            for f in self.manifest.text.files.values():
                self.verify_file(f.path, f.sha256, f.bytes)
        for rel, digest in self.manifest.extra_files.items():
            self.verify_file(rel, digest)

    def save_manifest(self) -> None:
        """Write manifest.json atomically (the old one stays intact if this is interrupted)."""
        target = self.path / MANIFEST
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.manifest.to_json(), indent=2, sort_keys=False) + "\n")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)


def resolve_bundle_path(name_or_path: str | os.PathLike[str] | None = None) -> Path:
    """A bundle folder from a path, or the name of a bundle shipped with AisleLens."""
    if name_or_path is None:
        name_or_path = DEFAULT_BUNDLE
    p = Path(name_or_path)
    if p.is_dir() or os.sep in str(name_or_path) or p.suffix == ".json":
        return p.parent if p.name == MANIFEST else p
    shipped = BUNDLES_DIR / str(name_or_path)
    if shipped.is_dir():
        return shipped
    known = ", ".join(sorted(d.name for d in BUNDLES_DIR.iterdir() if d.is_dir())) or "none"
    raise BundleNotFoundError(
        f"{name_or_path}: no such bundle folder, and no shipped bundle of that name "
        f"(shipped: {known})"
    )


def load_bundle(name_or_path: str | os.PathLike[str] | None = None) -> Bundle:
    """Read a bundle's manifest (files are checked when a precision is opened)."""
    path = resolve_bundle_path(name_or_path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleNotFoundError(f"{path}: not a model bundle (no {MANIFEST})")
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{manifest_path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{manifest_path}: manifest must be a JSON object")
    return Bundle(path=path, manifest=Manifest.from_json(data, where=str(manifest_path)))
