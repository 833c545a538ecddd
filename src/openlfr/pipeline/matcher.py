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
Using the best evidence (by quality, kept by the tracker) rather than every frame is what
keeps both cost and false alerts down: a passer-by is compared a few times, not 25 times a
second, so a track's chance of a false alert does not grow with how long they stay in view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

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


@dataclass
class _TrackState:
    hits: dict[int, int] = field(default_factory=dict)  # subject position -> hits
    best: dict[int, float] = field(default_factory=dict)
    alerted: set[int] = field(default_factory=set)
    best_score: float = -1.0  # best rank-1 score of any evidence (for statistics)


class TrackMatcher:
    """Applies the decision rule to each track's evidence. State per track, dropped with
    :meth:`end_track`."""

    def __init__(self, index: WatchlistIndex, config: MatcherConfig) -> None:
        self.index = index
        self.config = config
        self._tracks: dict[int, _TrackState] = {}

    def observe(self, track_ids: np.ndarray, embeddings: np.ndarray) -> list[Decision]:
        """Search new evidence embeddings (one per row, with their track ids); returns the
        decisions that became alerts now (each (track, subject) at most once, ever)."""
        track_ids = np.asarray(track_ids).reshape(-1)
        if len(track_ids) == 0 or len(self.index) == 0:
            for tid in track_ids:
                self._tracks.setdefault(int(tid), _TrackState())
            return []
        scores, pos = self.index.search_arrays(embeddings, k=1)
        out = []
        t = self.config.threshold
        for tid, s, p in zip(track_ids, scores[:, 0], pos[:, 0], strict=True):
            st = self._tracks.setdefault(int(tid), _TrackState())
            st.best_score = max(st.best_score, float(s))
            if p < 0 or s < t:
                continue
            p = int(p)
            st.hits[p] = st.hits.get(p, 0) + 1
            st.best[p] = max(st.best.get(p, -1.0), float(s))
            if p not in st.alerted and st.hits[p] >= self.config.min_hits:
                st.alerted.add(p)
                out.append(Decision(int(tid), self.index.match_for(p, st.best[p]), st.hits[p]))
        return out

    def alerted(self, track_id: int) -> bool:
        st = self._tracks.get(int(track_id))
        return bool(st and st.alerted)

    def best_score(self, track_id: int) -> float | None:
        st = self._tracks.get(int(track_id))
        return None if st is None else st.best_score

    def end_track(self, track_id: int) -> None:
        self._tracks.pop(int(track_id), None)

    @property
    def live_tracks(self) -> int:
        return len(self._tracks)
