"""Shared fixtures. Tests needing ../shared/data skip with a clear reason when absent."""

from __future__ import annotations

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
