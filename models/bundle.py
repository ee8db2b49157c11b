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
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import BundleFileError, BundleNotFoundError, ManifestError

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")

#: Bundles that ship inside the package.
BUNDLES_DIR = Path(__file__).resolve().parent / "bundles"
DEFAULT_BUNDLE = "efficientnet-lite0-retail"


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_rel_path(rel: object, what: str) -> str:
    """A bundle file's path: relative, inside the bundle folder."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise ManifestError(f"{what}: need a file name (got {rel!r})")
    parts = Path(rel).parts
    if Path(rel).is_absolute() or ".." in parts:
        raise ManifestError(f"{what}: {rel!r} must be a path inside the bundle folder")
    return rel


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
        size = self.input_size
        if len(size) != 2 or not all(_is_int(v) and 8 <= v <= 4096 for v in size):
            raise ManifestError(
                f"preprocess.input_size: need [height, width], whole numbers 8…4096 (got {list(size)})"
            )
        if not _is_int(self.resize_size) or not 8 <= self.resize_size <= 8192:
            raise ManifestError(
                f"preprocess.resize_size: need a whole number 8…8192 (got {self.resize_size!r})"
            )
        if self.resize == "shorter" and self.resize_size < max(size):
            raise ManifestError(
                f"preprocess.resize_size {self.resize_size} is smaller than the crop "
                f"{list(size)}: the center crop would not fit"
            )
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != 3 or not all(_is_finite(v) and abs(v) <= 1000 for v in values):
                raise ManifestError(
                    f"preprocess.{name}: need three finite numbers (got {list(values)})"
                )
        if min(self.std) <= 0:
            raise ManifestError(f"preprocess.std: every value must be > 0 (got {list(self.std)})")


@dataclass(frozen=True)
class ModelFile:
    """One ONNX file of a bundle."""

    path: str
    sha256: str
    bytes: int
    precision: str
    quantization: str = ""  # "", "static-qdq-per-channel", "dynamic", ...

    def __post_init__(self) -> None:
        what = f"files.{self.precision}"
        _check_rel_path(self.path, f"{what}.path")
        if not isinstance(self.sha256, str) or not _SHA256.fullmatch(self.sha256):
            raise ManifestError(f"{what}.sha256: need 64 lowercase hex digits")
        if not _is_int(self.bytes) or self.bytes <= 0:
            raise ManifestError(f"{what}.bytes: need a positive whole number (got {self.bytes!r})")

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
            pre = need(data, "preprocess", "")
            if not isinstance(pre, dict):
                raise ManifestError(f"{where}: preprocess must be an object")
            pre = dict(pre)
            for key in ("input_size", "mean", "std"):
                if key in pre and not isinstance(pre[key], list):
                    raise ManifestError(f"{where}: preprocess.{key} must be a list of numbers")
            pre["input_size"] = tuple(need(pre, "input_size", "preprocess."))
            pre["mean"] = tuple(pre.get("mean", PreprocessSpec.mean))
            pre["std"] = tuple(pre.get("std", PreprocessSpec.std))
            files = _model_files(need(data, "files", ""), "files")
            if not files:
                raise ManifestError(f"{where}: files lists no model")
            text = None
            if data.get("text"):
                t = data["text"]
                if not isinstance(t, dict) or not isinstance(t.get("files"), dict):
                    raise ManifestError(f"{where}: text needs a files object")
                t = dict(t)
                t["files"] = _model_files(t["files"], "text.files")
                if not isinstance(t.get("tokenizer_files", {}), dict):
                    raise ManifestError(f"{where}: text.tokenizer_files must be an object")
                text = TextTower(**t)
                if not _is_int(text.context_length) or not 1 <= text.context_length <= 4096:
                    raise ManifestError(f"{where}: text.context_length must be 1…4096")
            extra = data.get("extra_files", {})
            if not isinstance(extra, dict):
                raise ManifestError(f"{where}: extra_files must be an object")
            for rel, digest in extra.items():
                _check_rel_path(rel, "extra_files")
                if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                    raise ManifestError(f"{where}: extra_files[{rel!r}]: need a sha256")
            dim = need(data, "embedding_dim", "")
            if not _is_int(dim) or not 1 <= dim <= 65536:
                raise ManifestError(f"{where}: embedding_dim must be a whole number 1…65536")
            names = {}
            for key, default in (
                ("name", None),
                ("version", None),
                ("input_name", "image"),
                ("output_name", "embedding"),
            ):
                value = need(data, key, "") if default is None else data.get(key, default)
                if (
                    not isinstance(value, str | int)
                    or isinstance(value, bool)
                    or not str(value).strip()
                ):
                    raise ManifestError(f"{where}: {key} must be a non-empty string")
                names[key] = str(value)
            for key in ("source", "verification"):
                if not isinstance(data.get(key, {}), dict):
                    raise ManifestError(f"{where}: {key} must be an object")
            return cls(
                name=names["name"],
                version=names["version"],
                source=dict(data.get("source", {})),
                preprocess=PreprocessSpec(**pre),
                embedding_dim=dim,
                opset=int(data.get("opset", 0)),
                files=files,
                input_name=names["input_name"],
                output_name=names["output_name"],
                text=text,
                extra_files=dict(extra),
                verification=dict(data.get("verification", {})),
                format_version=version,
            )
        except ManifestError as exc:
            msg = str(exc)
            raise ManifestError(msg if msg.startswith(where) else f"{where}: {msg}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"{where}: invalid manifest ({exc})") from exc


def _model_files(raw: object, what: str) -> dict[str, ModelFile]:
    if not isinstance(raw, dict):
        raise ManifestError(f"{what} must be an object of precision → file")
    out = {}
    for prec, f in raw.items():
        if prec not in PRECISIONS:
            raise ManifestError(f"unknown precision {prec!r} in {what}")
        if not isinstance(f, dict):
            raise ManifestError(f"{what}.{prec} must be an object")
        out[prec] = ModelFile(**{**f, "precision": prec})
    return out


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

    def listed_files(self) -> set[str]:
        """Every file the manifest covers with a sha256 (model files, text tower, extras)."""
        m = self.manifest
        listed = {f.path for f in m.files.values()} | set(m.extra_files)
        if m.text:
            listed |= {f.path for f in m.text.files.values()}
        return {str(Path(rel)) for rel in listed}

    def verify(self) -> None:
        """Check every file the manifest lists, and that it lists every file in the folder."""
        for f in self.manifest.files.values():
            self.verify_file(f.path, f.sha256, f.bytes)
        if self.manifest.text:
            for f in self.manifest.text.files.values():
                self.verify_file(f.path, f.sha256, f.bytes)
        for rel, digest in self.manifest.extra_files.items():
            self.verify_file(rel, digest)
        listed = self.listed_files() | {MANIFEST}
        for p in sorted(self.path.rglob("*")):
            rel = str(p.relative_to(self.path))
            if p.is_file() and rel not in listed and "__pycache__" not in p.parts:
                raise BundleFileError(f"{p}: not covered by the manifest's checksums")

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
