"""The tracker as frame stages: who is who across frames, and what each track needs.

:class:`TrackStage` wraps a tracker (:mod:`openlfr.pipeline.tracker`) in two calls of the
worker's one shape, ``stage(frame) -> frame``:

* :meth:`TrackStage.track` gives each face of the frame its track id and marks the faces to
  embed (``frame.needs``): those that pass the quality gates and whose track wants new
  evidence (:meth:`~openlfr.pipeline.trackstate.TrackState.wants_embedding`);
* :meth:`TrackStage.keep`, once those faces are embedded, re-joins a lost track to its face
  by the new embedding (the tracker's ``reassociate``) and keeps each embedding as the
  evidence of the track its face now belongs to.

The camera worker and the tracking evaluation (:mod:`openlfr.evaluation.tracking.frontend`)
both run these, so what is measured is what scans.
"""

from __future__ import annotations

import numpy as np

from openlfr.faces import Frame
from openlfr.pipeline.tracker import ByteTracker
from openlfr.pipeline.trackstate import TrackState

__all__ = ["TrackStage"]


class TrackStage:
    """The two tracking stages of one camera, around its tracker."""

    def __init__(self, tracker: ByteTracker) -> None:
        self.tracker = tracker

    def state(self, track_id: int) -> TrackState:
        """The state of live track ``track_id`` (KeyError if it is not live)."""
        return self.tracker.state(track_id)

    def track(self, frame: Frame) -> Frame:
        """Track ids for the frame's faces (``frame.low``: its detections below the
        detector's threshold, for the tracker's second stage) and the faces to embed."""
        faces = self.tracker.update(frame.analysed, frame.index, low=frame.low)
        assert faces.track_ids is not None
        passes = frame.passes if frame.passes is not None else np.zeros(len(faces), bool)
        quality = (faces.quality if faces.quality is not None
                   else np.zeros(len(faces), np.float32))
        needs = np.array([bool(ok) and self.state(int(t)).wants_embedding(float(q), frame.index)
                          for ok, t, q in zip(passes, faces.track_ids, quality, strict=True)],
                         dtype=bool)
        return frame.with_filled(faces, needs)

    def keep(self, frame: Frame) -> Frame:
        """Re-join lost tracks by the embeddings of ``frame.needs`` and keep those
        embeddings as their tracks' evidence."""
        faces = self.tracker.reassociate(frame.analysed)
        assert faces.track_ids is not None and faces.embeddings is not None
        quality = faces.quality if faces.quality is not None else np.zeros(len(faces))
        for i in np.flatnonzero(frame.embed_mask()):
            self.state(int(faces.track_ids[i])).add_evidence(
                faces.embeddings[i], float(quality[i]), frame.index)
        return frame.with_filled(faces)
