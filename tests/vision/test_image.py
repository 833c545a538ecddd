"""load_image: good files decode; bad ones raise ImageError with a useful message."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from openlfr.errors import ImageError
from openlfr.vision.image import as_bgr, image_size_from_header, load_image


@pytest.fixture(scope="module")
def jpeg_bytes(astronaut: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", astronaut)
    assert ok
    return buf.tobytes()


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
            + struct.pack(">I", zlib.crc32(chunk)))


def test_decodes_path_and_bytes(tmp_path: Path, jpeg_bytes: bytes) -> None:
    p = tmp_path / "a.jpg"
    p.write_bytes(jpeg_bytes)
    a, b = load_image(p), load_image(jpeg_bytes)
    assert a.shape == (512, 512, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp"])
def test_header_size_matches_encoder(astronaut: np.ndarray, ext: str) -> None:
    img = astronaut[:300, :451]
    ok, buf = cv2.imencode(ext, img)
    assert ok
    assert image_size_from_header(buf.tobytes()) == (451, 300)


@pytest.mark.parametrize("case,match", [
    ("missing", "no such file"),
    ("directory", "not a file"),
    ("empty", "empty"),
    ("text", "not a readable image"),
    ("corrupt", "not a readable image|truncated"),
    ("truncated", "truncated|not a readable image"),
    ("huge", "pixel limit"),
])
def test_bad_files_raise_image_error(tmp_path: Path, jpeg_bytes: bytes, case: str,
                                     match: str) -> None:
    path = tmp_path / "bad.jpg"
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("name,age\nalice,31\n")
    elif case == "corrupt":
        data = bytearray(jpeg_bytes)
        data[2:600] = bytes(598)  # header segments zeroed
        path.write_bytes(bytes(data))
    elif case == "truncated":
        path.write_bytes(jpeg_bytes[: len(jpeg_bytes) // 2])
    elif case == "huge":  # a valid PNG header claiming 100000 x 100000 pixels
        path.write_bytes(_png_header(100_000, 100_000) + b"\x00" * 64)
    with pytest.raises(ImageError, match=match) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_truncated_png_is_refused(astronaut: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", astronaut)
    assert ok
    with pytest.raises(ImageError):
        load_image(buf.tobytes()[: len(buf) * 2 // 3])


def test_pixel_cap_is_configurable(jpeg_bytes: bytes) -> None:
    with pytest.raises(ImageError, match="pixel limit"):
        load_image(jpeg_bytes, max_pixels=512 * 511)
    assert load_image(jpeg_bytes, max_pixels=512 * 512).shape == (512, 512, 3)


def test_as_bgr_converts_and_checks() -> None:
    assert as_bgr(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert as_bgr(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(ImageError, match="uint8"):
        as_bgr(np.zeros((4, 5, 3), np.float64))


def test_exif_orientation_is_applied() -> None:
    """Phone photos store pixels sideways plus an EXIF orientation; faces must come out
    upright. Orientation 6 = rotate 90 degrees clockwise to display."""
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, :50] = 255  # white band on the left
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    data = buf.tobytes()
    tiff = (b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHII", 0x0112, 3, 1, 6 << 16) + struct.pack(">I", 0))
    app1 = b"Exif\x00\x00" + tiff
    with_exif = data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]
    out = load_image(with_exif)
    assert out.shape == (200, 100, 3)
    assert out[:50].mean() > 200 and out[100:].mean() < 30  # the band is now at the top




@pytest.mark.parametrize("ext,src", [
    (".tiff", "bgr"), (".ppm", "bgr"), (".pgm", "grey"), (".pbm", "grey"), (".pam", "bgr"),
    (".pfm", "float"), (".ras", "bgr"), (".hdr", "float"), (".jp2", "bgr"), (".avif", "bgr"),
    (".gif", "bgr"),
])
def test_every_decodable_format_has_its_size_read_first(astronaut: np.ndarray, ext: str,
                                                        src: str) -> None:
    img = astronaut[:300, :451]
    if src == "grey":
        img = np.ascontiguousarray(img[:, :, 0])
    elif src == "float":
        img = img.astype(np.float32) / 255
    try:
        ok, buf = cv2.imencode(ext, img)
    except cv2.error:
        pytest.skip(f"this OpenCV cannot encode {ext}")
    if not ok:
        pytest.skip(f"this OpenCV cannot encode {ext}")
    assert image_size_from_header(buf.tobytes()) == (451, 300)
    assert load_image(buf.tobytes()).shape == (300, 451, 3)


def test_tiff_bomb_is_refused_from_its_header(tiff_bomb: bytes) -> None:
    bomb = tiff_bomb
    assert len(bomb) < 16 * 1024
    assert image_size_from_header(bomb) == (20000, 20000)
    with pytest.raises(ImageError, match="20000x20000 pixels.*pixel limit"):
        load_image(bomb)


def test_bigtiff_and_pam_headers() -> None:
    # BigTIFF: one directory holding ImageWidth (LONG) and ImageLength (LONG8)
    entries = (struct.pack("<HHQQ", 256, 4, 1, 30000) + struct.pack("<HHQQ", 257, 16, 1, 40000))
    big = b"II+\x00" + struct.pack("<HHQ", 8, 0, 16) + struct.pack("<Q", 2) + entries
    assert image_size_from_header(big) == (30000, 40000)
    pam = b"P7\nWIDTH 12\nHEIGHT 7\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n"
    assert image_size_from_header(pam) == (12, 7)


@pytest.mark.parametrize("data", [
    b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 0),  # TIFF without a size
    b"\x76\x2f\x31\x01" + b"\x00" * 64,  # OpenEXR: not decoded by this build, never sized
    b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 32,  # JP2 without its ihdr box
])
def test_unsized_data_is_refused_before_decoding(data: bytes) -> None:
    assert image_size_from_header(data) is None
    with pytest.raises(ImageError, match="not a readable image"):
        load_image(data)
