"""Decoding what staff and cameras hand us: odd formats get converted, bad files one clear error."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from models import (
    ImageDecodeError,
    ImageTooLargeError,
    ImageTooSmallError,
    decode_image,
    load_image,
    to_bgr8,
)
from models.images import header_size, sniff_format


def _write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def test_grayscale_rgba_and_16bit_become_8bit_bgr(tmp_path: Path) -> None:
    gray = _write(tmp_path / "g.png", np.full((40, 50), 90, np.uint8))
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 2] = 255  # red in BGRA
    rgba[..., 3] = 0  # fully transparent: composited over white
    rgba[:20, :, 3] = 255
    wide = _write(tmp_path / "a.png", rgba)
    deep = _write(tmp_path / "d.png", np.full((40, 50, 3), 65535, np.uint16))
    for path in (gray, wide, deep):
        image = load_image(path)
        assert image.dtype == np.uint8 and image.shape == (40, 50, 3)
    assert load_image(gray)[0, 0].tolist() == [90, 90, 90]
    composited = load_image(wide)
    assert composited[0, 0].tolist() == [0, 0, 255]  # opaque red stays red
    assert composited[-1, 0].tolist() == [255, 255, 255]  # transparent becomes white
    assert load_image(deep)[0, 0].tolist() == [255, 255, 255]


def test_format_is_taken_from_content_not_name(tmp_path: Path) -> None:
    png_named_jpg = tmp_path / "photo.jpg"
    _ok, buf = cv2.imencode(".png", np.full((32, 32, 3), 7, np.uint8))
    png_named_jpg.write_bytes(buf.tobytes())
    assert load_image(png_named_jpg)[0, 0].tolist() == [7, 7, 7]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"hello, not an image", "not a supported image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "corrupt"),
    ],
)
def test_bad_files_get_one_line_errors_naming_the_file(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError) as err:
        load_image(path)
    assert str(path) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_jpeg_is_an_error_or_decodes_partially(tmp_path: Path, photos) -> None:
    _ok, buf = cv2.imencode(".jpg", photos[0])
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.tobytes()[:200])
    with pytest.raises(ImageDecodeError):
        load_image(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageDecodeError, match="no such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageDecodeError, match="is a folder"):
        load_image(tmp_path)


def test_tiny_images_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageTooSmallError, match="8×8"):
        load_image(_write(tmp_path / "t.png", np.zeros((8, 8, 3), np.uint8)))


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def test_huge_png_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="20000×20000"):
        decode_image(_png_header_only(20000, 20000), source="huge.png")


def _tiff_entry(tag: int, value: int) -> bytes:
    return struct.pack("<HHII", tag, 4, 1, value)


_HUGE_HEADERS = {
    "webp-extended": b"RIFF"
    + struct.pack("<I", 100)
    + b"WEBPVP8X"
    + struct.pack("<I", 10)
    + b"\x00" * 4
    + (8999).to_bytes(3, "little") * 2
    + b"\x00" * 64,
    "bmp": b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 9000, -9000) + b"\x00" * 64,
    "tiff": b"II*\x00"
    + struct.pack("<IH", 8, 2)
    + _tiff_entry(256, 9000)
    + _tiff_entry(257, 9000)
    + b"\x00" * 64,
    "gif": b"GIF89a" + struct.pack("<HH", 9000, 9000) + b"\x00" * 64,
}


@pytest.mark.parametrize("kind", sorted(_HUGE_HEADERS))
def test_huge_images_of_every_format_are_refused_from_the_header(kind: str) -> None:
    with pytest.raises(ImageTooLargeError, match="9000×9000"):
        decode_image(_HUGE_HEADERS[kind], source=f"huge.{kind}")


@pytest.mark.parametrize(
    ("ext", "params"),
    [
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80]),
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101]),  # lossless
        (".bmp", []),
        (".tiff", []),
        (".png", []),
        (".jpg", []),
    ],
)
def test_header_size_matches_what_opencv_writes(ext: str, params: list[int]) -> None:
    _ok, buf = cv2.imencode(ext, np.full((40, 50, 3), 99, np.uint8), params)
    data = buf.tobytes()
    fmt = sniff_format(data)
    assert fmt is not None and header_size(data, fmt) == (50, 40)
    assert decode_image(data).shape == (40, 50, 3)


def test_a_header_without_a_size_is_refused_before_decoding() -> None:
    with pytest.raises(ImageDecodeError, match="corrupt TIFF header"):
        decode_image(b"II*\x00" + struct.pack("<IH", 8, 0) + b"\x00" * 32, source="x.tif")


def test_large_jpeg_is_decoded_at_reduced_scale_under_the_cap(tmp_path: Path) -> None:
    big = np.zeros((3000, 4000, 3), np.uint8)
    cv2.circle(big, (2000, 1500), 1000, (0, 200, 0), -1)
    path = _write(tmp_path / "big.jpg", big)
    image = load_image(path, max_pixels=1_000_000)
    assert image.shape[0] * image.shape[1] <= 1_000_000
    assert image.shape[:2] == (750, 1000)  # 1/4 scale keeps the aspect ratio
    assert image[375, 500, 1] > 150  # the content survives
    # reduce_to: decode no smaller than needed for a 224-px model
    assert load_image(path, reduce_to=224).shape[:2] == (375, 500)


def test_arrays_of_other_types_are_converted() -> None:
    assert to_bgr8(np.ones((20, 20), np.float32)).max() == 255
    with pytest.raises(ImageDecodeError):
        to_bgr8(np.zeros((20, 20, 2), np.uint8))
    with pytest.raises(ImageDecodeError):
        to_bgr8(np.zeros((0, 0, 3), np.uint8))
