"""Face tracking across frames: one track per passer-by, built for crowds.

:meth:`ByteTracker.update` assigns track ids (``update(faces, frame_index, low=...) ->
faces``). Each track's box moves by a constant-velocity Kalman filter
(:mod:`openlfr.pipeline.kalman`); every frame, ByteTrack-style:

1. **high-score detections** (the faces that go on to analysis) are matched to the
   predicted boxes of every live track, lost ones included, greedily by IoU (highest first,
   at least ``iou_threshold``);
2. a **camera-motion retry**: tracks and faces left over are matched again after shifting
   the tracks' predictions by the median displacement of this frame's matches (a camera pan
   moves every face alike, faster than one track's filter learns it);
3. **low-score detections** (down to ``low_score``: faces the detector is unsure of, which
   the worker already finds to blur them in the preview) are matched to the tracks still
   left, at a stricter ``low_iou_threshold``. They keep a track alive through motion blur
   or a turned head but never start one, and are not returned: only high-score faces are
   analysed;
4. faces still unmatched start new tracks; a track unseen for more than ``max_missed``
   frames ends.

**Re-joining a lost track.** A face that comes back after a gap too long or a jump too large
for the motion model starts a new track, which is embedded at once (a new track has no
evidence). :meth:`ByteTracker.reassociate` then compares that first embedding with the
evidence of the tracks lost within ``max_missed``: at cosine similarity ``reid_similarity``
or more, and within ``reid_max_distance`` face heights of where the lost track was predicted,
the new track is folded back into the lost one (its id, its evidence, its alerts). The
evidence is the track's own, in memory (:class:`~openlfr.pipeline.trackstate.TrackState`),
and dies with it: a face never re-joins a track that has ended.

The tracker only tracks. What to embed, the evidence and the match state of each track live
in its :class:`~openlfr.pipeline.trackstate.TrackState`, one per track from
``state_factory`` (no state is shared), dropped when the track ends; the caller reads the
ended tracks with :meth:`ByteTracker.pop_ended`.

Knobs and their trade-offs (:class:`TrackerConfig`; the evidence knobs are those of
:class:`~openlfr.pipeline.trackstate.EvidencePolicy`):

``iou_threshold``      lower joins faces that moved far between frames (low frame rate,
                       drops) but risks swapping two close faces; higher splits one person
                       into several tracks (more embeddings, more chances of a false alert).
``low_score``          floor of the second stage: lower bridges more blurred or turned faces
                       (fewer fragments) but may keep a track alive on a false detection;
                       None turns the second stage off.
``low_iou_threshold``  overlap a low-score detection needs: higher lets a non-face next to a
                       lost track keep it alive less often; lower bridges more blurred,
                       fast-moving faces (the demo pan: 0.3 against 0.5 removed 5 tracks).
``max_missed``         frames a track survives unseen: higher bridges longer occlusions and
                       allows re-joins after longer gaps (fewer tracks per person) but keeps
                       evidence in memory longer and can hand a track to a newcomer at the
                       same place.
``reid_similarity``    cosine similarity to re-join a lost track: lower re-joins more
                       fragments but risks merging two people into one track (one person's
                       alert then shown on another); 0.5 is far above the calibrated
                       watchlist threshold.
``reid_max_distance``  how far (in face heights, from the lost track's prediction) a re-join
                       may be: higher re-joins after erratic motion, lower limits merges of
                       look-alikes across the frame.
``std_position``, ``std_velocity``  the Kalman filter's noise (``openlfr.pipeline.kalman``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from openlfr.faces import Faces
from openlfr.pipeline.kalman import BoxKalman, to_xyxy
from openlfr.pipeline.trackstate import EvidencePolicy, TrackState

__all__ = ["TrackerConfig", "IoUTrackerConfig", "Track", "ByteTracker", "make_tracker",
           "iou_matrix", "greedy_match", "settings_fingerprint"]


class TrackerConfig(EvidencePolicy):
    """The ``tracker`` section of a scan or camera configuration: tracking knobs and the
    per-track evidence policy."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    type: Literal["byte"] = "byte"
    """The tracker (``iou``, the name of the tracker before this one, is read as ``byte``)."""
    iou_threshold: float = Field(0.15, ge=0.0, le=1.0)
    """Minimum IoU between a track's predicted box and a detection to join them."""
    low_score: float | None = Field(0.3, ge=0.0, le=1.0)
    """Detections down to this confidence (below the detector's threshold) keep tracks alive; None:
    no second stage."""
    low_iou_threshold: float = Field(0.3, ge=0.0, le=1.0)
    """Minimum IoU for a low-score detection."""
    max_missed: int = Field(30, ge=0, le=10_000)
    """Frames a track may go unseen before it ends."""
    reid_similarity: float = Field(0.5, ge=-1.0, le=1.0)
    """Cosine similarity of a new track's first embedding with a lost track's evidence that joins
    them."""
    reid_max_distance: float = Field(3.0, ge=0.0, le=100.0)
    """Farthest re-join, in face heights from the lost track's prediction."""
    std_position: float = Field(0.05, gt=0.0, le=1.0)
    """Kalman position noise per frame, as a fraction of the face height."""
    std_velocity: float = Field(0.02, gt=0.0, le=1.0)
    """Kalman velocity noise per frame, as a fraction of the face height."""

    @model_validator(mode="before")
    @classmethod
    def _old_type_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "iou":
            data = {**data, "type": "byte"}
        return data

    def evidence_policy(self) -> EvidencePolicy:
        return EvidencePolicy(**{k: getattr(self, k) for k in EvidencePolicy.model_fields})


#: The name this configuration had before the ByteTrack-style tracker (kept for imports).
IoUTrackerConfig = TrackerConfig


@dataclass(eq=False)
class Track:
    """One live (or just ended) track. Its Kalman state is kept by the tracker, batched."""

    track_id: int
    first_frame: int
    last_frame: int  # last frame with a detection (high or low score)
    hits: int
    state: TrackState


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (n,4) with every box in ``b`` (m,4), x1 y1 x2 y2."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    side = np.maximum(np.minimum(a[:, None, 2:], b[None, :, 2:])
                      - np.maximum(a[:, None, :2], b[None, :, :2]), 0.0)
    inter = side[..., 0] * side[..., 1]
    size_a, size_b = np.maximum(a[:, 2:] - a[:, :2], 0.0), np.maximum(b[:, 2:] - b[:, :2], 0.0)
    union = (size_a[:, 0] * size_a[:, 1])[:, None] + (size_b[:, 0] * size_b[:, 1])[None] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def greedy_match(score: np.ndarray, minimum: float) -> list[tuple[int, int]]:
    """Pairs (row, column) of ``score`` taken greedily, highest first, each row and column at
    most once, every pair at least ``minimum`` (and above 0)."""
    rows, cols = np.nonzero(score >= max(minimum, 1e-9))
    order = np.argsort(-score[rows, cols], kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    pairs = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            pairs.append((r, c))
    return pairs


class ByteTracker:
    """Kalman + two-stage association + re-joins of lost tracks (module docstring)."""

    def __init__(self, config: TrackerConfig | None = None, *,
                 state_factory: Callable[[int], TrackState] | None = None,
                 first_id: int = 1) -> None:
        self.config = config or TrackerConfig()
        policy = self.config.evidence_policy()
        self._state_factory = state_factory or (lambda tid: TrackState(tid, policy))
        self._kalman = BoxKalman(self.config.std_position, self.config.std_velocity)
        self._tracks: dict[int, Track] = {}  # in the order of the rows below
        self._mean = np.zeros((0, 8))  # Kalman means, one row per live track
        self._cov = np.zeros((0, 3, 4))
        self._next_id = int(first_id)  # a resumed clip goes on numbering where it stopped
        self._ended: list[Track] = []
        self._frame = -1
        self.tracks_started = 0  # tracks begun, less those folded back into a lost track

    # -- tracking ------------------------------------------------------------------------
    def update(self, faces: Faces, frame_index: int | None = None,
               low: Faces | None = None) -> Faces:
        """Assign track ids to ``faces`` seen in frame ``frame_index`` (default: the next).
        ``low``: the frame's detections below the detector's threshold (not returned)."""
        frame_index = self._frame + 1 if frame_index is None else int(frame_index)
        if frame_index <= self._frame:
            raise ValueError(f"tracker: frame {frame_index} after frame {self._frame}")
        dt = 1 if self._frame < 0 else frame_index - self._frame
        self._frame = frame_index
        cfg = self.config
        live = list(self._tracks.values())
        self._mean, self._cov = self._kalman.predict(self._mean, self._cov, dt)
        pred = to_xyxy(self._mean)
        boxes = faces.boxes.astype(np.float64)
        matched = greedy_match(iou_matrix(pred, boxes), cfg.iou_threshold)
        matched += self._motion_retry(pred, boxes, matched)
        self._correct(live, matched, boxes, frame_index)
        if low is not None:
            low_pairs = self._low_stage(pred, matched, low)
            self._correct(live, low_pairs, low.boxes.astype(np.float64), frame_index)
        ids = np.full(len(faces), -1, dtype=np.int64)
        for ti, di in matched:
            ids[di] = live[ti].track_id
        new = np.flatnonzero(ids < 0)
        if len(new):
            ids[new] = self._start(boxes[new], frame_index)
        stale = [tid for tid, t in self._tracks.items()
                 if frame_index - t.last_frame > cfg.max_missed]
        if stale:
            self._end(stale)
        return faces.with_track_ids(ids)

    def _motion_retry(self, pred: np.ndarray, boxes: np.ndarray,
                      matched: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Match what stage 1 left after shifting predictions by the frame's median motion."""
        if not matched or len(matched) == min(len(pred), len(boxes)):
            return []
        ti, di = (np.array(x) for x in zip(*matched, strict=True))
        shift = np.median((boxes[di, :2] + boxes[di, 2:]) - (pred[ti, :2] + pred[ti, 2:]),
                          axis=0) / 2
        rest_t = np.setdiff1d(np.arange(len(pred)), ti)
        rest_d = np.setdiff1d(np.arange(len(boxes)), di)
        moved = pred[rest_t] + np.tile(shift, 2)
        pairs = greedy_match(iou_matrix(moved, boxes[rest_d]), self.config.iou_threshold)
        return [(int(rest_t[a]), int(rest_d[b])) for a, b in pairs]

    def _low_stage(self, pred: np.ndarray, matched: list[tuple[int, int]],
                   low: Faces) -> list[tuple[int, int]]:
        floor = self.config.low_score
        if floor is None or len(low) == 0 or len(pred) == 0:
            return []
        rest_t = np.setdiff1d(np.arange(len(pred)), [ti for ti, _ in matched])
        usable = np.flatnonzero(low.scores >= floor)
        if len(rest_t) == 0 or len(usable) == 0:
            return []
        iou = iou_matrix(pred[rest_t], low.boxes[usable])
        pairs = greedy_match(iou, self.config.low_iou_threshold)
        return [(int(rest_t[a]), int(usable[b])) for a, b in pairs]

    def _correct(self, live: list[Track], pairs: list[tuple[int, int]], boxes: np.ndarray,
                 frame_index: int) -> None:
        if not pairs:
            return
        rows = np.array([ti for ti, _ in pairs])
        self._mean[rows], self._cov[rows] = self._kalman.update(
            self._mean[rows], self._cov[rows], boxes[[di for _, di in pairs]])
        for ti in rows:
            t = live[ti]
            t.last_frame = frame_index
            t.hits += 1

    def _start(self, boxes: np.ndarray, frame_index: int) -> np.ndarray:
        mean, cov = self._kalman.initiate(boxes)
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])
        ids = np.arange(self._next_id, self._next_id + len(boxes), dtype=np.int64)
        self._next_id += len(boxes)
        self.tracks_started += len(boxes)
        for tid in ids.tolist():
            self._tracks[tid] = Track(track_id=tid, first_frame=frame_index,
                                      last_frame=frame_index, hits=1,
                                      state=self._state_factory(tid))
        return ids

    def _remove(self, track_ids: list[int]) -> list[Track]:
        gone = set(track_ids)
        keep = np.array([tid not in gone for tid in self._tracks], dtype=bool)
        self._mean, self._cov = self._mean[keep], self._cov[keep]
        return [self._tracks.pop(tid) for tid in track_ids]

    # -- re-joining lost tracks ------------------------------------------------------------
    def reassociate(self, faces: Faces) -> Faces:
        """Fold new tracks back into the lost tracks they continue (module docstring).

        ``faces``: this frame's faces as :meth:`update` returned them, with embeddings for
        some (NaN rows for the others). A face is a candidate when its track has no evidence
        yet; a lost track when it has evidence and was not seen in this frame. Returns the
        faces with the ids of re-joined tracks replaced; the caller then stores the new
        embeddings as evidence of the tracks the faces now belong to."""
        if faces.track_ids is None or faces.embeddings is None:
            return faces
        cfg = self.config
        lost = [t for t in self._tracks.values()
                if t.last_frame < self._frame and t.state.evidence]
        if not lost:
            return faces
        ids = faces.track_ids.copy()
        row = {tid: r for r, tid in enumerate(self._tracks)}
        for i in np.flatnonzero(faces.embedded):
            young = self._tracks.get(int(ids[i]))
            if young is None or young.state.compared:
                continue
            best, best_sim = None, cfg.reid_similarity
            for t in lost:
                if t.last_frame >= young.first_frame:
                    continue  # seen together with the new track: two people
                c, y = self._mean[row[t.track_id]], self._mean[row[young.track_id]]
                if np.hypot(*(y[:2] - c[:2])) > cfg.reid_max_distance * max(c[3], 1.0):
                    continue
                sim = t.state.similarity(faces.embeddings[i])
                if sim is not None and sim >= best_sim:
                    best, best_sim = t, sim
            if best is not None:
                self._fold(young, best, row)
                row = {tid: r for r, tid in enumerate(self._tracks)}
                lost.remove(best)
                ids[i] = best.track_id
        return faces.with_track_ids(ids)

    def _fold(self, young: Track, lost: Track, row: dict[int, int]) -> None:
        r_young, r_lost = row[young.track_id], row[lost.track_id]
        self._mean[r_lost], self._cov[r_lost] = self._mean[r_young], self._cov[r_young]
        self._remove([young.track_id])
        lost.last_frame = young.last_frame
        lost.hits += young.hits
        lost.state.absorb(young.state)
        self.tracks_started -= 1

    # -- ending --------------------------------------------------------------------------
    def _end(self, track_ids: list[int]) -> None:
        self._ended.extend(self._remove(track_ids))

    def end_all(self) -> None:
        """End every live track (end of input, a scene cut, scanning stopped)."""
        self._end(list(self._tracks))

    def pop_ended(self) -> list[Track]:
        """Tracks ended since the last call. The caller reads what it needs from their
        states and clears them."""
        ended, self._ended = self._ended, []
        return ended

    # -- reading -------------------------------------------------------------------------
    @property
    def next_id(self) -> int:
        """The id the next new track gets."""
        return self._next_id

    @property
    def live_tracks(self) -> dict[int, Track]:
        return dict(self._tracks)

    def track(self, track_id: int) -> Track | None:
        return self._tracks.get(int(track_id))

    def state(self, track_id: int) -> TrackState:
        """The state of live track ``track_id`` (KeyError if it is not live)."""
        return self._tracks[int(track_id)].state


def make_tracker(config: TrackerConfig | dict | None = None, *,
                 first_id: int = 1) -> ByteTracker:
    """A tracker from its config (a ``TrackerConfig``, a dict of its fields, or None for the
    defaults)."""
    if isinstance(config, dict):
        config = TrackerConfig.model_validate(config)
    return ByteTracker(config or TrackerConfig(), first_id=first_id)


def settings_fingerprint(config: TrackerConfig | dict[str, Any] | None = None) -> str:
    """``sha256:`` and 16 hex digits of every setting of a tracker config (None: the
    defaults). Equal settings give equal fingerprints, whatever order they were given in: a
    camera reports it with its counters, so a report can say which settings its tracks come
    from (and what they were measured to give on the reference clips)."""
    if not isinstance(config, TrackerConfig):
        config = TrackerConfig.model_validate(config or {})
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
