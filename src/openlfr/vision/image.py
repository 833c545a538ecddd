"""Reading images safely, and checking arrays handed to the vision stages.

``load_image`` accepts a path or the encoded bytes and returns a BGR ``uint8`` array, or raises
:class:`ImageError` with a message a user can act on: missing file, not an image, corrupt or
truncated data, or an image so large that decoding it would exhaust memory (the header is
read first and checked against a pixel cap before any pixel is decoded).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from openlfr.errors import ImageError

__all__ = ["MAX_PIXELS", "MAX_FILE_BYTES", "load_image", "as_bgr", "image_size_from_header"]

#: Largest image (width x height) ``load_image`` decodes: 64 megapixels (e.g. 8192 x 8192).
MAX_PIXELS = 64_000_000
#: Largest encoded file ``load_image`` reads.
MAX_FILE_BYTES = 100 * 1024 * 1024


def image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF, BMP or WebP header, without decoding pixels.

    Returns None when the format is not recognised or the header is cut short.
    """
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack(">II", data[16:24])
            return int(w), int(h)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack("<HH", data[6:10])
            return int(w), int(h)
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(int(w)), abs(int(h))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
            if chunk == b"VP8L":
                b = data[21:25]
                bits = int.from_bytes(b, "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            return None
        if data[:2] == b"\xff\xd8":
            i = 2
            while i + 4 <= len(data):
                if data[i] != 0xFF:
                    i += 1
                    continue
                marker = data[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                    i += 1 if marker == 0xFF else 2
                    continue
                seg_len = struct.unpack(">H", data[i + 2:i + 4])[0]
                if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB,
                              0xCD, 0xCE, 0xCF):
                    h, w = struct.unpack(">HH", data[i + 5:i + 9])
                    return int(w), int(h)
                i += 2 + seg_len
            return None
    except struct.error:
        return None
    return None


def _decode(data: bytes, what: str, max_pixels: int) -> np.ndarray:
    import cv2

    if not data:
        raise ImageError(f"{what}: file is empty")
    size = image_size_from_header(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageError(f"{what}: image is {size[0]}x{size[1]} pixels, more than the "
                         f"{max_pixels:,} pixel limit; resize it first")
    buf = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{what}: not a readable image (corrupt, truncated or not an image "
                         f"format OpenCV decodes: JPEG, PNG, BMP, WebP, TIFF, ...)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{what}: image is {image.shape[1]}x{image.shape[0]} pixels, more "
                         f"than the {max_pixels:,} pixel limit; resize it first")
    if _looks_truncated(data):
        raise ImageError(f"{what}: image data is truncated (the file ends before the image "
                         f"does); the upload or copy is incomplete")
    return image


def _looks_truncated(data: bytes) -> bool:
    """JPEG without its end marker or PNG without IEND: OpenCV decodes these silently grey."""
    if data[:2] == b"\xff\xd8":
        return b"\xff\xd9" not in data[-1024:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-64:]
    return False


def load_image(source: str | Path | bytes, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image file or encoded bytes to a BGR ``uint8`` array of shape (H, W, 3)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        what = "image data"
    else:
        path = Path(source)
        what = str(path)
        if not path.exists():
            raise ImageError(f"{what}: no such file")
        if not path.is_file():
            raise ImageError(f"{what}: not a file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(f"{what}: file is {size:,} bytes, more than the "
                             f"{MAX_FILE_BYTES:,} byte limit for an image")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{what}: cannot read file ({exc.strerror})") from None
    return _decode(data, what, max_pixels)


def as_bgr(image: object) -> np.ndarray:
    """Check an array handed to a vision stage: (H, W, 3) BGR uint8, contiguous.

    Grey (H, W) and BGRA (H, W, 4) arrays are converted; anything else raises ImageError.
    """
    import cv2

    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected an image array (H, W, 3) uint8, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"expected an image of shape (H, W, 3), got {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)
