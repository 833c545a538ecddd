"""Default operating thresholds (cosine similarity) per embedder model, in ONE place.

Keyed by the model file's sha256 (and flip fusion), because a threshold belongs to one exact
model: a different file, or flip fusion on/off, needs its own calibration. Each entry says
where its value came from.

The shipped values are calibrated on LFW by ``openlfr calibrate`` (evaluation): the lowest
threshold whose FPIR on the LFW watchlist protocol (840 enrolled, seed 0) is <= 1e-3, with a
held-out check on disjoint identities; the numbers and commands are in docs/accuracy.md
and docs/results/. LFW is mostly adult, male and white press photos: calibrate at your own
watchlist size on data like your cameras' before relying on them. A calibration file written
by ``openlfr calibrate`` (Settings.calibration_file, default data_dir/calibration.json)
overrides these values for its model (see :func:`default_threshold`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from openlfr.errors import ConfigError
from openlfr.settings import Settings
from openlfr.vision.models import MODEL_FILES

__all__ = ["Threshold", "THRESHOLDS", "default_threshold", "calibrated_threshold"]


@dataclass(frozen=True)
class Threshold:
    value: float  # cosine similarity at or above which two faces are called the same person
    provenance: str  # where the value comes from (command, data, target error rate)
    calibrated: bool  # False: placeholder, not measured for this model


def _key(sha256: str, flip: bool) -> tuple[str, bool]:
    return sha256.lower(), flip


THRESHOLDS: dict[tuple[str, bool], Threshold] = {
    _key(MODEL_FILES["arcface_mbf"].sha256, False): Threshold(
        0.3817,
        "calibrated on LFW deep-funneled (watchlist split seed 0, 840 enrolled, 3,822 "
        "mated / 8,571 non-mated searches) for FPIR <= 1e-3 at watchlist size 840: "
        "FPIR 8/8,571, expected TPIR 97.28%; held-out on disjoint identities (420 "
        "enrolled): FPIR 4/4,173. openlfr calibrate --target-fpir 1e-3 --embedder "
        "arcface --no-flip; docs/results/calibration-arcface-noflip.json",
        True),
    _key(MODEL_FILES["arcface_mbf"].sha256, True): Threshold(
        0.3735,
        "calibrated on LFW deep-funneled (watchlist split seed 0, 840 enrolled, 3,822 "
        "mated / 8,571 non-mated searches) for FPIR <= 1e-3 at watchlist size 840: "
        "FPIR 8/8,571, expected TPIR 97.96%; held-out on disjoint identities (420 "
        "enrolled): FPIR 4/4,173. openlfr calibrate --target-fpir 1e-3 --embedder "
        "arcface; docs/results/calibration-arcface.json",
        True),
    _key(MODEL_FILES["dlib_resnet"].sha256, False): Threshold(
        0.9639,
        "calibrated on LFW deep-funneled (watchlist split seed 0, 840 enrolled, 3,822 "
        "mated / 8,571 non-mated searches) for FPIR <= 1e-3 at watchlist size 840: "
        "FPIR 8/8,571, expected TPIR 24.33%; held-out on disjoint identities (420 "
        "enrolled): FPIR 2/4,173. openlfr calibrate --target-fpir 1e-3 --embedder "
        "dlib --no-flip; docs/results/calibration-dlib-noflip.json",
        True),
    _key(MODEL_FILES["dlib_resnet"].sha256, True): Threshold(
        0.9656,
        "calibrated on LFW deep-funneled (watchlist split seed 0, 840 enrolled, 3,822 "
        "mated / 8,571 non-mated searches) for FPIR <= 1e-3 at watchlist size 840: "
        "FPIR 8/8,571, expected TPIR 29.57%; held-out on disjoint identities (420 "
        "enrolled): FPIR 2/4,173. openlfr calibrate --target-fpir 1e-3 --embedder "
        "dlib; docs/results/calibration-dlib.json",
        True),
}


def calibrated_threshold(path: Path, model_sha256: str, flip: bool = False) -> Threshold | None:
    """The most recent calibration of this model (and flip setting) in a calibration JSON
    written by ``openlfr calibrate``; None when the file has none for it."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        records = doc.get("models", {}).get(model_sha256.lower(), [])
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ConfigError(f"calibration file {path} is unreadable: {exc}") from None
    mine = [r for r in records if bool(r.get("options", {}).get("flip", False)) == flip
            and isinstance(r.get("threshold"), (int, float))]
    if not mine:
        return None
    r = max(mine, key=lambda r: str(r.get("date", "")))
    held = r.get("held_out_fpir") or {}
    return Threshold(float(r["threshold"]),
                     f"{path}: calibrated {r.get('date', '?')} for FPIR {r.get('target_fpir')} "
                     f"at watchlist size {r.get('watchlist_size')} on {r.get('data', '?')}; "
                     f"held-out FPIR {held.get('count', '?')}/{held.get('of', '?')}", True)


def default_threshold(model_sha256: str, flip: bool = False,
                      calibration_file: Path | None = None) -> Threshold:
    """The operating threshold for a model: the latest calibration recorded in the calibration
    file (``calibration_file``, else ``Settings().resolved_calibration_file`` when it exists),
    else the shipped LFW calibration above; ConfigError for a model nobody calibrated."""
    if calibration_file is None:
        calibration_file = Settings().resolved_calibration_file
    if Path(calibration_file).is_file():
        found = calibrated_threshold(calibration_file, model_sha256, flip)
        if found is not None:
            return found
    try:
        return THRESHOLDS[_key(model_sha256, flip)]
    except KeyError:
        raise ConfigError(
            f"no similarity threshold is recorded for model sha256 {model_sha256} "
            f"(flip={flip}); calibrate one on labelled data (openlfr calibrate) "
            f"or pass an explicit threshold") from None
