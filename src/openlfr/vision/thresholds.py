"""Default operating thresholds (cosine similarity) per embedder model, in ONE place.

Keyed by the model file's sha256 (and flip fusion), because a threshold belongs to one exact
model: a different file, or flip fusion on/off, needs its own calibration. Each entry says
where its value came from.

STATUS: the values marked ``placeholder`` are NOT calibrated. They are starting points taken
from the reference figures in DESIGN.md section 9 (ArcFace MBF, open-set LFW watchlist,
FPIR 1e-3 at 0.380) and dlib's documented 0.6 euclidean distance (cosine 1 - 0.6^2/2 = 0.82).
The evaluation engineer replaces them with values calibrated on LFW (``openlfr evaluation``),
recording the command, the data and the false-positive rate the value targets.
"""

from __future__ import annotations

from dataclasses import dataclass

from openlfr.errors import ConfigError
from openlfr.vision.models import MODEL_FILES

__all__ = ["Threshold", "THRESHOLDS", "default_threshold"]


@dataclass(frozen=True)
class Threshold:
    value: float  # cosine similarity at or above which two faces are called the same person
    provenance: str  # where the value comes from (command, data, target error rate)
    calibrated: bool  # False: placeholder, not measured for this model


def _key(sha256: str, flip: bool) -> tuple[str, bool]:
    return sha256.lower(), flip


THRESHOLDS: dict[tuple[str, bool], Threshold] = {
    _key(MODEL_FILES["arcface_mbf"].sha256, False): Threshold(
        0.38, "placeholder: DESIGN.md section 9 reference, LFW watchlist, FPIR 1e-3 "
              "(threshold 0.380); not yet calibrated by openlfr", False),
    _key(MODEL_FILES["arcface_mbf"].sha256, True): Threshold(
        0.38, "placeholder: copied from the no-flip value; not yet calibrated by openlfr",
        False),
    _key(MODEL_FILES["dlib_resnet"].sha256, False): Threshold(
        0.82, "placeholder: dlib's documented euclidean 0.6 on unit vectors "
              "(cosine = 1 - 0.6^2 / 2); not yet calibrated by openlfr", False),
}


def default_threshold(model_sha256: str, flip: bool = False) -> Threshold:
    """The recorded threshold for a model; ConfigError for a model nobody calibrated."""
    try:
        return THRESHOLDS[_key(model_sha256, flip)]
    except KeyError:
        raise ConfigError(
            f"no similarity threshold is recorded for model sha256 {model_sha256} "
            f"(flip={flip}); calibrate one on labelled data (openlfr evaluation) and add it "
            f"to openlfr/vision/thresholds.py, or pass an explicit threshold") from None
