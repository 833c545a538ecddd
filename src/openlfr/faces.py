"""The frame type that flows through every stage, and the faces it holds.

A :class:`Faces` holds ``n`` faces found in one image as parallel arrays, one per field
(boxes, scores, landmarks, quality, track ids, embeddings). A :class:`Frame` is one image
with what the stages have found in it so far: its faces, the gate results, the aligned crops
while it is analysed, which faces need an embedding, and the watchlist decisions. Every
stage of a camera's worker has the same shape, ``stage(frame) -> frame``:

    engine.analyse(frame, need=Need.FACES)       -> frame.faces (boxes, scores, landmarks)
    engine.analyse(frame, need=Need.QUALITY)     -> quality, frame.passes, frame.crops
    tracking.track(frame)                        -> track ids, frame.needs
    engine.analyse(frame, need=Need.EMBEDDINGS)  -> embeddings of the faces in frame.needs
    matcher.observe(frame)                       -> frame.matches

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

__all__ = ["Faces", "Frame", "FaceMatch", "QUALITY_FIELDS"]

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


@dataclass(frozen=True)
class FaceMatch:
    """A watchlist decision about one face of a frame: its track alerts for a subject.

    ``face`` is the face's row in :attr:`Frame.faces`; ``score`` the best similarity of the
    track's evidence with the subject; ``hits`` how many evidence embeddings hit it."""

    face: int
    track_id: int
    subject_id: str
    label: str
    score: float
    hits: int
    category: str | None = None
    image_ref: str | None = None


def _check_mask(name: str, mask: np.ndarray | None, n: int) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (n,):
        raise ValueError(f"Frame.{name}: expected a bool array of shape ({n},), "
                         f"got {mask.dtype} {mask.shape}")
    return mask


@dataclass(frozen=True, eq=False)
class Frame:
    """One image and what the stages found in it (see the module docstring).

    image:      (H, W, 3) uint8 BGR
    index:      position in the source (0 for a single photograph)
    timestamp:  media time in seconds (position in the source)
    decoded_at: ``time.monotonic()`` when decoding finished (for latency figures)
    faces:      the detections at or above the detector's threshold; None before detection
    low:        the detections below the threshold, down to the floor asked for (kept for the
                tracker's second stage and blurred in the preview; never embedded); or None
    passes:     (n,) bool, the faces that pass the quality gates; None before assessment
    crops:      (n, 112, 112, 3) uint8 aligned crops (zeros for faces not aligned); they
                exist only while the frame is analysed (:meth:`without_crops`)
    needs:      (n,) bool, the faces to embed; None: every face (or, gated, those passing)
    matches:    the watchlist decisions this frame raised
    """

    image: np.ndarray
    index: int = 0
    timestamp: float = 0.0
    decoded_at: float = 0.0
    faces: Faces | None = None
    low: Faces | None = None
    passes: npt.NDArray[np.bool_] | None = None
    crops: npt.NDArray[np.uint8] | None = None
    needs: npt.NDArray[np.bool_] | None = None
    matches: tuple[FaceMatch, ...] = ()

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"Frame.image: expected (H, W, 3) uint8, got {image.dtype} "
                             f"{image.shape}")
        object.__setattr__(self, "image", image)
        n = len(self.faces) if self.faces is not None else 0
        if self.faces is None and any(x is not None for x in (self.passes, self.crops,
                                                               self.needs)):
            raise ValueError("Frame: gate results, crops or needs without faces")
        object.__setattr__(self, "passes", _check_mask("passes", self.passes, n))
        object.__setattr__(self, "needs", _check_mask("needs", self.needs, n))
        if self.crops is not None:
            crops = np.asarray(self.crops)
            if crops.ndim != 4 or crops.shape[0] != n or crops.shape[3] != 3:
                raise ValueError(f"Frame.crops: expected ({n}, S, S, 3), got {crops.shape}")
        bad = [m.face for m in self.matches if not 0 <= m.face < n]
        if bad:
            raise ValueError(f"Frame.matches: face rows {bad} outside 0..{n - 1}")

    @property
    def analysed(self) -> Faces:
        """The frame's faces (ValueError before detection)."""
        if self.faces is None:
            raise ValueError("Frame: no faces yet; detect first (engine.analyse)")
        return self.faces

    def with_faces(self, faces: Faces, low: Faces | None = None) -> Frame:
        """The frame with new detections (everything found from the old ones is dropped)."""
        return replace(self, faces=faces, low=low, passes=None, crops=None, needs=None,
                       matches=())

    def with_gates(self, faces: Faces, passes: np.ndarray, crops: np.ndarray | None) -> Frame:
        """The assessed faces (same faces, quality filled in), who passes, and their crops."""
        self._same_faces(faces)
        return replace(self, faces=faces, passes=passes, crops=crops)

    def with_filled(self, faces: Faces, needs: np.ndarray | None = None) -> Frame:
        """The same faces with more filled in (track ids, re-joined ids, embeddings), and
        which of them need an embedding (unchanged when None)."""
        self._same_faces(faces)
        return replace(self, faces=faces, needs=self.needs if needs is None else needs)

    def with_needs(self, needs: np.ndarray) -> Frame:
        return replace(self, needs=needs)

    def with_matches(self, matches: tuple[FaceMatch, ...]) -> Frame:
        return replace(self, matches=self.matches + tuple(matches))

    def without_crops(self) -> Frame:
        """The frame once its faces are embedded: the crops are gone."""
        return replace(self, crops=None)

    def embed_mask(self, gated: bool = False) -> np.ndarray:
        """The faces to embed: :attr:`needs` when set, else those passing the gates
        (``gated``) or every face."""
        faces = self.analysed
        if self.needs is not None:
            return self.needs
        if gated:
            if self.passes is None:
                raise ValueError("Frame: gated embedding before the quality gates")
            return self.passes
        return np.ones(len(faces), bool)

    def _same_faces(self, faces: Faces) -> None:
        if len(faces) != len(self.analysed):
            raise ValueError(f"Frame: {len(faces)} faces given for a frame of "
                             f"{len(self.analysed)}")

    def __repr__(self) -> str:
        n = "-" if self.faces is None else len(self.faces)
        return f"Frame(index={self.index}, faces={n}, matches={len(self.matches)})"
