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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.pipeline.trackstate import TrackState
from openlfr.watchlist.index import Match, WatchlistIndex

__all__ = ["MatcherConfig", "Decision", "TrackMatcher"]


class MatcherConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(ge=-1.0, le=1.0, description="Cosine similarity at or above "
                             "which an evidence embedding's rank-1 subject is a hit.")
    min_hits: int = Field(1, ge=1, le=100, description="Hits for the same subject a track "
                          "needs before it alerts.")


@dataclass(frozen=True)
class Decision:
    track_id: int
    match: Match  # the subject and the best score so far
    hits: int


class TrackMatcher:
    """Applies the decision rule to each track's evidence. Holds no per-track state: the
    hits, best scores and alerts of a track live in its :class:`TrackState` and end with
    it."""

    def __init__(self, index: WatchlistIndex, config: MatcherConfig) -> None:
        self.index = index
        self.config = config

    def observe(self, states: Sequence[TrackState], embeddings: np.ndarray) -> list[Decision]:
        """Search new evidence embeddings (one row per entry of ``states``, the tracks they
        belong to); returns the decisions that became alerts now (each (track, subject) at
        most once, ever)."""
        if len(states) == 0 or len(self.index) == 0:
            return []
        embeddings = np.asarray(embeddings, dtype=np.float32).reshape(len(states), -1)
        scores, pos = self.index.search_arrays(embeddings, k=1)
        out = []
        cfg = self.config
        for st, s, p in zip(states, scores[:, 0], pos[:, 0], strict=True):
            if st.record_match(int(p), float(s), cfg.threshold, cfg.min_hits):
                p = int(p)
                out.append(Decision(st.track_id, self.index.match_for(p, st.best[p]),
                                    st.hits[p]))
        return out
