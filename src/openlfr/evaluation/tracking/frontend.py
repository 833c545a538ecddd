"""What the camera worker does around its tracker, for the tracking evaluation.

:class:`EngineFrontEnd` turns a frame into tracked faces the way
:class:`~openlfr.pipeline.worker.CameraWorker` does, with the same vision engine:

1. detect; when the tracker has a second stage (``config.low_score`` below the detector's
   threshold), detect down to that floor and hand the unsure faces to ``update(..., low=)``;
2. ``tracker.update``;
3. when the tracker re-joins lost tracks by appearance (``reassociate``), assess quality,
   embed the faces whose track state wants an embedding and pass the gates, re-associate,
   and keep the embeddings as the tracks' evidence.

A tracker without these parts (the old IoU tracker) gets step 2 only. Nothing here is
stored: the embeddings live in the trackers' states and die with them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openlfr.faces import Faces
from openlfr.vision.align import align

__all__ = ["EngineFrontEnd"]


class EngineFrontEnd:
    """Detector, quality gates and embedder of a :class:`~openlfr.vision.engine.VisionEngine`
    in front of a tracker. ``step(tracker, image, index) -> faces`` with track ids."""

    def __init__(self, engine: Any, *, reassociate: bool = True) -> None:
        self.engine = engine
        self.reassociate = reassociate
        self.embedded = 0

    def _floor(self, tracker: Any) -> float | None:
        low = getattr(getattr(tracker, "config", None), "low_score", None)
        threshold = getattr(getattr(self.engine.detector, "cfg", None), "score_threshold", None)
        if low is None or threshold is None or low >= threshold:
            return None
        return float(low)

    def step(self, tracker: Any, image: np.ndarray, index: int) -> Faces:
        floor = self._floor(tracker)
        if floor is None:
            faces = tracker.update(self.engine.detector.detect(image), index)
        else:
            found = self.engine.detector.detect(image, min_score=floor)
            sure = found.scores >= self.engine.detector.cfg.score_threshold
            faces = tracker.update(found[sure], index, low=found[~sure])
        if not self.reassociate or not hasattr(tracker, "reassociate") or not len(faces):
            return faces
        return self._reassociate(tracker, image, faces, index)

    def _reassociate(self, tracker: Any, image: np.ndarray, faces: Faces, index: int
                     ) -> Faces:
        crops = align(image, faces.landmarks)
        faces = self.engine.quality.assess(image, faces, crops=crops)
        eligible = self.engine.quality.passes(faces)
        assert faces.track_ids is not None and faces.quality is not None
        states = [tracker.state(int(t)) for t in faces.track_ids]
        need = np.array([bool(ok) and st is not None and st.wants_embedding(float(q), index)
                         for ok, st, q in zip(eligible, states, faces.quality, strict=True)],
                        dtype=bool)
        if not need.any():
            return faces
        dim = int(self.engine.embedder.dim)
        vectors = np.full((len(faces), dim), np.nan, np.float32)
        embed_aligned = getattr(self.engine.embedder, "embed_aligned", None)
        if embed_aligned is not None:
            vectors[need] = embed_aligned(crops[need])
        else:
            vectors = self.engine.embedder.embed(image, faces, need).embeddings
        self.embedded += int(need.sum())
        faces = tracker.reassociate(faces.with_embeddings(vectors))
        assert faces.track_ids is not None
        for i in np.flatnonzero(need):
            st = tracker.state(int(faces.track_ids[i]))
            if st is not None:
                st.add_evidence(vectors[i], float(faces.quality[i]), index)
        return faces
