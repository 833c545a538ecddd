"""Face quality: documented measurements per face, and gates on them.

Measurements (stored in ``Faces.quality_parts``, names from :data:`openlfr.faces.QUALITY_FIELDS`):

``size``
    min(box width, box height) in image pixels. Recognition degrades quickly below ~40 px
    between the eyes' box edges: the embedder sees an upscaled, detail-free face.
``sharpness``
    variance of the Laplacian of the grey 112x112 aligned crop. Motion blur, defocus and
    heavy compression lower it; so does upscaling a small face. Sharp, well-lit faces score
    a few hundred; clearly blurred ones under ~30.
``frontality``
    in [0, 1], 1 = facing the camera. From the five landmarks, in the frame of the eye line:
    *yaw* proxy = horizontal offset of the nose from the eye-mouth midline, in eye distances
    (0 frontal, ~0.4 at 35-40 degrees of yaw, 0.7 and beyond near profile); *pitch*
    proxy = how far the nose's height between eyes and mouth is from the frontal template's
    (0.49); and a *foreshortening* factor when the eye distance shrinks far below the
    eye-mouth distance (strongly turned heads whose landmarks collapse).
    frontality = (1 - yaw/0.7)(1 - pitch/0.5) * foreshortening, clipped to [0, 1].
``detector``
    the detector's confidence.

The overall ``quality`` in [0, 1] is the geometric mean of four normalised scores: size
(size/112, capped at 1), sharpness (s / (s + 100)), frontality and detector score. It ranks
a track's faces to pick the best evidence; the gates below decide what is embedded at all.

Size, frontality and the detector score come from the box, the landmarks and the score
alone; only sharpness needs the aligned crop. :meth:`QualityAssessor.assess_gated` applies
those three gates (and ``min_quality`` with the best sharpness possible) first and aligns
only the faces that can still pass; the others get sharpness NaN ("not measured") and
quality 0, and fail :meth:`~QualityAssessor.passes` exactly as they would have.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.faces import Faces
from openlfr.vision.align import ARCFACE_TEMPLATE, CROP_SIZE, align

__all__ = ["QualityConfig", "QualityAssessor", "frontality", "sharpness", "YAW_LIMIT",
           "PITCH_LIMIT"]

#: Nose offset from the eye-mouth midline (in eye distances) at which frontality reaches 0.
YAW_LIMIT = 0.7
#: Deviation of the nose's relative height at which frontality reaches 0.
PITCH_LIMIT = 0.5
_T = ARCFACE_TEMPLATE
_PITCH_REF = float((_T[2, 1] - (_T[0, 1] + _T[1, 1]) / 2)
                   / ((_T[3, 1] + _T[4, 1]) / 2 - (_T[0, 1] + _T[1, 1]) / 2))
_SHARPNESS_HALF = 100.0
_SIZE_FULL = 112.0


class QualityConfig(BaseModel):
    """Gates a face must pass to be embedded and compared with the watchlist."""

    model_config = ConfigDict(extra="forbid")

    min_face_px: float = Field(
        32.0, ge=0,
        description="Smallest face (min of box width and height, in frame pixels) that is "
                    "embedded. Lower reaches people further from the camera, but small faces "
                    "give unreliable embeddings and more false alerts; raise it (e.g. 48-64) "
                    "where the camera is close enough.")
    min_sharpness: float = Field(
        15.0, ge=0,
        description="Minimum variance of the Laplacian of the aligned grey crop. Higher "
                    "rejects motion-blurred and out-of-focus faces (fewer wrong matches) but "
                    "also faces in dim or compressed video (more misses).")
    min_frontality: float = Field(
        0.3, ge=0, le=1,
        description="Minimum frontality (1 = facing the camera, 0 = profile or steeply up or "
                    "down). Turned faces match worse against frontal watchlist images; higher "
                    "waits for a better view of each passer-by, lower tries more views.")
    min_score: float = Field(
        0.55, ge=0, le=1,
        description="Minimum detector confidence for embedding (the detector's own threshold "
                    "may be lower so tracking still sees weak faces). Higher drops false "
                    "detections and partly hidden faces.")
    min_quality: float = Field(
        0.0, ge=0, le=1,
        description="Minimum overall quality (geometric mean of the normalised parts). 0 "
                    "leaves the decision to the individual gates.")


def frontality(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frontality, yaw proxy, pitch proxy) per face from (n, 5, 2) landmarks."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(-1, 5, 2)
    if len(lm) == 0:
        z = np.zeros(0, np.float32)
        return z, z, z
    le, re, nose, lm_, rm = (lm[:, i] for i in range(5))
    eye_mid = (le + re) / 2
    mouth_mid = (lm_ + rm) / 2
    eye_vec = re - le
    eye_dist = np.linalg.norm(eye_vec, axis=1)
    axis = mouth_mid - eye_mid  # face's vertical axis
    axis_len = np.linalg.norm(axis, axis=1)
    scale = np.maximum(np.maximum(eye_dist, axis_len), 1e-6)
    down = axis / np.maximum(axis_len, 1e-6)[:, None]
    right = np.stack([down[:, 1], -down[:, 0]], axis=1)  # perpendicular to the face axis
    rel = nose - eye_mid
    yaw = np.abs((rel * right).sum(axis=1)) / scale
    pitch_ratio = (rel * down).sum(axis=1) / np.maximum(axis_len, 1e-6)
    pitch = np.abs(pitch_ratio - _PITCH_REF)
    # Eye distance much shorter than the eye-mouth distance: strongly turned head.
    squeeze = np.clip(eye_dist / np.maximum(axis_len, 1e-6) / 0.866, 0, 1)
    front = (np.clip(1 - yaw / YAW_LIMIT, 0, 1) * np.clip(1 - pitch / PITCH_LIMIT, 0, 1)
             * np.clip(2 * squeeze - 0.4, 0, 1) ** 0.5)
    degenerate = (eye_dist < 1e-3) | (axis_len < 1e-3)
    front[degenerate] = 0.0
    return front.astype(np.float32), yaw.astype(np.float32), pitch.astype(np.float32)


def sharpness(crops: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian of each (n, H, W, 3) BGR crop, in grey."""
    import cv2

    out = np.empty(len(crops), dtype=np.float32)
    for i, crop in enumerate(crops):
        grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        out[i] = cv2.Laplacian(grey, cv2.CV_64F).var()
    return out


class QualityAssessor:
    """Measures faces (``assess``) and applies the configured gates (``passes``)."""

    def __init__(self, cfg: QualityConfig | None = None) -> None:
        self.cfg = cfg or QualityConfig()

    def assess(self, image: np.ndarray, faces: Faces, crops: np.ndarray | None = None) -> Faces:
        """Return ``faces`` with ``quality`` and ``quality_parts`` filled in.

        ``crops``: the faces' aligned 112x112 crops if already computed (saves aligning twice).
        """
        if crops is None:
            crops = align(image, faces.landmarks)
        size, front, score = self._cheap_parts(faces)
        sharp = sharpness(crops)
        return self._with_quality(faces, size, sharp, front, score)

    @staticmethod
    def _with_quality(faces: Faces, size: np.ndarray, sharp: np.ndarray, front: np.ndarray,
                      score: np.ndarray) -> Faces:
        """Faces with the overall quality (0 where sharpness was not measured)."""
        normalised = np.stack([
            np.clip(size / _SIZE_FULL, 0, 1),
            sharp / (sharp + _SHARPNESS_HALF),
            front,
            np.clip(score, 0, 1),
        ])
        measured = ~np.isnan(sharp)
        overall = np.exp(np.log(np.maximum(np.nan_to_num(normalised), 1e-6)).mean(axis=0))
        overall[(normalised <= 0).any(axis=0) | ~measured] = 0.0
        parts = {"size": size, "sharpness": sharp, "frontality": front, "detector": score}
        return faces.with_quality(overall.astype(np.float32), parts)

    def _cheap_parts(self, faces: Faces) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size = np.minimum(faces.widths, faces.heights).astype(np.float32)
        front, _, _ = frontality(faces.landmarks)
        return size, front, faces.scores.astype(np.float32)

    def may_pass(self, faces: Faces) -> np.ndarray:
        """Mask of faces that pass every gate measurable without a crop (size, frontality,
        detector score; min_quality with the sharpness term at its best, 1): only these can
        pass :meth:`passes`, so only these need aligning."""
        size, front, score = self._cheap_parts(faces)
        c = self.cfg
        bound = (np.clip(size / _SIZE_FULL, 0, 1) * front * np.clip(score, 0, 1)) ** 0.25
        return ((size >= c.min_face_px) & (front >= c.min_frontality) & (score >= c.min_score)
                & (bound >= c.min_quality))

    def assess_gated(self, image: np.ndarray, faces: Faces) -> tuple[Faces, np.ndarray]:
        """Like :meth:`assess`, aligning only the faces :meth:`may_pass` keeps.

        Returns the assessed faces and (n, 112, 112, 3) crops: the aligned crop for those
        faces, zeros for the rest (whose sharpness is NaN and quality 0: they fail the gates
        without it). The pass mask is the same as ``passes(assess(image, faces))``.
        """
        ok = self.may_pass(faces)
        size, front, score = self._cheap_parts(faces)
        crops = np.zeros((len(faces), CROP_SIZE, CROP_SIZE, 3), np.uint8)
        sharp = np.full(len(faces), np.nan, np.float32)
        if ok.any():
            crops[ok] = align(image, faces.landmarks[ok])
            sharp[ok] = sharpness(crops[ok])
        return self._with_quality(faces, size, sharp, front, score), crops

    def passes(self, faces: Faces) -> np.ndarray:
        """Boolean mask of faces that pass every gate. ``faces`` must be assessed."""
        if faces.quality is None:
            raise ValueError("QualityAssessor.passes: faces have no quality; call assess first")
        p = faces.quality_parts
        c = self.cfg
        return ((p["size"] >= c.min_face_px) & (p["sharpness"] >= c.min_sharpness)
                & (p["frontality"] >= c.min_frontality) & (p["detector"] >= c.min_score)
                & (faces.quality >= c.min_quality))
