"""Vision fixtures: models loaded once per session; sample images from installed packages."""

from __future__ import annotations

import numpy as np
import pytest

from openlfr.vision.demo import sample_image_path
from openlfr.vision.image import load_image


@pytest.fixture(scope="session")
def scrfd():
    from openlfr.vision.detectors import ScrfdDetector

    return ScrfdDetector()


@pytest.fixture(scope="session")
def yunet():
    from openlfr.vision.detectors import YunetDetector

    return YunetDetector()


@pytest.fixture(scope="session")
def arcface():
    from openlfr.vision.embedders import ArcFaceEmbedder

    return ArcFaceEmbedder()


@pytest.fixture(scope="session")
def dlib_embedder():
    from openlfr.vision.embedders import DlibEmbedder

    return DlibEmbedder()


@pytest.fixture(scope="session")
def engine(scrfd, arcface):
    from openlfr.vision.engine import VisionEngine
    from openlfr.vision.quality import QualityAssessor

    return VisionEngine(scrfd, QualityAssessor(), arcface)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """Eileen Collins (scikit-image sample), BGR."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@pytest.fixture(scope="session")
def players() -> np.ndarray:
    """A basketball team photo shipped with the model package (23 faces), BGR."""
    return load_image(sample_image_path("players.jpg"))
