"""Face embedders: aligned face in, L2-normalised vector out, so cosine = dot product.

Backends, chosen by the ``type`` key of :data:`EmbedderConfig`:

- ``arcface`` (default): ArcFace MobileFaceNet trained on WebFace600K (``w600k_mbf.onnx``,
  InsightFace, non-commercial research use), 512-d; or your own ArcFace-style ONNX (input
  (N, 3, 112, 112) RGB scaled to [-1, 1]) given by path and sha256.
- ``dlib``: dlib's ResNet-29 (128-d) with its 5-point shape predictor; weights without a
  usage restriction. Slower (the ``dlib-bin`` wheel has no BLAS) and less accurate.

Two levels of call:

- ``embed(image, faces, mask=None) -> Faces``: embeds the faces selected by ``mask`` (all by
  default) and returns ``faces`` with ``embeddings`` filled in; rows of faces not selected
  are NaN, so the pipeline can embed only faces whose track needs new evidence.
- ``embed_aligned(crops) -> (n, dim)``: for crops already aligned by :func:`align.align`
  (the engine's crops, shared with the quality gates, for an embedder that ``uses_crops``).
  dlib (``uses_crops`` False: the engine calls ``embed``) finds its own landmarks on the
  crop, padded so that its chip's margin stays inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.errors import ModelFileError, missing_backend
from openlfr.faces import Faces
from openlfr.vision import models
from openlfr.vision.align import CROP_SIZE, align
from openlfr.vision.image import as_bgr
from openlfr.vision.runtime import OnnxModelConfig, open_model

__all__ = ["Embedder", "ArcFaceConfig", "DlibConfig", "EmbedderConfig", "ArcFaceEmbedder",
           "DlibEmbedder", "build_embedder", "l2_normalise"]


@runtime_checkable
class Embedder(Protocol):
    """What every embedder does."""

    name: str
    dim: int
    model_sha256: str
    #: flip fusion: the mirrored face is embedded too and the two vectors added
    flip: bool
    #: True: the model's input is the aligned crop, so the engine hands it the crops it
    #: measured quality on (``embed_aligned``); False: it reads the whole image (``embed``)
    uses_crops: bool

    def embed(self, image: np.ndarray, faces: Faces, mask: np.ndarray | None = None) -> Faces:
        """Return ``faces`` with embeddings (NaN rows where ``mask`` is False)."""
        ...

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """(n, 112, 112, 3) BGR uint8 crops aligned by :func:`align.align` -> (n, dim) unit
        vectors (the engine passes the crops it measured quality on)."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _selection(faces: Faces, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return np.arange(len(faces))
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (len(faces),):
        raise ValueError(f"embed mask: expected bool array of shape ({len(faces)},), "
                         f"got {mask.dtype} {mask.shape}")
    return np.nonzero(mask)[0]


def _checked_crops(crops: np.ndarray) -> np.ndarray:
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
        raise ValueError(f"embed_aligned: expected (n, 112, 112, 3) crops, got {crops.shape}")
    return crops


def _fill(faces: Faces, idx: np.ndarray, vectors: np.ndarray, dim: int) -> Faces:
    out = np.full((len(faces), dim), np.nan, dtype=np.float32)
    if len(idx):
        out[idx] = vectors
    return faces.with_embeddings(out)


class ArcFaceConfig(OnnxModelConfig):
    """ArcFace-style ONNX embedder (default: MobileFaceNet, WebFace600K, 512-d)."""

    type: Literal["arcface"] = "arcface"
    model_path: Path | None = Field(
        None, description="Your own ArcFace-style ONNX (input N x 3 x 112 x 112, RGB, "
                          "(x - 127.5) / 127.5). Requires model_sha256. Its similarity "
                          "threshold must be calibrated (openlfr evaluation) before use.")
    flip: bool = Field(
        False,
        description="Also embed the mirrored crop and add the two vectors. Measurably more "
                    "accurate (use it for enrolment and evaluation) at twice the cost per "
                    "face; thresholds calibrated with flip on hold only with flip on.")
    batch_size: int = Field(
        1, ge=1, le=1024,
        description="Faces per model call. On the 2-core reference CPU, batch 1 was the "
                    "cheapest per face (about 18 CPU-ms vs 21-23 at batch 8-32: larger "
                    "batches overflow the caches), so 1 is the default; raise it on a GPU "
                    "or a CPU with large caches (benchmarks/bench_vision.py measures it).")


class DlibConfig(BaseModel):
    """dlib ResNet-29 face descriptor (128-d), weights from ``face-recognition-models``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["dlib"] = "dlib"
    jitters: int = Field(
        0, ge=0, le=100,
        description="Randomly jittered copies averaged per face (dlib's num_jitters). Each "
                    "costs one more forward pass (~75 ms here) for a small accuracy gain; "
                    "0 for live use, 10 or so for enrolment if time allows.")
    padding: float = Field(
        0.25, ge=0.0, le=1.0,
        description="Context around the face in dlib's 150x150 chip; 0.25 is what the model "
                    "was trained with.")
    flip: bool = Field(
        False,
        description="Also embed the mirrored face and add the two unit vectors (as ArcFace's "
                    "flip). Twice the cost per face; on LFW it lifts 10-fold verification "
                    "(98.72% without). Thresholds calibrated with flip on hold only with it on.")


EmbedderConfig = Annotated[ArcFaceConfig | DlibConfig, Field(discriminator="type")]


class ArcFaceEmbedder:
    """ArcFace ONNX on onnxruntime; batched, L2-normalised, optional flip fusion."""

    uses_crops = True

    def __init__(self, cfg: ArcFaceConfig | None = None, session: object | None = None,
                 model_sha256: str | None = None) -> None:
        """Build from ``cfg``; or inject an already open ``session`` (tests, sharing one
        session between configurations) with the ``model_sha256`` of the file it was opened
        from."""
        self.cfg = cfg or ArcFaceConfig()
        if session is None:
            session, self.model_sha256 = open_model(self.cfg, "arcface_mbf", "ArcFace embedder")
        else:
            self.model_sha256 = model_sha256 or self.cfg.model_sha256 or ""
        self.session = session
        inp = session.get_inputs()[0]  # type: ignore[attr-defined]
        self._input = inp.name
        shape = list(inp.shape)
        if len(shape) != 4 or shape[1] != 3 or shape[2:] != [CROP_SIZE, CROP_SIZE]:
            raise ModelFileError(f"ArcFace model input must be (N, 3, 112, 112), "
                                 f"this one is {shape}")
        self._output = session.get_outputs()[0].name  # type: ignore[attr-defined]
        out_shape = session.get_outputs()[0].shape  # type: ignore[attr-defined]
        self.dim = int(out_shape[-1]) if isinstance(out_shape[-1], int) else 512
        self.name = "arcface" + ("+flip" if self.cfg.flip else "")
        self.flip = self.cfg.flip

    def _run(self, crops_bgr: np.ndarray) -> np.ndarray:
        blob = crops_bgr[..., ::-1].astype(np.float32)
        blob -= 127.5
        blob *= 1.0 / 127.5
        blob = np.ascontiguousarray(blob.transpose(0, 3, 1, 2))
        return self.session.run([self._output], {self._input: blob})[0]  # type: ignore[attr-defined]

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """(n, 112, 112, 3) BGR uint8 aligned crops -> (n, dim) unit vectors."""
        crops = np.asarray(crops)
        if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(f"embed_aligned: expected (n, 112, 112, 3) crops, got {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = []
        step = self.cfg.batch_size
        for i in range(0, len(crops), step):
            chunk = crops[i:i + step]
            if self.flip:
                both = self._run(np.concatenate([chunk, chunk[:, :, ::-1]]))
                vec = both[:len(chunk)] + both[len(chunk):]
            else:
                vec = self._run(chunk)
            out.append(vec)
        return l2_normalise(np.concatenate(out))

    def embed(self, image: np.ndarray, faces: Faces, mask: np.ndarray | None = None) -> Faces:
        idx = _selection(faces, mask)
        if len(idx) == 0:
            return _fill(faces, idx, np.zeros((0, self.dim), np.float32), self.dim)
        image = as_bgr(image)
        crops = align(image, faces.landmarks[idx])
        return _fill(faces, idx, self.embed_aligned(crops), self.dim)


class DlibEmbedder:
    """dlib ResNet-29: 5-point shape predictor on the detector's box, 150x150 chip, 128-d."""

    dim = 128
    uses_crops = False  # its own shape predictor on the detector's box, in the whole image

    def __init__(self, cfg: DlibConfig | None = None) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise missing_backend(exc, "the dlib embedder", "pip install dlib-bin") from exc

        self.cfg = cfg or DlibConfig()
        net_path = models.verified("dlib_resnet")
        shape_path = models.verified("dlib_shape5")
        self.model_sha256 = models.sha256_of(net_path)
        self._shape = dlib.shape_predictor(str(shape_path))
        self._net = dlib.face_recognition_model_v1(str(net_path))
        self.flip = self.cfg.flip
        self.name = "dlib" + ("+flip" if self.flip else "")

    def _shapes(self, rgb: np.ndarray, boxes: np.ndarray):  # -> dlib.full_object_detections
        import dlib

        shapes = dlib.full_object_detections()
        for x1, y1, x2, y2 in boxes:
            rect = dlib.rectangle(int(round(x1)), int(round(y1)), int(round(x2)),
                                  int(round(y2)))
            shapes.append(self._shape(rgb, rect))
        return shapes

    def embed(self, image: np.ndarray, faces: Faces, mask: np.ndarray | None = None) -> Faces:
        idx = _selection(faces, mask)
        if len(idx) == 0:
            return _fill(faces, idx, np.zeros((0, self.dim), np.float32), self.dim)
        rgb = np.ascontiguousarray(as_bgr(image)[:, :, ::-1])
        vecs = self._descriptors(rgb, faces.boxes[idx])
        if self.flip:  # mirror image and boxes; shapes are found again on the mirror
            mirror = np.ascontiguousarray(rgb[:, ::-1])
            boxes = faces.boxes[idx].copy()
            boxes[:, [0, 2]] = rgb.shape[1] - faces.boxes[idx][:, [2, 0]]
            vecs = vecs + self._descriptors(mirror, boxes)
        return _fill(faces, idx, l2_normalise(vecs), self.dim)

    def embed_aligned(self, crops: np.ndarray) -> np.ndarray:
        """Each aligned crop as one face, padded so that dlib's chip margin stays inside."""
        crops = _checked_crops(crops)
        pad = CROP_SIZE // 2
        one = Faces(np.array([[pad, pad, pad + CROP_SIZE, pad + CROP_SIZE]], np.float32),
                    np.ones(1, np.float32), np.zeros((1, 5, 2), np.float32))
        vecs = [self.embed(np.pad(c, ((pad, pad), (pad, pad), (0, 0)), mode="edge"), one)
                .embeddings[0] for c in crops]  # type: ignore[index]
        return np.array(vecs, np.float32).reshape(len(crops), self.dim)

    def _descriptors(self, rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        vecs = self._net.compute_face_descriptor(rgb, self._shapes(rgb, boxes),
                                                 self.cfg.jitters, self.cfg.padding)
        return l2_normalise(np.array([np.asarray(v) for v in vecs]))


def build_embedder(cfg: ArcFaceConfig | DlibConfig | None = None) -> ArcFaceEmbedder | DlibEmbedder:
    """The embedder a config names (default ArcFace MobileFaceNet)."""
    cfg = cfg or ArcFaceConfig()
    if isinstance(cfg, ArcFaceConfig):
        return ArcFaceEmbedder(cfg)
    if isinstance(cfg, DlibConfig):
        return DlibEmbedder(cfg)
    raise TypeError(f"unknown embedder config {type(cfg).__name__}")
