"""Face detectors: image in, :class:`~openlfr.faces.Faces` (boxes, scores, 5 landmarks) out.

Backends, chosen by the ``type`` key of :data:`DetectorConfig`:

- ``scrfd`` (default): SCRFD-500M with keypoints (InsightFace, ONNX via onnxruntime). Any input
  size that is a multiple of 32 works, so a frame is resized keeping its aspect ratio to fit
  ``max_size`` and padded right/bottom to the next multiple of 32 -- no square padding, no
  wasted pixels on wide frames.
- ``yunet``: libfacedetection's YuNet through the ``yuface`` package (BSD weights, very fast).

Landmark order for every backend: left eye, right eye (as seen in the image), nose, left mouth
corner, right mouth corner. Boxes and landmarks are in the original image's pixels.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.errors import ModelFileError, missing_backend
from openlfr.faces import Faces
from openlfr.vision.image import as_bgr
from openlfr.vision.runtime import OnnxModelConfig, open_model

__all__ = ["Detector", "ScrfdConfig", "YunetConfig", "DetectorConfig", "ScrfdDetector",
           "YunetDetector", "build_detector", "nms"]


@runtime_checkable
class Detector(Protocol):
    """What every detector does."""

    name: str

    def detect(self, image: np.ndarray, min_score: float | None = None) -> Faces:
        """Find faces in a BGR uint8 image (H, W, 3). ``min_score`` keeps detections down to
        that confidence for this call (default: the configured ``score_threshold``); the
        faces at or above the threshold are the same either way."""
        ...


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = (boxes[:, i].astype(np.float64) for i in range(4))
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class ScrfdConfig(OnnxModelConfig):
    """SCRFD detector (default: SCRFD-500M with keypoints, InsightFace, non-commercial)."""

    type: Literal["scrfd"] = "scrfd"
    max_size: int = Field(
        640, ge=64, le=4096,
        description="Frames are scaled down so their long side is at most this many pixels "
                    "(never up). Larger finds smaller faces (a face must be ~10 px at this "
                    "scale) but costs time roughly in proportion to the pixels: 640 on a 1080p "
                    "frame keeps faces of ~30 px and up.")
    score_threshold: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Minimum detector confidence. Lower finds more small, blurred or turned "
                    "faces and more false detections (patterns, posters); the quality gate "
                    "can apply a stricter score before embedding.")
    nms_iou: float = Field(
        0.4, gt=0.0, le=1.0,
        description="Overlap (IoU) above which the weaker of two boxes is dropped. Lower "
                    "merges faces in tight crowds; higher keeps duplicates.")


class YunetConfig(BaseModel):
    """YuNet detector via ``yuface`` (libfacedetection, BSD-3-Clause weights)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["yunet"] = "yunet"
    max_size: int = Field(
        640, ge=64, le=960,
        description="Frames are scaled down so the long side is at most this (YuNet degrades "
                    "above 960 px). Larger finds smaller faces at more cost.")
    score_threshold: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Minimum confidence (YuNet reports 0-100; this is that divided by 100). "
                    "Lower finds more faces and more false detections.")
    nms_iou: float = Field(
        0.3, gt=0.0, le=1.0,
        description="YuNet returns many overlapping raw boxes per face; boxes overlapping a "
                    "stronger one by more than this IoU are dropped.")


DetectorConfig = Annotated[ScrfdConfig | YunetConfig, Field(discriminator="type")]


def _fit_scale(h: int, w: int, max_size: int) -> float:
    return min(1.0, max_size / max(h, w))


class ScrfdDetector:
    """SCRFD with 5 keypoints; strides 8/16/32, two anchors per location."""

    STRIDES = (8, 16, 32)
    ANCHORS = 2

    def __init__(self, cfg: ScrfdConfig | None = None, session: object | None = None,
                 model_sha256: str | None = None) -> None:
        """Build from ``cfg``; or inject an already open ``session`` (tests, sharing one
        session between configurations) with the ``model_sha256`` of the file it was opened
        from."""
        self.cfg = cfg or ScrfdConfig()
        if session is None:
            session, self.model_sha256 = open_model(self.cfg, "scrfd_500m", "SCRFD detector")
        else:
            self.model_sha256 = model_sha256 or self.cfg.model_sha256 or ""
        self.session = session
        self.name = "scrfd"
        self._input = session.get_inputs()[0].name  # type: ignore[attr-defined]
        outs = [o.name for o in session.get_outputs()]  # type: ignore[attr-defined]
        wanted = [f"{k}_{s}" for k in ("score", "bbox", "kps") for s in self.STRIDES]
        if not set(wanted) <= set(outs):  # roles come from names, never guessed from shapes

            raise ModelFileError(f"SCRFD model must have outputs {', '.join(wanted)} (score, "
                                 f"box and keypoints per stride); this one has {outs}")
        self._outputs = wanted
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}

    # -- preprocessing ---------------------------------------------------------------------
    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        """Resize to fit max_size, pad right/bottom to a multiple of 32, normalise to NCHW.

        One ``cv2.dnn.blobFromImage`` call resizes (bilinear), swaps BGR to RGB and
        normalises, (x - 127.5) / 128; padding is 0 after normalisation (mid-grey). A 1080p
        frame takes about a third of the time of the former area resize + numpy steps with
        the same faces found (benchmarks/bench_vision.py --preprocess).
        """
        import cv2

        h, w = image.shape[:2]
        scale = _fit_scale(h, w, self.cfg.max_size)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        blob = cv2.dnn.blobFromImage(image, 1.0 / 128.0, (nw, nh), (127.5, 127.5, 127.5),
                                     swapRB=True, crop=False)
        ph, pw = -(-nh // 32) * 32, -(-nw // 32) * 32
        if (ph, pw) != (nh, nw):
            padded = np.zeros((1, 3, ph, pw), dtype=np.float32)
            padded[:, :, :nh, :nw] = blob
            blob = padded
        return blob, scale

    def _anchor_centres(self, ph: int, pw: int, stride: int) -> np.ndarray:
        key = (ph, pw, stride)
        if key not in self._centres:
            fh, fw = ph // stride, pw // stride
            ys, xs = np.mgrid[:fh, :fw]
            c = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            self._centres[key] = np.repeat(c, self.ANCHORS, axis=0)
        return self._centres[key]

    # -- decoding --------------------------------------------------------------------------
    def decode(self, outputs: list[np.ndarray], ph: int, pw: int, scale: float,
               min_score: float | None = None) -> Faces:
        """Turn raw outputs (of the one image; a batch axis is dropped) into Faces in
        original pixels."""
        floor = self.cfg.score_threshold if min_score is None else min_score
        boxes_all, scores_all, kps_all = [], [], []
        n = len(self.STRIDES)

        def pick(a: np.ndarray) -> np.ndarray:
            return a[0] if a.ndim == 3 else a

        for k, stride in enumerate(self.STRIDES):
            scores = pick(outputs[k]).reshape(-1)
            keep = np.nonzero(scores >= floor)[0]
            if keep.size == 0:
                continue
            centres = self._anchor_centres(ph, pw, stride)[keep]
            dist = pick(outputs[n + k]).reshape(-1, 4)[keep] * stride
            kps = pick(outputs[2 * n + k]).reshape(-1, 10)[keep] * stride
            boxes = np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1)
            kps = kps.reshape(-1, 5, 2) + centres[:, None, :]
            boxes_all.append(boxes)
            scores_all.append(scores[keep])
            kps_all.append(kps)
        if not boxes_all:
            return Faces.empty()
        boxes = np.concatenate(boxes_all)
        scores = np.concatenate(scores_all)
        kps = np.concatenate(kps_all)
        keep = nms(boxes, scores, self.cfg.nms_iou)
        return Faces(boxes[keep] / scale, scores[keep], kps[keep] / scale)

    def detect(self, image: np.ndarray, min_score: float | None = None) -> Faces:
        image = as_bgr(image)
        blob, scale = self.prepare(image)
        outputs = self.session.run(self._outputs, {self._input: blob})  # type: ignore[attr-defined]
        faces = self.decode(outputs, blob.shape[2], blob.shape[3], scale, min_score=min_score)
        return _clip(faces, image.shape[1], image.shape[0])


def _clip(faces: Faces, w: int, h: int) -> Faces:
    if len(faces) == 0:
        return faces
    boxes = faces.boxes.copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    ok = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
    return Faces(boxes[ok], faces.scores[ok], faces.landmarks[ok])


class YunetDetector:
    """YuNet via ``yuface``: BGR uint8 in; confidence 0-100, xywh and 5 landmarks out."""

    def __init__(self, cfg: YunetConfig | None = None) -> None:
        # yuface runs on OpenMP; busy-waiting OpenMP threads fight the ONNX sessions for the
        # cores (measured here: 236 ms -> 114 ms a 640x443 frame on a loaded 2-core machine).
        # Only effective before OpenMP starts, i.e. before yuface's first import.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:  # fail here, at construction, if missing
            import yuface  # noqa: F401
        except ImportError as exc:
            raise missing_backend(exc, "the YuNet detector", "pip install yuface") from exc

        self.cfg = cfg or YunetConfig()
        self.name = "yunet"
        self.model_sha256 = ""  # weights are compiled into the yuface library

    def detect(self, image: np.ndarray, min_score: float | None = None) -> Faces:
        import cv2
        import yuface

        image = as_bgr(image)
        h, w = image.shape[:2]
        scale = _fit_scale(h, w, self.cfg.max_size)
        small = image if scale == 1.0 else cv2.resize(  # bilinear: a third of INTER_AREA's
            image, (max(1, round(w * scale)), max(1, round(h * scale))),  # time, same faces
            interpolation=cv2.INTER_LINEAR)
        floor = self.cfg.score_threshold if min_score is None else min_score
        # yuface keeps conf > threshold (integer percent); ask a little lower and apply
        # ">= floor" here, as SCRFD does, so a threshold means the same for both detectors
        confs, xywh, lms = yuface.detect(np.ascontiguousarray(small),
                                         conf=max(0.0, floor - 0.01))
        scores = confs.astype(np.float32) / 100.0
        ok = scores >= floor - 1e-6
        if not ok.any():
            return Faces.empty()
        scores = scores[ok]
        xywh = xywh[ok].astype(np.float32)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        lms = lms[ok].astype(np.float32).reshape(-1, 5, 2)
        keep = nms(boxes, scores, self.cfg.nms_iou)
        faces = Faces(boxes[keep] / scale, scores[keep], lms[keep] / scale)
        return _clip(faces, w, h)


def build_detector(cfg: ScrfdConfig | YunetConfig | None = None) -> ScrfdDetector | YunetDetector:
    """The detector a config names (default SCRFD-500M)."""
    cfg = cfg or ScrfdConfig()
    if isinstance(cfg, ScrfdConfig):
        return ScrfdDetector(cfg)
    if isinstance(cfg, YunetConfig):
        return YunetDetector(cfg)
    raise TypeError(f"unknown detector config {type(cfg).__name__}")
