"""The vision engine: detector + quality + aligner + embedder, composed from one config.

    engine = VisionEngine.from_config(VisionConfig())
    frame = engine.analyse(load_image("photo.jpg"))      # detect, assess, embed every face
    frame.faces.embeddings                               # (n, 512)
    vec = engine.embed_single(load_image("lfw.jpg"))     # the one (most central) face

:meth:`VisionEngine.analyse` is the one place where detect, align, assess and embed are
composed. It takes an image or a :class:`~openlfr.faces.Frame` and fills in what ``need``
asks for and the frame lacks, so a caller can run the stages one at a time with its own
steps in between: the camera worker detects and assesses, tracks, then embeds only the
faces whose track needs new evidence (``frame.needs``); enrolment assesses every face and
embeds the one usable face as a template; the evaluation embeds the face it chose.

One engine serves a whole process, probes and enrolment templates alike: the flip-fusion
setting of templates (``VisionConfig.enrolment_flip``) is a setting of the engine's
embedder, which then runs the same model session with flip fusion on for templates only.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.configio import load_yaml_model
from openlfr.errors import ImageError
from openlfr.faces import Faces, Frame
from openlfr.vision.align import align
from openlfr.vision.detectors import (
    Detector,
    DetectorConfig,
    ScrfdConfig,
    build_detector,
)
from openlfr.vision.embedders import (
    ArcFaceConfig,
    ArcFaceEmbedder,
    Embedder,
    EmbedderConfig,
    build_embedder,
)
from openlfr.vision.image import as_bgr, load_image
from openlfr.vision.quality import QualityAssessor, QualityConfig
from openlfr.vision.runtime import OnnxModelConfig, RuntimeConfig
from openlfr.vision.thresholds import Threshold, default_threshold

__all__ = ["VisionConfig", "VisionEngine", "Need", "load_image", "central_face"]


class VisionConfig(BaseModel):
    """Which detector and embedder to run, the quality gates, and CPU threads."""

    model_config = ConfigDict(extra="forbid")

    detector: DetectorConfig = Field(default_factory=ScrfdConfig,
                                     description="Face detector backend (type: scrfd | yunet).")
    embedder: EmbedderConfig = Field(default_factory=ArcFaceConfig,
                                     description="Face embedder backend (type: arcface | dlib).")
    quality: QualityConfig = Field(default_factory=QualityConfig,
                                   description="Gates a face must pass to be embedded.")
    enrolment_flip: bool = Field(True, description=(
        "Flip fusion for enrolment templates (the embedder's flip setting holds for probes). "
        "On: a slightly better template at twice the cost of one face, which enrolment can "
        "afford; one setting for every enrolment (command line, API, demo). Probes and "
        "templates stay comparable either way (the same model)."))
    threads: int | None = Field(
        None, ge=1, le=256,
        description="If set, intra-op threads for every ONNX model (overrides each backend's "
                    "runtime.intra_op_threads).")
    provider: Literal["cpu", "cuda", "tensorrt"] | None = Field(
        None,
        description="If set, the onnxruntime execution provider of every ONNX model "
                    "(overrides each backend's runtime.provider; see docs/inference.md).")
    fallback: Literal["none", "cpu"] | None = Field(
        None,
        description="If set, every ONNX model's runtime.fallback: none refuses to start when "
                    "the provider cannot load, cpu runs on the CPU with a warning.")
    precision: Literal["fp32", "fp16"] | None = Field(
        None, description="If set, every ONNX model's runtime.precision (fp16: GPU only).")
    opencv_threads: int | None = Field(
        None, ge=0, le=256,
        description="If set, OpenCV's thread count for the whole process (cv2.setNumThreads; "
                    "0 = no threading). OpenCV splits even a 112x112 warp across threads, "
                    "which costs more than it saves on a busy small machine (alignment "
                    "0.41 -> 0.13 ms a face with 1 thread here); but large resizes gain from "
                    "threads on an idle machine.")

    @classmethod
    def from_yaml(cls, path: str | Path) -> VisionConfig:
        """Load from a YAML file; errors name the offending key."""
        return load_yaml_model(cls, path, "vision config")

    def resolved(self) -> VisionConfig:
        """Copy with ``threads``, ``provider``, ``fallback`` and ``precision`` pushed down into
        each ONNX backend's runtime config."""
        runtime: dict[str, object] = {k: v for k, v in (
            ("intra_op_threads", self.threads), ("provider", self.provider),
            ("fallback", self.fallback), ("precision", self.precision)) if v is not None}
        if not runtime:
            return self

        def pushed(stage):  # YuNet and dlib run no ONNX model
            if not isinstance(stage, OnnxModelConfig):
                return stage
            rt = RuntimeConfig.model_validate({**stage.runtime.model_dump(), **runtime})
            return stage.model_copy(update={"runtime": rt})

        return self.model_copy(update={"detector": pushed(self.detector),
                                       "embedder": pushed(self.embedder)})


def central_face(faces: Faces, width: int, height: int) -> int:
    """Index of the face whose box centre is nearest the image centre (ties: larger face)."""
    if len(faces) == 0:
        raise ImageError("no face found in the image")
    cx = (faces.boxes[:, 0] + faces.boxes[:, 2]) / 2 - width / 2
    cy = (faces.boxes[:, 1] + faces.boxes[:, 3]) / 2 - height / 2
    dist = np.hypot(cx, cy) / max(width, height)
    size = np.minimum(faces.widths, faces.heights) / max(width, height)
    return int(np.argmin(dist - 0.25 * size))


class Need(enum.Flag):
    """What :meth:`VisionEngine.analyse` should fill in.

    FACES: detect (every analysis starts with it). QUALITY: the quality parts and gates of
    every face, and the aligned crops they were measured on. EMBEDDINGS: embed the faces
    ``frame.needs`` names (when it is None: every face, or with ``gate=True`` those that
    pass the gates), from the frame's crops when it has them. ALL: the three."""

    FACES = enum.auto()
    QUALITY = enum.auto()
    EMBEDDINGS = enum.auto()
    ALL = FACES | QUALITY | EMBEDDINGS


class VisionEngine:
    """Detector, quality assessor and embedder, injected or built from a config.

    ``config`` describes the parts (the detector's score threshold, the enrolment flip);
    ``template_embedder`` embeds enrolment templates (default: ``embedder``)."""

    def __init__(self, detector: Detector, quality: QualityAssessor, embedder: Embedder,
                 config: VisionConfig | None = None, *,
                 template_embedder: Embedder | None = None) -> None:
        self.detector = detector
        self.quality = quality
        self.embedder = embedder
        self.template_embedder = template_embedder or embedder
        self.config = config or VisionConfig()

    @classmethod
    def from_config(cls, cfg: VisionConfig | None = None) -> VisionEngine:
        cfg = (cfg or VisionConfig()).resolved()
        if cfg.opencv_threads is not None:
            import cv2

            cv2.setNumThreads(cfg.opencv_threads)
        embedder = build_embedder(cfg.embedder)
        return cls(build_detector(cfg.detector), QualityAssessor(cfg.quality), embedder, cfg,
                   template_embedder=_with_flip(embedder, cfg.embedder, cfg.enrolment_flip))

    @property
    def score_threshold(self) -> float:
        """The detector's confidence threshold: faces below it are ``frame.low``."""
        return float(self.config.detector.score_threshold)

    @property
    def threshold(self) -> Threshold:
        """The recorded default similarity threshold for this engine's embedder."""
        return self.threshold_for()

    def threshold_for(self, calibration_file: Path | None = None) -> Threshold:
        """The recorded threshold, or the most recent calibration in ``calibration_file``."""
        return default_threshold(self.embedder.model_sha256, self.embedder.flip,
                                 calibration_file)

    # -- the stages, composed -----------------------------------------------------------
    def analyse(self, image: np.ndarray | Frame, need: Need = Need.ALL, *,
                gate: bool = False, floor: float | None = None,
                template: bool = False) -> Frame:
        """Fill in what ``need`` asks for (see :class:`Need`): detection and the gates when
        the frame lacks them; the embeddings of the faces ``frame.needs`` names.

        ``gate``: assess the cheap gates first and align only the faces that may pass them;
        without ``frame.needs``, embed only the faces that pass. ``floor``: also keep the
        detections from this confidence up to the threshold (``frame.low``). ``template``:
        embed as enrolment templates (the enrolment flip setting)."""
        frame = image if isinstance(image, Frame) else Frame(as_bgr(image))
        if frame.faces is None:
            frame = self._detect(frame, floor)
        if need & Need.QUALITY and frame.passes is None:
            frame = self._assess(frame, gate)
        if need & Need.EMBEDDINGS:
            frame = self._embed(frame, frame.embed_mask(gate), template)
        return frame

    def _detect(self, frame: Frame, floor: float | None) -> Frame:
        threshold = self.score_threshold
        if floor is None or floor >= threshold:
            return frame.with_faces(self.detector.detect(frame.image))
        found = self.detector.detect(frame.image, min_score=floor)
        sure = found.scores >= threshold
        return frame.with_faces(found[sure], low=found[~sure])

    def _assess(self, frame: Frame, gate: bool) -> Frame:
        faces = frame.analysed
        if gate:  # only faces that can pass the gates are aligned
            faces, crops = self.quality.assess_gated(frame.image, faces)
        else:
            crops = align(frame.image, faces.landmarks)
            faces = self.quality.assess(frame.image, faces, crops=crops)
        return frame.with_gates(faces, self.quality.passes(faces), crops)

    def _embed(self, frame: Frame, mask: np.ndarray, template: bool) -> Frame:
        embedder = self.template_embedder if template else self.embedder
        faces = frame.analysed
        if frame.crops is None or not embedder.uses_crops:  # the embedder aligns them
            return frame.with_filled(embedder.embed(frame.image, faces, mask)).without_crops()
        out = np.full((len(faces), embedder.dim), np.nan, np.float32)
        if mask.any():
            out[mask] = embedder.embed_aligned(frame.crops[mask])
        return frame.with_filled(faces.with_embeddings(out)).without_crops()

    # -- one face per image ---------------------------------------------------------------
    def detect(self, image: np.ndarray, min_score: float | None = None) -> Faces:
        return self.detector.detect(as_bgr(image), min_score=min_score)

    def assess(self, image: np.ndarray, faces: Faces) -> Faces:
        return self.quality.assess(as_bgr(image), faces)

    def embed_single(self, image: np.ndarray) -> np.ndarray:
        """Embedding of the one face an image is of (the most central detected face), e.g.
        an LFW image or an enrolment photo. ImageError if no face is found."""
        emb = self._central_embedding(as_bgr(image))
        if emb is None:
            raise ImageError("no face found in the image")
        return emb

    def embed_paths(self, paths: list[str | Path]) -> tuple[np.ndarray, np.ndarray]:
        """Embed the central face of each image file; returns (embeddings (n, D) with NaN
        rows where no face was found, found mask (n,)). A missing or unreadable file raises
        ImageError: only "no face" is reported through the mask."""
        out = np.full((len(paths), self.embedder.dim), np.nan, dtype=np.float32)
        found = np.zeros(len(paths), dtype=bool)
        for k, p in enumerate(paths):
            emb = self._central_embedding(load_image(p))
            if emb is not None:
                out[k] = emb
                found[k] = True
        return out, found

    def _central_embedding(self, image: np.ndarray) -> np.ndarray | None:
        """Embedding of the most central face of a BGR image; None when there is no face."""
        faces = self.analyse(image, Need.FACES).analysed
        if len(faces) == 0:
            return None
        i = central_face(faces, image.shape[1], image.shape[0])
        one = self.analyse(Frame(image, faces=faces[i]), Need.EMBEDDINGS).analysed
        assert one.embeddings is not None
        return one.embeddings[0]


def _with_flip(embedder: Embedder, cfg: EmbedderConfig, flip: bool) -> Embedder:
    """``embedder`` with flip fusion set to ``flip``: itself when it already is; for ArcFace
    a second embedder on the same model session (nothing loaded twice)."""
    if cfg.flip == flip:
        return embedder
    other = cfg.model_copy(update={"flip": flip})
    if isinstance(embedder, ArcFaceEmbedder) and isinstance(other, ArcFaceConfig):
        return ArcFaceEmbedder(other, session=embedder.session,
                               model_sha256=embedder.model_sha256)
    return build_embedder(other)
