"""Per-track decision: does this passer-by possibly match a watchlist subject?

Decision rule (documented, one place): each evidence embedding of a track is searched in
the watchlist; its **rank-1** subject counts as a *hit* when the similarity is at or above
the threshold ``t``. A track alerts for subject ``s`` once it has ``min_hits`` hits for
``s`` (default 1: the track's best evidence scores >= t). At most one alert per
(track, subject), whatever happens later in the track. The alert reports the best score.

Trade-offs:

``threshold``  the operating point. Higher: fewer false alerts (false alert rate per
               track falls), more misses. It must come from a calibration on data for
               the exact model (``openlfr.vision.thresholds``); FPIR also grows with the
               watchlist size, so calibrate at the deployment's size.
``min_hits``   1 alerts on the first good view (fastest, catches people seen briefly).
               2 or more wants the same answer from several views of the track: a
               single odd frame (motion blur, a look-alike angle) no longer alerts, but
               people seen only once or twice are missed and alerts come later.
Using the best evidence (by quality, kept in each track's
:class:`~openlfr.pipeline.trackstate.TrackState`) rather than every frame is what keeps both
cost and false alerts down: a passer-by is compared a few times, not 25 times a second, so a
track's chance of a false alert does not grow with how long they stay in view.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.faces import FaceMatch, Frame
from openlfr.pipeline.trackstate import TrackState
from openlfr.watchlist.index import WatchlistIndex

__all__ = ["MatcherConfig", "TrackMatcher"]


class MatcherConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(ge=-1.0, le=1.0, description="Cosine similarity at or above "
                             "which an evidence embedding's rank-1 subject is a hit.")
    min_hits: int = Field(1, ge=1, le=100, description="Hits for the same subject a track "
                          "needs before it alerts.")


class TrackMatcher:
    """Applies the decision rule to each track's evidence. Holds no per-track state: the
    hits, best scores and alerts of a track live in its :class:`TrackState` (``state``
    finds it by track id) and end with it."""

    def __init__(self, index: WatchlistIndex, config: MatcherConfig,
                 state: Callable[[int], TrackState]) -> None:
        self.index = index
        self.config = config
        self._state = state

    def observe(self, frame: Frame) -> Frame:
        """Search the embeddings of the faces embedded in this frame (``frame.needs``) in
        the watchlist; returns the frame with the decisions that became alerts now
        (``frame.matches``; each (track, subject) at most once, ever)."""
        faces = frame.analysed
        rows = np.flatnonzero(frame.embed_mask())
        if len(rows) == 0 or len(self.index) == 0:
            return frame
        assert faces.embeddings is not None and faces.track_ids is not None
        scores, pos = self.index.search_arrays(faces.embeddings[rows], k=1)
        out = []
        cfg = self.config
        for i, s, p in zip(rows, scores[:, 0], pos[:, 0], strict=True):
            st = self._state(int(faces.track_ids[i]))
            if st.record_match(int(p), float(s), cfg.threshold, cfg.min_hits):
                p = int(p)
                m = self.index.match_for(p, st.best[p])
                out.append(FaceMatch(face=int(i), track_id=st.track_id,
                                     subject_id=m.subject_id, label=m.label, score=m.score,
                                     hits=st.hits[p], category=m.category,
                                     image_ref=m.image_ref))
        return frame.with_matches(tuple(out))
