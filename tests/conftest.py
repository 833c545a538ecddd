"""Shared fixtures. Tests needing ../shared/data skip with a clear reason when absent."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from openlfr.settings import shared_data_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (set OPENLFR_SHARED_DATA to the evaluation "
                    "data folder to run this test)")
    return path


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"evaluation file {path} is absent")
    return path


@pytest.fixture(scope="session")
def group_photo(shared_data: Path) -> Path:
    return _need(shared_data / "images" / "group_six_people.jpg")


@pytest.fixture(scope="session")
def lfw_dir(shared_data: Path) -> Path:
    return _need(shared_data / "lfw")


@pytest.fixture(scope="session")
def hamilton_clip(shared_data: Path) -> Path:
    return _need(shared_data / "video" / "hamilton_stage_360p.mp4")


@pytest.fixture(scope="session")
def crowd_clip(shared_data: Path) -> Path:
    return _need(shared_data / "video" / "crowd_royal_opera_house_1080p.mp4")


def _tiff_bomb(width: int = 20000, height: int = 20000, rows: int = 200) -> bytes:
    """A real ~12 KB TIFF of ``width`` x ``height`` black pixels: deflate strips that all
    share one compressed block (OpenCV decodes it, to ~2.3 GB at 20000 x 20000)."""
    strip = zlib.compress(bytes(width * 3 * rows), 9)
    n = -(-height // rows)
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 3, 0), (259, 3, 1, 8),
               (262, 3, 1, 2), (273, 4, n, 0), (277, 3, 1, 3), (278, 4, 1, rows),
               (279, 4, n, 0), (284, 3, 1, 1)]
    bps_at = 8 + 2 + 12 * len(entries) + 4
    offsets_at = bps_at + 6
    counts_at = offsets_at + 4 * n
    strip_at = counts_at + 4 * n
    at = {258: bps_at, 273: offsets_at, 279: counts_at}
    out = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, count, value in entries:
        value = at.get(tag, value)
        out += (struct.pack("<HHIHH", tag, kind, count, value, 0) if kind == 3 and count == 1
                else struct.pack("<HHII", tag, kind, count, value))
    out += struct.pack("<I", 0) + struct.pack("<HHH", 8, 8, 8)
    out += struct.pack(f"<{n}I", *[strip_at] * n) + struct.pack(f"<{n}I", *[len(strip)] * n)
    return out + strip


@pytest.fixture(scope="session")
def tiff_bomb() -> bytes:
    """A real ~12 KB TIFF of 20000 x 20000 pixels (a decompression bomb)."""
    return _tiff_bomb()
