"""AisleLens model layer: bundles, preprocessing, inference and embeddings.

Typical use::

    from models import ImageEmbedder
    embedder = ImageEmbedder.open()          # the default shipped bundle, int8 when present
    vectors = embedder.embed([frame_bgr])    # float32 [1, 1280], L2-normalised
"""

import os as _os

# ONNX Runtime's Linux wheels (1.32) carry Microsoft's 1DS telemetry: unless told otherwise it
# writes $TMPDIR/.ses and $XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime/* and sends DNS
# queries for mobile.events.data.microsoft.com. The library reads ORT_DISABLE_TELEMETRY when it
# is loaded (disable_telemetry_events() afterwards is too late), so it is set here, before any
# module of this package imports onnxruntime. Forced, not defaulted: the kiosk never phones home.
_os.environ["ORT_DISABLE_TELEMETRY"] = "1"

from .bundle import DEFAULT_BUNDLE, Bundle, Manifest, PreprocessSpec, load_bundle
from .embedder import EmbedReport, ImageEmbedder, l2_normalize
from .engine import FakeEngine, InferenceEngine, create_engine, thread_budget
from .errors import (
    BundleError,
    BundleFileError,
    BundleNotFoundError,
    BundleShapeError,
    DatasetError,
    EngineError,
    ImageDecodeError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    ManifestError,
    ModelError,
)
from .images import decode_image, load_image, to_bgr8
from .preprocess import Preprocessor

__all__ = [
    "DEFAULT_BUNDLE",
    "Bundle",
    "BundleError",
    "BundleFileError",
    "BundleNotFoundError",
    "BundleShapeError",
    "DatasetError",
    "EmbedReport",
    "EngineError",
    "FakeEngine",
    "ImageDecodeError",
    "ImageEmbedder",
    "ImageError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "InferenceEngine",
    "Manifest",
    "ManifestError",
    "ModelError",
    "PreprocessSpec",
    "Preprocessor",
    "create_engine",
    "decode_image",
    "l2_normalize",
    "load_bundle",
    "load_image",
    "thread_budget",
    "to_bgr8",
]
