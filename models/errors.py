"""Errors raised by the model layer.

Every error names the file (or row) it is about, so the edges (CLI, kiosk) can show it as one
line without a traceback::

    ModelError
    ├── BundleError                 a model bundle cannot be used
    │   ├── BundleNotFoundError     no such bundle folder or manifest
    │   ├── ManifestError           manifest.json unreadable, or a field missing or invalid
    │   ├── BundleFileError         a listed file missing, truncated or altered (size / sha256)
    │   └── BundleShapeError        the ONNX graph disagrees with the manifest (inputs, dim)
    ├── ImageError                  an image cannot be used
    │   ├── ImageDecodeError        unreadable, corrupt or unsupported file
    │   ├── ImageTooLargeError      more pixels than the decode cap
    │   └── ImageTooSmallError      smaller than the minimum side
    ├── EngineError                 the inference backend failed to load or run
    └── DatasetError                a labelled CSV set is malformed (missing columns, unknown SKU)
"""

from __future__ import annotations


class ModelError(Exception):
    """Base class of every error raised by :mod:`models`."""


class BundleError(ModelError):
    """A model bundle cannot be used."""


class BundleNotFoundError(BundleError):
    """No bundle folder, or no manifest.json inside it."""


class ManifestError(BundleError):
    """manifest.json cannot be read or is missing a required field."""


class BundleFileError(BundleError):
    """A file the manifest lists is missing, truncated or altered."""


class BundleShapeError(BundleError):
    """The ONNX graph's inputs or outputs do not match the manifest."""


class ImageError(ModelError):
    """An image cannot be used."""


class ImageDecodeError(ImageError):
    """The file is not an image this build can decode, or it is corrupt."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the decode cap allows."""


class ImageTooSmallError(ImageError):
    """The image is smaller than the minimum side length."""


class EngineError(ModelError):
    """The inference backend failed to load or run a model."""


class DatasetError(ModelError):
    """A labelled CSV set is malformed."""
