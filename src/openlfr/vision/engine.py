"""The vision engine: detector + quality + aligner + embedder, composed from one config.

    engine = VisionEngine.from_config(VisionConfig())
    faces = engine.analyse(load_image("photo.jpg"))      # detect, assess, embed all
    vec = engine.embed_single(load_image("lfw.jpg"))     # the one (most central) face

Stages stay separately usable (``engine.detector``, ``engine.quality``, ``engine.embedder``)
for the pipeline, which embeds only the faces whose track needs new evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.errors import ImageError
from openlfr.faces import Faces
from openlfr.vision.align import align
from openlfr.vision.detectors import (
    Detector,
    DetectorConfig,
    ScrfdConfig,
    build_detector,
)
from openlfr.vision.embedders import ArcFaceConfig, Embedder, EmbedderConfig, build_embedder
from openlfr.vision.image import as_bgr, load_image
from openlfr.vision.quality import QualityAssessor, QualityConfig
from openlfr.vision.runtime import OnnxModelConfig, RuntimeConfig
from openlfr.vision.thresholds import Threshold, default_threshold

__all__ = ["VisionConfig", "VisionEngine", "load_image", "central_face"]


class VisionConfig(BaseModel):
    """Which detector and embedder to run, the quality gates, and CPU threads."""

    model_config = ConfigDict(extra="forbid")

    detector: DetectorConfig = Field(default_factory=ScrfdConfig,
                                     description="Face detector backend (type: scrfd | yunet).")
    embedder: EmbedderConfig = Field(default_factory=ArcFaceConfig,
                                     description="Face embedder backend (type: arcface | dlib).")
    quality: QualityConfig = Field(default_factory=QualityConfig,
                                   description="Gates a face must pass to be embedded.")
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
        from openlfr.configio import load_yaml_model

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


class VisionEngine:
    """Detector, quality assessor and embedder, injected or built from a config."""

    def __init__(self, detector: Detector, quality: QualityAssessor, embedder: Embedder,
                 config: VisionConfig | None = None) -> None:
        self.detector = detector
        self.quality = quality
        self.embedder = embedder
        self.config = config

    @classmethod
    def from_config(cls, cfg: VisionConfig | None = None) -> VisionEngine:
        cfg = (cfg or VisionConfig()).resolved()
        if cfg.opencv_threads is not None:
            import cv2

            cv2.setNumThreads(cfg.opencv_threads)
        return cls(build_detector(cfg.detector), QualityAssessor(cfg.quality),
                   build_embedder(cfg.embedder), cfg)

    @property
    def threshold(self) -> Threshold:
        """The recorded default similarity threshold for this engine's embedder."""
        return default_threshold(self.embedder.model_sha256,
                                 bool(getattr(self.embedder, "flip", False)))

    def detect(self, image: np.ndarray, min_score: float | None = None) -> Faces:
        return self.detector.detect(as_bgr(image), min_score=min_score)

    def assess(self, image: np.ndarray, faces: Faces) -> Faces:
        return self.quality.assess(as_bgr(image), faces)

    def analyse(self, image: np.ndarray, *, gate: bool = False) -> Faces:
        """Detect, assess quality and embed. ``gate=True`` embeds only faces passing the
        quality gates (others get NaN embeddings); default embeds every face."""
        image = as_bgr(image)
        faces = self.detector.detect(image)
        if len(faces) == 0:
            return self.embedder.embed(image, self.quality.assess(image, faces))
        if gate:  # only faces that can pass the gates are aligned
            faces, crops = self.quality.assess_gated(image, faces)
            mask = self.quality.passes(faces)
        else:
            crops = align(image, faces.landmarks)
            faces = self.quality.assess(image, faces, crops=crops)
            mask = np.ones(len(faces), bool)
        embed_aligned = getattr(self.embedder, "embed_aligned", None)
        if embed_aligned is not None:
            out = np.full((len(faces), self.embedder.dim), np.nan, np.float32)
            if mask.any():
                out[mask] = embed_aligned(crops[mask])
            return faces.with_embeddings(out)
        return self.embedder.embed(image, faces, mask)

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
        faces = self.detector.detect(image)
        if len(faces) == 0:
            return None
        i = central_face(faces, image.shape[1], image.shape[0])
        emb = self.embedder.embed(image, faces[i]).embeddings
        assert emb is not None
        return emb[0]
