"""Image decoding for the model layer: files and camera frames to 8-bit BGR arrays.

OpenCV decodes; this module adds what a kiosk and a catalog tool need around it: the decoded
pixel count is capped *before* decoding, from the size in the file's header, for every format
(a 20000×20000 JPEG is decoded at a reduced scale by libjpeg's DCT scaling; a huge PNG, WebP,
BMP, TIFF or GIF is refused, as is a header with no size), the format is recognised from the
content rather than the file name, and grayscale, alpha, 16-bit and float images are converted to
the 8-bit BGR that the preprocessing expects.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageDecodeError, ImageTooLargeError, ImageTooSmallError

#: Default cap on decoded pixels (50 megapixels, about 150 MB as BGR).
DEFAULT_MAX_PIXELS = 50_000_000
#: Images whose shorter side is below this are refused: nothing can be recognised in them.
DEFAULT_MIN_SIDE = 16


def sniff_format(data: bytes) -> str | None:
    """Name the image format from its first bytes, or None when it is not one we know."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:  # extended: 24-bit canvas size minus one
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    (header,) = struct.unpack("<I", data[14:18])
    if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
        return int(width), int(height)
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height is a top-down bitmap


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """The first image's size from the first IFD (the page OpenCV decodes)."""
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 8:
        return None
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset + 2 > len(data):
        return None
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    found: dict[int, int] = {}
    for k in range(count):
        entry = data[offset + 2 + 12 * k : offset + 14 + 12 * k]
        if len(entry) < 12:
            return None
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            fmt = order + ("H" if kind == 3 else "I")
            found[tag] = struct.unpack(fmt, entry[8 : 8 + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return int(found[256]), int(found[257])
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return int(width), int(height)


def header_size(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) read from the file's header without decoding, or None when the header
    is damaged. Every format :func:`sniff_format` knows is covered, so that the pixel cap is
    applied before a decoder allocates anything."""
    if fmt == "png":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        return None
    reader = {
        "jpeg": _jpeg_size,
        "webp": _webp_size,
        "bmp": _bmp_size,
        "tiff": _tiff_size,
        "gif": _gif_size,
    }.get(fmt)
    return reader(data) if reader else None


def to_bgr8(image: np.ndarray, *, source: str = "array") -> np.ndarray:
    """Convert a decoded image or frame to contiguous 8-bit, 3-channel BGR.

    Grayscale is replicated, alpha is composited over white (catalog photos are shot on
    white), 16-bit is scaled down, floats are taken as 0..1.
    """
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ImageDecodeError(f"{source}: empty or not an image array")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageDecodeError(f"{source}: unsupported pixel type {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ImageDecodeError(f"{source}: unsupported image shape {image.shape}")
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        rgb = image[:, :, :3].astype(np.float32)
        image = (rgb * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(image)


def decode_image(
    data: bytes,
    *,
    source: str = "image",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    reduce_to: int = 0,
) -> np.ndarray:
    """Decode encoded image bytes to 8-bit BGR.

    ``reduce_to``: when positive, a JPEG whose shorter side is at least twice this is decoded at
    1/2, 1/4 or 1/8 scale (never below ``reduce_to``), which is much faster for big photos.
    """
    if not data:
        raise ImageDecodeError(f"{source}: empty file (0 bytes)")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageDecodeError(f"{source}: not a supported image (JPEG, PNG, WebP, BMP, TIFF)")
    size = header_size(data, fmt)
    if size is None:
        raise ImageDecodeError(f"{source}: corrupt {fmt.upper()} header (no image size)")
    flags = cv2.IMREAD_UNCHANGED
    width, height = size
    if min(width, height) < min_side:
        raise ImageTooSmallError(f"{source}: {width}×{height} is below {min_side} px")
    factor = 1
    if fmt == "jpeg":
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale almost for free: use the smallest
        # reduction that fits the cap, then reduce further while still >= reduce_to.
        while factor < 8 and width * height / (factor * factor) > max_pixels:
            factor *= 2
        while reduce_to > 0 and factor < 8 and min(width, height) / (2 * factor) >= reduce_to:
            factor *= 2
        flags = {
            1: cv2.IMREAD_COLOR,
            2: cv2.IMREAD_REDUCED_COLOR_2,
            4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8,
        }[factor]
    if width * height / (factor * factor) > max_pixels:
        raise ImageTooLargeError(
            f"{source}: {width}×{height} exceeds the {max_pixels / 1e6:.0f} MP decode cap"
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buf, flags)
    except cv2.error as exc:  # OpenCV raises for some corrupt streams instead of returning None
        raise ImageDecodeError(f"{source}: corrupt image ({exc.msg.strip()})") from exc
    if image is None:
        raise ImageDecodeError(f"{source}: corrupt or truncated {fmt.upper()} file")
    if image.ndim >= 2 and image.shape[0] * image.shape[1] > max_pixels:
        raise ImageTooLargeError(
            f"{source}: {image.shape[1]}×{image.shape[0]} exceeds the "
            f"{max_pixels / 1e6:.0f} MP decode cap"
        )
    image = to_bgr8(image, source=source)
    if min(image.shape[:2]) < min_side:
        raise ImageTooSmallError(
            f"{source}: {image.shape[1]}×{image.shape[0]} is below {min_side} px"
        )
    return image


def load_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
    reduce_to: int = 0,
) -> np.ndarray:
    """Read and decode an image file to 8-bit BGR; errors name the file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageDecodeError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ImageDecodeError(f"{p}: is a folder, not an image") from None
    except OSError as exc:
        raise ImageDecodeError(f"{p}: cannot read ({exc.strerror})") from None
    return decode_image(
        data, source=str(p), max_pixels=max_pixels, min_side=min_side, reduce_to=reduce_to
    )
