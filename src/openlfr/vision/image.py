"""Reading images safely, and checking arrays handed to the vision stages.

``load_image`` accepts a path or the encoded bytes and returns a BGR ``uint8`` array, or raises
:class:`ImageError` with a message a user can act on: missing file, not an image, corrupt or
truncated data, or an image so large that decoding it would exhaust memory (the header is
read first and checked against a pixel cap before any pixel is decoded; data whose header
gives no size is refused, never decoded).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from openlfr.errors import ImageError

__all__ = ["MAX_PIXELS", "MAX_FILE_BYTES", "IMAGE_SUFFIXES", "image_files", "load_image",
           "as_bgr", "image_size_from_header"]

#: File-name suffixes of every format this OpenCV build reads (``cv2.imread``), the one list
#: that image folders (watchlist enrolment, the folder source) are filtered by. OpenEXR
#: (``.exr``) is left out: OpenCV's wheels read it only when ``OPENCV_IO_ENABLE_OPENEXR`` is
#: set, which OpenLFR does not do. ``tests/pipeline/test_sources.py`` writes a file of each kind
#: and reads it back.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp", ".avif", ".gif",
                  ".tif", ".tiff", ".jp2", ".pbm", ".pgm", ".ppm", ".pxm", ".pnm", ".pam",
                  ".pfm", ".sr", ".ras", ".hdr", ".pic")

#: Largest image (width x height) ``load_image`` decodes: 64 megapixels (e.g. 8192 x 8192).
MAX_PIXELS = 64_000_000
#: Largest encoded file ``load_image`` reads.
MAX_FILE_BYTES = 100 * 1024 * 1024


def image_files(folder: Path) -> list[Path]:
    """The files directly inside ``folder`` whose suffix (any case) is in
    :data:`IMAGE_SUFFIXES`, sorted by name."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header, without decoding pixels: PNG, JPEG, GIF, BMP,
    WebP, TIFF (and BigTIFF), PBM/PGM/PPM/PAM, PFM, Sun raster, Radiance HDR, JPEG 2000 and
    AVIF, every format this OpenCV decodes.

    Returns None when the format is not recognised or the header is cut short; ``load_image``
    then refuses the data rather than decode an image of unknown size.
    """
    try:
        return _size(data)
    except (struct.error, ValueError, IndexError, KeyError):
        return None


def _size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if data[12:16] != b"IHDR":
            return None
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data[:2] == b"BM":
        header = struct.unpack("<I", data[14:18])[0]
        if header == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
            w, h = struct.unpack("<HH", data[18:22])
            return int(w), int(h)
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
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return None
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return _tiff_size(data)
    if data[:1] == b"P" and data[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7"):
        return _pnm_size(data)
    if data[:2] in (b"PF", b"Pf") and data[2:3] in (b"\n", b"\r", b" ", b"\t"):
        fields = data[2:256].split()
        return int(fields[0]), int(fields[1])
    if data[:4] == b"\x59\xa6\x6a\x95":  # Sun raster
        w, h = struct.unpack(">II", data[4:12])
        return int(w), int(h)
    if data[:2] == b"#?":  # Radiance HDR: text header, blank line, then "-Y h +X w"
        end = data.find(b"\n\n", 0, 64 * 1024)
        if end < 0:
            return None
        line = data[end + 2:end + 2 + 64].split(b"\n", 1)[0].split()
        if len(line) != 4 or line[0][1:] not in (b"Y", b"X"):
            return None
        a, b = int(line[1]), int(line[3])
        return (b, a) if line[0][1:] == b"Y" else (a, b)
    if data[:4] == b"\xff\x4f\xff\x51":  # JPEG 2000 codestream: SIZ segment
        return _j2k_siz(data, 4)
    if data[4:12] == b"jP  \r\n\x87\n":  # JP2 file: the ihdr box inside jp2h
        i = data.find(b"ihdr", 0, 64 * 1024)
        if i < 0:
            return None
        h, w = struct.unpack(">II", data[i + 4:i + 12])
        return int(w), int(h)
    if data[4:8] == b"ftyp" and data[8:12] in (b"avif", b"avis", b"mif1", b"msf1"):
        return _avif_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
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


#: TIFF field types -> (struct code, size) for the two tags read (SHORT, LONG, LONG8).
_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) of the first directory, the one decoded. A
    file without both is refused (None)."""
    end = "<" if data[:2] == b"II" else ">"
    big = data[2:4] in (b"+\x00", b"\x00+")
    if big:  # BigTIFF: 8-byte offsets and counts, 20-byte entries
        offset = struct.unpack(end + "Q", data[8:16])[0]
        count = struct.unpack(end + "Q", data[offset:offset + 8])[0]
        first, size = offset + 8, 20
    else:
        offset = struct.unpack(end + "I", data[4:8])[0]
        count = struct.unpack(end + "H", data[offset:offset + 2])[0]
        first, size = offset + 2, 12
    found: dict[int, int] = {}
    for n in range(min(count, 4096)):
        e = first + n * size
        tag, kind = struct.unpack(end + "HH", data[e:e + 4])
        if tag not in (256, 257):
            continue
        if kind not in _TIFF_TYPES:
            return None
        code, width = _TIFF_TYPES[kind]
        at = e + (12 if big else 8)  # the value itself: it fits in the entry
        found[tag] = int(struct.unpack(end + code, data[at:at + width])[0])
        if len(found) == 2:
            return found[256], found[257]
    return None


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    head = data[:4096]
    if head[1:2] == b"7":  # PAM: WIDTH / HEIGHT lines before ENDHDR
        fields: dict[bytes, bytes] = {}
        for line in head.split(b"\n")[1:]:
            key, _, value = line.strip().partition(b" ")
            if key == b"ENDHDR":
                break
            fields[key] = value.strip()
        return int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])
    tokens: list[bytes] = []
    for line in head[2:].split(b"\n"):
        tokens += line.split(b"#", 1)[0].split()
        if len(tokens) >= 2:
            return int(tokens[0]), int(tokens[1])
    return None


def _j2k_siz(data: bytes, at: int) -> tuple[int, int] | None:
    # SIZ: Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) XOsiz(4) YOsiz(4)
    xsiz, ysiz, xo, yo = struct.unpack(">IIII", data[at + 4:at + 20])
    return int(xsiz - xo), int(ysiz - yo)


def _avif_size(data: bytes) -> tuple[int, int] | None:
    """The largest 'ispe' (image spatial extents) property: the decoded image is no larger."""
    sizes = []
    i = data.find(b"ispe", 0, 1 << 20)
    while i >= 0 and len(sizes) < 64:
        w, h = struct.unpack(">II", data[i + 8:i + 16])  # after version/flags
        sizes.append((int(w), int(h)))
        i = data.find(b"ispe", i + 4, 1 << 20)
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


def _decode(data: bytes, what: str, max_pixels: int) -> np.ndarray:
    import cv2

    if not data:
        raise ImageError(f"{what}: file is empty")
    size = image_size_from_header(data)
    if size is None:  # never decode an image whose size is not known first
        raise ImageError(f"{what}: not a readable image (not an image, or not a format whose "
                         f"size can be read before decoding: JPEG, PNG, BMP, WebP, GIF, "
                         f"TIFF, ...)")
    if size[0] * size[1] > max_pixels:
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
