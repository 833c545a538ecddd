"""Baseline: the IoU + constant-velocity tracker OpenLFR used before issue 15, kept
verbatim for benchmarks/bench_tracking.py (old against new tracker). The pipeline does not
use it. Import with benchmarks/ on sys.path: ``from baseline_tracker import IoUTracker``.

The original module documentation follows.

Face tracking across frames, and the per-track evidence used for matching.

One track stands for one passer-by. :meth:`IoUTracker.update` assigns track ids:
each live track predicts its box in the new frame with a constant-velocity model
(box centre and size move by the track's smoothed per-frame velocity), and detections
are matched to predictions greedily by IoU (highest first). Unmatched detections start
new tracks; a track not seen for more than ``max_missed`` frames ends.

Each track carries **evidence**: the best few embeddings it has seen, by face quality.
Embedding is the expensive step (DESIGN 9: ~10 ms per face), so the tracker says which faces
*need* one (:meth:`IoUTracker.needs_embedding`) instead of embedding every face on every
frame:

* a new track (no evidence yet);
* a face clearly better than the track's best evidence (quality above the best by
  ``improve_margin``);
* a refresh every ``refresh_every`` frames, so a face turning toward the camera slowly
  is still sampled;
* never more than ``max_embeddings`` per track.

Evidence lives in memory only and is dropped when the track ends (DESIGN safeguard 2):
:meth:`IoUTracker.pop_ended` hands the ended tracks' ids to the caller (for counters and
matcher clean-up) and nothing else survives.

Knobs and their trade-offs (:class:`IoUTrackerConfig`):

``iou_threshold``   lower joins faces that moved far between frames (low frame rate, drops)
                    but risks swapping two close faces; higher splits one person into
                    several tracks (more embeddings, more chances of a false alert).
``max_missed``      frames a track survives unseen: higher bridges occlusions and missed
                    detections (fewer tracks per person) but keeps evidence in memory
                    longer and can hand a track to a newcomer at the same place.
``keep_best``       evidence kept per track: more makes the decision more robust to one
                    odd embedding, at memory cost.
``improve_margin``  quality gain that earns a new embedding: lower embeds more often
                    (more cost, slightly better evidence); higher saves compute.
``refresh_every``   frames between refresh embeddings of a tracked face (0: never).
Per-track state is created by a factory (``evidence_factory``), so no state is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from openlfr.faces import Faces

__all__ = ["Evidence", "TrackEvidence", "Track", "IoUTrackerConfig", "IoUTracker",
           "make_tracker", "iou_matrix"]


class IoUTrackerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["iou"] = "iou"
    iou_threshold: float = Field(0.25, ge=0.0, le=1.0, description="Minimum IoU between a "
                                 "track's predicted box and a detection to join them.")
    max_missed: int = Field(12, ge=0, le=10_000, description="Frames a track may go unseen "
                            "before it ends.")
    velocity_smoothing: float = Field(0.6, ge=0.0, le=1.0, description="Weight of the new "
                                      "velocity estimate (1: last displacement only).")
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
class TrackEvidence:
    """The best ``keep`` evidence items of one track, by quality. In memory only."""

    keep: int
    items: list[Evidence] = field(default_factory=list)
    embeddings_computed: int = 0
    last_embedded_frame: int = -1

    @property
    def best_quality(self) -> float:
        return max((e.quality for e in self.items), default=-1.0)

    def add(self, ev: Evidence) -> bool:
        """Add ``ev``; returns whether it is kept among the best."""
        self.embeddings_computed += 1
        self.last_embedded_frame = ev.frame_index
        self.items.append(ev)
        self.items.sort(key=lambda e: -e.quality)
        dropped = self.items[self.keep:]
        del self.items[self.keep:]
        return ev not in dropped

    def clear(self) -> None:
        self.items.clear()


@dataclass(eq=False)
class Track:
    track_id: int
    box: np.ndarray  # last observed x1 y1 x2 y2
    velocity: np.ndarray  # per-frame change of (cx, cy, w, h)
    first_frame: int
    last_frame: int
    hits: int
    evidence: TrackEvidence

    def predict(self, frame_index: int) -> np.ndarray:
        gap = frame_index - self.last_frame
        cx, cy, w, h = _to_cxcywh(self.box)
        vx, vy, vw, vh = self.velocity
        w2, h2 = max(1.0, w + vw * gap), max(1.0, h + vh * gap)
        return _to_xyxy(np.array([cx + vx * gap, cy + vy * gap, w2, h2]))


def _to_cxcywh(b: np.ndarray) -> np.ndarray:
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]],
                    dtype=np.float64)


def _to_xyxy(c: np.ndarray) -> np.ndarray:
    return np.array([c[0] - c[2] / 2, c[1] - c[3] / 2, c[0] + c[2] / 2, c[1] + c[3] / 2])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (n,4) with every box in ``b`` (m,4), x1 y1 x2 y2."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out


class IoUTracker:
    """IoU + constant-velocity tracker. ``update(faces, frame_index) -> faces`` with ids."""

    def __init__(self, config: IoUTrackerConfig | None = None, *,
                 evidence_factory: Callable[[], TrackEvidence] | None = None,
                 first_id: int = 1) -> None:
        self.config = config or IoUTrackerConfig()
        keep = self.config.keep_best
        self._evidence_factory = evidence_factory or (lambda: TrackEvidence(keep=keep))
        self._tracks: dict[int, Track] = {}
        self._next_id = int(first_id)  # a resumed clip goes on numbering where it stopped
        self._ended: list[Track] = []
        self._frame = -1
        self.tracks_started = 0

    # -- tracking ------------------------------------------------------------------------
    def update(self, faces: Faces, frame_index: int | None = None) -> Faces:
        """Assign track ids to ``faces`` seen in frame ``frame_index`` (default: next)."""
        frame_index = self._frame + 1 if frame_index is None else int(frame_index)
        self._frame = frame_index
        cfg = self.config
        ids = np.full(len(faces), -1, dtype=np.int64)
        live = list(self._tracks.values())
        if live and len(faces):
            pred = np.stack([t.predict(frame_index) for t in live])
            iou = iou_matrix(pred, faces.boxes)
            pairs = np.argwhere(iou >= max(cfg.iou_threshold, 1e-9))
            order = np.argsort(-iou[pairs[:, 0], pairs[:, 1]], kind="stable")
            used_t: set[int] = set()
            used_d: set[int] = set()
            for k in order:
                ti, di = (int(x) for x in pairs[k])
                if ti in used_t or di in used_d:
                    continue
                used_t.add(ti)
                used_d.add(di)
                self._observe(live[ti], faces.boxes[di], frame_index)
                ids[di] = live[ti].track_id
        for di in np.flatnonzero(ids < 0):
            t = Track(track_id=self._next_id, box=faces.boxes[di].astype(np.float64),
                      velocity=np.zeros(4), first_frame=frame_index, last_frame=frame_index,
                      hits=1, evidence=self._evidence_factory())
            self._next_id += 1
            self.tracks_started += 1
            self._tracks[t.track_id] = t
            ids[di] = t.track_id
        for tid, t in list(self._tracks.items()):
            if frame_index - t.last_frame > cfg.max_missed:
                self._end(tid)
        return faces.with_track_ids(ids)

    def _observe(self, t: Track, box: np.ndarray, frame_index: int) -> None:
        gap = max(1, frame_index - t.last_frame)
        new_v = (_to_cxcywh(box) - _to_cxcywh(t.box)) / gap
        a = self.config.velocity_smoothing
        t.velocity = new_v if t.hits == 1 else a * new_v + (1 - a) * t.velocity
        t.box = box.astype(np.float64)
        t.last_frame = frame_index
        t.hits += 1

    def _end(self, track_id: int) -> None:
        t = self._tracks.pop(track_id)
        self._ended.append(t)

    def end_all(self) -> None:
        """End every live track (end of input)."""
        for tid in list(self._tracks):
            self._end(tid)

    def pop_ended(self) -> list[Track]:
        """Tracks ended since the last call. The caller must drop them after reading what
        it needs; their evidence is cleared when the next call is made."""
        ended, self._ended = self._ended, []
        return ended

    @property
    def next_id(self) -> int:
        """The id the next new track gets."""
        return self._next_id

    @property
    def live_tracks(self) -> dict[int, Track]:
        return dict(self._tracks)

    def track(self, track_id: int) -> Track | None:
        return self._tracks.get(track_id)

    # -- evidence ------------------------------------------------------------------------
    def needs_embedding(self, faces: Faces, eligible: np.ndarray | None = None) -> np.ndarray:
        """Mask of tracked faces that should be embedded now (see module doc)."""
        cfg = self.config
        if faces.track_ids is None:
            raise ValueError("needs_embedding: faces have no track ids; call update() first")
        quality = faces.quality if faces.quality is not None else faces.scores
        mask = np.zeros(len(faces), dtype=bool)
        for i, tid in enumerate(faces.track_ids):
            if eligible is not None and not eligible[i]:
                continue
            t = self._tracks.get(int(tid))
            if t is None:
                continue
            ev = t.evidence
            if ev.embeddings_computed >= cfg.max_embeddings:
                continue
            if not ev.items:
                mask[i] = True
            elif quality[i] >= ev.best_quality + cfg.improve_margin:
                mask[i] = True
            elif cfg.refresh_every and self._frame - ev.last_embedded_frame >= cfg.refresh_every:
                mask[i] = True
        return mask

    def add_evidence(self, faces: Faces, frame_index: int) -> list[tuple[int, Evidence]]:
        """Store the embedded faces of ``faces`` as evidence of their tracks. Returns
        (track_id, evidence) of each added item."""
        if faces.track_ids is None or faces.embeddings is None:
            return []
        quality = faces.quality if faces.quality is not None else faces.scores
        added = []
        for i in np.flatnonzero(faces.embedded):
            t = self._tracks.get(int(faces.track_ids[i]))
            if t is None:
                continue
            ev = Evidence(embedding=faces.embeddings[i].copy(), quality=float(quality[i]),
                          frame_index=frame_index)
            t.evidence.add(ev)
            added.append((t.track_id, ev))
        return added


def make_tracker(config: IoUTrackerConfig | dict | None = None) -> IoUTracker:
    """A tracker from its config (``type`` selects the implementation)."""
    if isinstance(config, dict):
        config = IoUTrackerConfig.model_validate(config)
    config = config or IoUTrackerConfig()
    if config.type == "iou":
        return IoUTracker(config)
    raise ValueError(f"unknown tracker type {config.type!r}")  # pragma: no cover
