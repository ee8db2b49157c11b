"""Reference image files: content hashes, validation, display thumbnails and stored paths.

The catalog stores where an image is and the sha256 of its bytes, never the image itself;
catalog (not shopper) images also get a small JPEG thumbnail for display. Paths inside the
database's folder are stored relative to it, so a catalog folder can be moved as a whole.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.bundle import sha256_file as sha256_file  # re-exported for the indexer
from models.errors import ImageDecodeError
from models.images import decode_image, header_size, sniff_format


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    width: int
    height: int
    format: str = "jpeg"


@dataclass(frozen=True)
class ImageFile:
    """A readable reference image: where it is and what it contains."""

    path: Path  # absolute
    sha256: str
    size: int
    mtime_ns: int
    width: int  # of the full image (from the header when the decode was reduced)
    height: int
    thumbnail: Thumbnail | None = None


def file_signature(path: Path) -> tuple[int, int]:
    """(size, mtime_ns): when both are unchanged the stored content hash is trusted."""
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def make_thumbnail(image: np.ndarray, max_side: int, quality: int = 85) -> Thumbnail:
    """A JPEG no larger than ``max_side`` on its longer side (never enlarged)."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes 8-bit BGR
        raise ImageDecodeError("cannot encode thumbnail")
    return Thumbnail(buf.tobytes(), image.shape[1], image.shape[0])


def read_image_file(path: Path, *, thumbnail_size: int = 0, quality: int = 85) -> ImageFile:
    """Hash and fully decode an image (proving it usable); make a thumbnail when asked.

    Raises :class:`models.ImageError` (missing, 0 bytes, corrupt, too large, too small).
    Large JPEGs are decoded at a reduced scale, so a 20000×20000 photo costs little memory.
    """
    try:
        data = path.read_bytes()
        size, mtime_ns = file_signature(path)
    except FileNotFoundError:
        raise ImageDecodeError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageDecodeError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise ImageDecodeError(f"{path}: cannot read ({exc.strerror})") from None
    reduce_to = max(thumbnail_size, 256)
    image = decode_image(data, source=str(path), reduce_to=reduce_to)
    fmt = sniff_format(data)
    full = header_size(data, fmt) if fmt else None
    width, height = full if full else (image.shape[1], image.shape[0])
    thumb = make_thumbnail(image, thumbnail_size, quality) if thumbnail_size > 0 else None
    return ImageFile(path, hashlib.sha256(data).hexdigest(), size, mtime_ns, width, height, thumb)


def stored_path(path: Path, db_dir: Path) -> str:
    """How ``path`` is written in the database: relative to the catalog's folder when inside it."""
    path = Path(os.path.abspath(path))
    try:
        return path.relative_to(Path(os.path.abspath(db_dir))).as_posix()
    except ValueError:
        return str(path)


def resolve_stored(stored: str, db_dir: Path) -> Path:
    """The absolute path of an image as written in the database."""
    p = Path(stored)
    return p if p.is_absolute() else Path(os.path.abspath(db_dir)) / p


def safe_file_name(text: str) -> str:
    """``text`` (a SKU) as a file name: letters, digits, ``-_.`` kept, anything else ``_``."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in text) or "_"
