"""Everything the pipeline knows about one passer-by besides where their face is.

One :class:`TrackState` per track, created with the track (by the tracker's
``state_factory``) and dropped with it. It holds, in memory only:

* **evidence**: the best ``keep_best`` embeddings of the track's face, by quality, and what
  to embed next (:meth:`TrackState.wants_embedding`, the policy below);
* **match state**: watchlist hits per subject, the best score per subject, the subjects it
  has alerted for (each at most once), the best rank-1 score of any evidence (for the
  statistics of people who did not alert), and the preview label of an alert.

Embedding is the expensive step (DESIGN 9: ~10 ms per face), so a face is embedded only
when its track *needs* new evidence (:class:`EvidencePolicy`):

* the track has none yet;
* the face is clearly better than the track's best evidence (quality above the best by
  ``improve_margin``);
* a refresh every ``refresh_every`` frames, so a face turning toward the camera slowly is
  still sampled;
* never more than ``max_embeddings`` per track; never a face that fails the quality gates.

The tracker reads the evidence for one thing only: re-joining a lost track to a new
detection of the same face (``openlfr.pipeline.tracker``). Evidence lives in memory only and
is cleared when the track ends (DESIGN safeguard 2); nothing of it is logged.

Knobs and their trade-offs:

``keep_best``       evidence kept per track: more makes the decision and the re-join more
                    robust to one odd embedding, at memory cost.
``improve_margin``  quality gain that earns a new embedding: lower embeds more often (more
                    cost, slightly better evidence); higher saves compute.
``refresh_every``   frames between refresh embeddings of a tracked face (0: never).
``max_embeddings``  bounds the cost of people who linger; more gives more views of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EvidencePolicy", "Evidence", "TrackState"]


class EvidencePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_best: int = Field(3, ge=1, le=32, description="Evidence embeddings kept per track.")
    improve_margin: float = Field(0.08, ge=0.0, le=1.0, description="Quality gain over the "
                                  "track's best evidence that earns a new embedding.")
    refresh_every: int = Field(25, ge=0, le=100_000, description="Frames between refresh "
                               "embeddings of a tracked face (0: never).")
    max_embeddings: int = Field(12, ge=1, le=10_000, description="Embeddings computed per "
                                "track at most.")


@dataclass(eq=False)
class Evidence:
    """One embedding of a track's face and the quality it was taken at."""

    embedding: np.ndarray
    quality: float
    frame_index: int


@dataclass(eq=False)
class TrackState:
    """Evidence and match state of one track (see the module docstring)."""

    track_id: int
    policy: EvidencePolicy = field(default_factory=EvidencePolicy)
    evidence: list[Evidence] = field(default_factory=list)
    embeddings_computed: int = 0
    last_embedded_frame: int = -1
    hits: dict[int, int] = field(default_factory=dict)  # subject position -> hits
    best: dict[int, float] = field(default_factory=dict)  # subject position -> best score
    alerted: set[int] = field(default_factory=set)  # subject positions alerted for
    best_score: float = -1.0  # best rank-1 score of any evidence
    alert_label: str | None = None  # shown unblurred in the preview

    # -- evidence ------------------------------------------------------------------------
    @property
    def best_quality(self) -> float:
        return max((e.quality for e in self.evidence), default=-1.0)

    def wants_embedding(self, quality: float, frame_index: int) -> bool:
        """Should this track's face, of ``quality`` in frame ``frame_index``, be embedded now?
        (The caller has already checked the quality gates.)"""
        p = self.policy
        if self.embeddings_computed >= p.max_embeddings:
            return False
        if not self.evidence:
            return True
        if quality >= self.best_quality + p.improve_margin:
            return True
        return bool(p.refresh_every) and frame_index - self.last_embedded_frame >= p.refresh_every

    def add_evidence(self, embedding: np.ndarray, quality: float, frame_index: int) -> bool:
        """Keep ``embedding`` (a copy) if it is among the best ``keep_best``; returns whether
        it was kept."""
        emb = np.asarray(embedding, dtype=np.float32).reshape(-1)
        if not np.all(np.isfinite(emb)):
            raise ValueError("TrackState.add_evidence: the embedding has NaN or inf values")
        self.embeddings_computed += 1
        self.last_embedded_frame = int(frame_index)
        ev = Evidence(embedding=emb.copy(), quality=float(quality), frame_index=int(frame_index))
        self.evidence.append(ev)
        self.evidence.sort(key=lambda e: -e.quality)
        kept = ev in self.evidence[: self.policy.keep_best]
        del self.evidence[self.policy.keep_best:]
        return kept

    def similarity(self, embedding: np.ndarray) -> float | None:
        """Best cosine similarity of a unit ``embedding`` with this track's evidence (None
        when it has none)."""
        if not self.evidence:
            return None
        stack = np.stack([e.embedding for e in self.evidence])
        return float(np.max(stack @ np.asarray(embedding, dtype=np.float32).reshape(-1)))

    # -- match state ---------------------------------------------------------------------
    def record_match(self, subject: int, score: float, threshold: float, min_hits: int
                     ) -> bool:
        """Record one evidence embedding's rank-1 ``subject`` (-1: none) and ``score``.
        Returns True when this makes the track alert for ``subject`` (once per subject)."""
        self.best_score = max(self.best_score, float(score))
        if subject < 0 or score < threshold:
            return False
        self.hits[subject] = self.hits.get(subject, 0) + 1
        self.best[subject] = max(self.best.get(subject, -1.0), float(score))
        if subject in self.alerted or self.hits[subject] < min_hits:
            return False
        self.alerted.add(subject)
        return True

    @property
    def compared(self) -> bool:
        """Was any face of this track compared with the watchlist?"""
        return self.embeddings_computed > 0

    # -- lifetime ------------------------------------------------------------------------
    def absorb(self, other: TrackState) -> None:
        """Take over ``other``'s evidence and match state (``other`` was a fragment of this
        track, joined back by the tracker); ``other`` is left empty."""
        self.evidence.extend(other.evidence)
        self.evidence.sort(key=lambda e: -e.quality)
        del self.evidence[self.policy.keep_best:]
        self.embeddings_computed += other.embeddings_computed
        self.last_embedded_frame = max(self.last_embedded_frame, other.last_embedded_frame)
        for s, n in other.hits.items():
            self.hits[s] = self.hits.get(s, 0) + n
        for s, v in other.best.items():
            self.best[s] = max(self.best.get(s, -1.0), v)
        self.alerted |= other.alerted
        self.best_score = max(self.best_score, other.best_score)
        self.alert_label = self.alert_label or other.alert_label
        other.clear()

    def clear(self) -> None:
        """Forget every embedding and match of this track (its end)."""
        self.evidence.clear()
        self.hits.clear()
        self.best.clear()
        self.alerted.clear()
        self.alert_label = None
