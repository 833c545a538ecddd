"""The one face-batch type that flows through every pipeline stage.

A :class:`Faces` holds ``n`` faces found in one frame as parallel arrays, one per field.
Each stage takes a ``Faces`` and returns a new one with more filled in:

    detector.detect(image)            -> Faces(boxes, scores, landmarks)
    quality.assess(image, faces)      -> faces.with_quality(...)
    tracker.update(faces)             -> faces.with_track_ids(...)
    embedder.embed(image, faces)      -> faces.with_embeddings(...)

Arrays are validated at construction with messages that show expected and actual shapes.
Boolean masks, integer index arrays and slices select faces and return a filtered copy.
Instances are immutable: "with more filled in" always means a new object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Faces", "QUALITY_FIELDS"]

#: Named per-face quality measurements kept in ``Faces.quality_parts`` (see vision.quality).
QUALITY_FIELDS = ("size", "sharpness", "frontality", "detector")

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


def _check(name: str, arr: np.ndarray, shape: tuple[int | None, ...]) -> None:
    if arr.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(arr.shape, shape, strict=False)
    ):
        dims = ["*" if s is None else str(s) for s in shape]
        want = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        raise ValueError(f"Faces.{name}: expected shape {want}, got {arr.shape}")


@dataclass(frozen=True, eq=False)
class Faces:
    """Faces in one image, as parallel arrays.

    boxes:       (n, 4) float32, x1 y1 x2 y2 in image pixels
    scores:      (n,)   float32, detector confidence in [0, 1]
    landmarks:   (n, 5, 2) float32, eyes (left, right as seen), nose, mouth corners
    quality:     (n,)   float32 overall quality in [0, 1], or None before assessment
    quality_parts: name -> (n,) float32, the documented measurements behind ``quality``
    track_ids:   (n,)   int64, or None before tracking (-1: not assigned)
    embeddings:  (n, D) float32 L2-normalised, or None before embedding; rows of faces
                 that were not embedded this frame are NaN (see ``embedded``)
    """

    boxes: FloatArray
    scores: FloatArray
    landmarks: FloatArray
    quality: FloatArray | None = None
    quality_parts: Mapping[str, FloatArray] = field(default_factory=dict)
    track_ids: IntArray | None = None
    embeddings: FloatArray | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "boxes", np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
             if np.asarray(self.boxes).size == 0 else np.asarray(self.boxes, dtype=np.float32))
        n = self.boxes.shape[0] if self.boxes.ndim == 2 else -1
        _check("boxes", self.boxes, (None, 4))
        set_(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        _check("scores", self.scores, (n,))
        lm = np.asarray(self.landmarks, dtype=np.float32)
        if lm.size == 0:
            lm = lm.reshape(0, 5, 2)
        set_(self, "landmarks", lm)
        _check("landmarks", self.landmarks, (n, 5, 2))
        if self.quality is not None:
            set_(self, "quality", np.asarray(self.quality, dtype=np.float32).reshape(-1))
            _check("quality", self.quality, (n,))
        parts = {k: np.asarray(v, dtype=np.float32).reshape(-1)
                 for k, v in self.quality_parts.items()}
        for k, v in parts.items():
            _check(f"quality_parts[{k!r}]", v, (n,))
        set_(self, "quality_parts", parts)
        if self.track_ids is not None:
            set_(self, "track_ids", np.asarray(self.track_ids, dtype=np.int64).reshape(-1))
            _check("track_ids", self.track_ids, (n,))
        if self.embeddings is not None:
            emb = np.asarray(self.embeddings, dtype=np.float32)
            if emb.ndim == 1 and emb.size == 0:
                emb = emb.reshape(0, 0)
            set_(self, "embeddings", emb)
            _check("embeddings", self.embeddings, (n, None))

    # -- construction -------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros((0, 5, 2), np.float32))

    # -- size and selection ---------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __getitem__(self, index: Any) -> Faces:
        """Select faces by boolean mask, integer array or slice; returns a copy."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise ValueError(f"Faces mask: expected shape ({len(self)},), got {index.shape}")

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[index].copy()

        return Faces(
            boxes=self.boxes[index].copy(),
            scores=self.scores[index].copy(),
            landmarks=self.landmarks[index].copy(),
            quality=pick(self.quality),
            quality_parts={k: v[index].copy() for k, v in self.quality_parts.items()},
            track_ids=pick(self.track_ids),
            embeddings=pick(self.embeddings),
        )

    # -- filling in -----------------------------------------------------------------------
    def with_quality(self, quality: np.ndarray, parts: Mapping[str, np.ndarray]) -> Faces:
        return replace(self, quality=quality, quality_parts=dict(parts))

    def with_track_ids(self, track_ids: np.ndarray) -> Faces:
        return replace(self, track_ids=track_ids)

    def with_embeddings(self, embeddings: np.ndarray) -> Faces:
        return replace(self, embeddings=embeddings)

    # -- derived --------------------------------------------------------------------------
    @property
    def widths(self) -> FloatArray:
        return self.boxes[:, 2] - self.boxes[:, 0]

    @property
    def heights(self) -> FloatArray:
        return self.boxes[:, 3] - self.boxes[:, 1]

    @property
    def embedded(self) -> npt.NDArray[np.bool_]:
        """Mask of faces that carry an embedding (rows not NaN)."""
        if self.embeddings is None or self.embeddings.shape[1] == 0:
            return np.zeros(len(self), dtype=bool)
        return ~np.isnan(self.embeddings).any(axis=1)

    def __repr__(self) -> str:
        filled = [name for name in ("quality", "track_ids", "embeddings")
                  if getattr(self, name) is not None]
        return f"Faces(n={len(self)}, filled={filled})"
