"""Run a tracker over a clip, on real detections or on noisy truth boxes.

Two sources of faces for the tracker:

* **the vision engine** (:func:`track_clip` with ``frontend=``, an
  :class:`~openlfr.evaluation.tracking.frontend.EngineFrontEnd`): every rendered frame goes
  through the engine's detector (and, for re-association, its quality gates and embedder)
  as in a camera worker; misses, jitter and false detections included;
* **noisy truth** (:class:`NoisyTruth`, no models, fast): the visible truth boxes with
  Gaussian jitter, a share of random misses and, optionally, scores that drop when a face
  is partly hidden. For unit tests of a tracker's logic.

At each of the clip's ``cuts`` every track is ended first (``end_all``), as the worker does
when its scene-cut check fires. The time spent in the tracker's own calls (``update``,
``reassociate``) is measured for the benchmark; detection and embedding are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from openlfr.evaluation.tracking.mot import FrameTracks
from openlfr.evaluation.tracking.truth import Clip, FrameTruth
from openlfr.faces import Faces

__all__ = ["Tracker", "FrontEnd", "NoisyTruth", "TrackRun", "track_clip", "faces_from_boxes"]


class Tracker(Protocol):
    def update(self, faces: Faces, frame_index: int | None = None) -> Faces: ...

    def end_all(self) -> None: ...


class FrontEnd(Protocol):
    def step(self, tracker: Any, image: np.ndarray, index: int) -> Faces: ...


class _Timed:
    """The tracker, with the time spent in its update and reassociate calls added up."""

    def __init__(self, tracker: Any, clock: Callable[[], float]) -> None:
        self._tracker, self._clock, self.seconds = tracker, clock, 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._tracker, name)
        if name not in ("update", "reassociate"):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = self._clock()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += self._clock() - t0

        return timed


def faces_from_boxes(boxes: np.ndarray, scores: np.ndarray | None = None) -> Faces:
    """Faces with the given boxes, scores (default 0.9) and landmarks placed where a frontal
    face has them (eyes, nose, mouth corners), for trackers that read them."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    n = len(boxes)
    rel = np.array([[0.33, 0.4], [0.67, 0.4], [0.5, 0.58], [0.37, 0.76], [0.63, 0.76]],
                   dtype=np.float32)
    size = boxes[:, 2:] - boxes[:, :2]
    landmarks = boxes[:, None, :2] + rel[None] * size[:, None, :]
    if scores is None:
        scores = np.full(n, 0.9, np.float32)
    return Faces(boxes, np.asarray(scores, np.float32), landmarks.reshape(n, 5, 2))


@dataclass
class NoisyTruth:
    """Detections made from the truth: jitter ``jitter`` (share of the face size, one
    standard deviation), a share ``miss_rate`` of faces missed at random, scores in
    [``score_low``, 0.95]. Seeded: the same clip gives the same detections."""

    jitter: float = 0.03
    miss_rate: float = 0.05
    score_low: float = 0.6
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.miss_rate < 1.0 or self.jitter < 0.0:
            raise ValueError("NoisyTruth: miss_rate must be in [0, 1) and jitter >= 0")
        self._rng = np.random.default_rng(self.seed)

    def detect_truth(self, truth: FrameTruth) -> Faces:
        _ids, boxes = truth.seen()
        keep = self._rng.random(len(boxes)) >= self.miss_rate
        boxes = boxes[keep]
        size = np.repeat(boxes[:, 2:] - boxes[:, :2], 2, axis=0).reshape(-1, 4)
        noisy = boxes + self._rng.normal(0.0, self.jitter, boxes.shape) * size
        scores = self._rng.uniform(self.score_low, 0.95, len(boxes))
        return faces_from_boxes(noisy, scores)


@dataclass(frozen=True, eq=False)
class TrackRun:
    """A tracker's output over one clip and the time its updates took."""

    clip: Clip
    tracks: list[FrameTracks]
    update_seconds: float
    faces: int  # faces the tracker returned, all frames
    tracks_started: int | None  # the tracker's own count, when it keeps one

    def evaluation(self) -> tuple[Clip, list[FrameTracks], int | None]:
        """What :func:`~openlfr.evaluation.tracking.mot.evaluate_many` takes."""
        return self.clip, self.tracks, self.tracks_started

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.update_seconds / max(len(self.tracks), 1)


def track_clip(clip: Clip, tracker: Tracker, *, frontend: FrontEnd | None = None,
               noise: NoisyTruth | None = None,
               clock: Callable[[], float] = time.perf_counter) -> TrackRun:
    """Run ``tracker`` over ``clip``: faces from ``frontend`` on the rendered frames, or
    from ``noise`` (noisy truth, default) when no front end is given."""
    if frontend is None and noise is None:
        noise = NoisyTruth()
    timed = _Timed(tracker, clock)
    out: list[FrameTracks] = []
    faces_seen = 0
    for k, truth in enumerate(clip.truth):
        if truth.index in clip.cuts:
            tracker.end_all()
        if frontend is not None:
            tracked = frontend.step(timed, clip.image(k), truth.index)
        else:
            assert noise is not None
            tracked = timed.update(noise.detect_truth(truth), truth.index)
        faces_seen += len(tracked)
        ids = tracked.track_ids if tracked.track_ids is not None else np.zeros(0, np.int64)
        keep = ids >= 0  # a tracker may leave a face unassigned (-1): not a track
        out.append(FrameTracks(truth.index, ids[keep], tracked.boxes[keep]))
    tracker.end_all()
    started = getattr(tracker, "tracks_started", None)
    return TrackRun(clip, out, timed.seconds, faces_seen,
                    None if started is None else int(started))
