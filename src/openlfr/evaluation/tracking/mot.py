"""MOT metrics of a tracker's output against a clip's truth, computed by ``motmetrics``.

Per frame, the tracks' boxes are matched to the visible truth faces (IoU >= 0.5, the
CLEAR-MOT convention). A face that is not scored (hidden, mostly out of view, too small)
is an *ignore region*, as in MOT17: a track box on it is neither a match nor a false
positive, and a track seen only on such faces is not counted. From the matches:

``idf1``                 identity F1 (Ristani et al. 2016): the share of faces given the
                         identity that the best one-to-one mapping of tracks to people says
                         they should have. Punishes splits and swaps alike.
``id_switches``          times a person's matched track id changed (CLEAR-MOT IDSW).
``switches_per_person``  id_switches / appearances.
``interruptions``        times a person's tracking stopped and resumed (motmetrics'
                         ``num_fragmentations``; not the same as tracks per person).
``recall``, ``precision`` matched faces / visible truth faces; / track boxes.
``tracks_started``       the tracker's own counter (what the deployment report divides by;
                         a tracker that folds a new track back into a lost one counts it
                         once); None when the tracker keeps none.
``tracks``               tracks_started less the tracks seen only on ignored faces (without
                         a counter: the distinct ids seen on scored faces or on no face; a
                         false track counts).
``tracks_per_person``    tracks / appearances, the **fragmentation** a report's "1 in N
                         tracks" must be read against (1.0: one track per passer-by;
                         2.0: the rate looks twice as good as it is per person).

``motmetrics`` (MIT) is imported when a metric is computed; its ``distances`` helpers call
``np.asfarray``, removed in numpy 2, so the IoU distances are computed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from openlfr.errors import ConfigError
from openlfr.evaluation.tracking.truth import Clip

__all__ = ["FrameTracks", "TrackingMetrics", "evaluate", "evaluate_many", "iou_distances"]

MAX_DISTANCE = 0.5  # 1 - IoU: a match needs IoU >= 0.5
_MM_METRICS = ["idf1", "idp", "idr", "recall", "precision", "mota", "num_switches",
               "num_fragmentations", "num_unique_objects", "num_objects", "num_matches",
               "num_false_positives", "num_misses", "mostly_tracked"]


@dataclass(frozen=True, eq=False)
class FrameTracks:
    """A tracker's output in one frame: track ids (m,) and boxes (m, 4)."""

    index: int
    ids: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class TrackingMetrics:
    clip: str
    frames: int
    appearances: int
    people: int
    tracks: int
    tracks_started: int | None
    tracks_per_person: float
    idf1: float
    id_switches: int
    switches_per_person: float
    interruptions: int
    recall: float
    precision: float
    mota: float
    mostly_tracked: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in asdict(self).items()}


def iou_distances(truth: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """(k, m) distance 1 - IoU between truth and track boxes (x1 y1 x2 y2); NaN where the
    IoU is below 0.5 (no match possible), as motmetrics expects."""
    t = np.asarray(truth, dtype=np.float64).reshape(-1, 1, 4)
    h = np.asarray(hyp, dtype=np.float64).reshape(1, -1, 4)
    lo = np.maximum(t[..., :2], h[..., :2])
    hi = np.minimum(t[..., 2:], h[..., 2:])
    overlap = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    area_t = np.prod(np.clip(t[..., 2:] - t[..., :2], 0.0, None), axis=-1)
    area_h = np.prod(np.clip(h[..., 2:] - h[..., :2], 0.0, None), axis=-1)
    union = area_t + area_h - overlap
    iou = np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)
    dist = 1.0 - iou
    dist[dist > MAX_DISTANCE] = np.nan
    return dist


def _motmetrics():  # type: ignore[no-untyped-def]
    try:
        import motmetrics
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError("the tracking evaluation needs motmetrics: "
                          "pip install 'openlfr[eval]'") from exc
    return motmetrics


def _accumulate(clip: Clip, tracks: Sequence[FrameTracks]
                ) -> tuple[Any, set[int], set[int]]:
    """The motmetrics accumulator of a clip and the ids of the tracks seen only on
    ignored faces (and of those seen elsewhere)."""
    mm = _motmetrics()
    if len(tracks) != len(clip.truth):
        raise ValueError(f"clip {clip.name}: {len(tracks)} frames of tracks for "
                         f"{len(clip.truth)} frames of truth")
    acc = mm.MOTAccumulator(auto_id=False)
    counted: set[int] = set()
    every: set[int] = set()
    for truth, out in zip(clip.truth, tracks, strict=True):
        if truth.index != out.index:
            raise ValueError(f"clip {clip.name}: tracks for frame {out.index} where the "
                             f"truth has frame {truth.index}")
        ids, boxes = truth.seen()
        hyp_ids = np.asarray(out.ids, dtype=np.int64)
        dist = iou_distances(boxes, out.boxes)
        on_scored = ~np.all(np.isnan(dist), axis=0)
        on_ignored = ~np.all(np.isnan(iou_distances(truth.boxes[~truth.visible],
                                                    out.boxes)), axis=0)
        keep = on_scored | ~on_ignored
        counted.update(int(i) for i in hyp_ids[keep])
        every.update(int(i) for i in hyp_ids)
        acc.update(ids.tolist(), hyp_ids[keep].tolist(), dist[:, keep], frameid=truth.index)
    return acc, every - counted, counted


def _metrics(name: str, row: Any, frames: int, appearances: int, people: int,
             tracks: int, started: int | None) -> TrackingMetrics:
    per = max(appearances, 1)
    return TrackingMetrics(
        clip=name, frames=frames, appearances=appearances, people=people, tracks=tracks,
        tracks_started=started, tracks_per_person=tracks / per, idf1=float(row["idf1"]),
        id_switches=int(row["num_switches"]),
        switches_per_person=int(row["num_switches"]) / per,
        interruptions=int(row["num_fragmentations"]), recall=float(row["recall"]),
        precision=float(row["precision"]), mota=float(row["mota"]),
        mostly_tracked=int(row["mostly_tracked"]))


Run = tuple[Clip, Sequence[FrameTracks], int | None]


def evaluate(clip: Clip, tracks: Sequence[FrameTracks],
             tracks_started: int | None = None) -> TrackingMetrics:
    """Metrics of one clip (``tracks``: one :class:`FrameTracks` per delivered frame;
    ``tracks_started``: the tracker's own counter, reported as it is)."""
    return evaluate_many([(clip, tracks, tracks_started)])[0]


def evaluate_many(runs: Sequence[Run]) -> list[TrackingMetrics]:
    """Metrics of each ``(clip, tracks, tracks_started)``, then of all clips together
    (last; ``clip="all"``, IDF1 and recall over all faces of all clips) when there is more
    than one."""
    if not runs:
        raise ValueError("evaluate_many: no clips")
    mm = _motmetrics()
    done = [_accumulate(clip, tracks) for clip, tracks, _n in runs]
    names = [clip.name for clip, _t, _n in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"clip names must be unique, got {names}")
    table = mm.metrics.create().compute_many([d[0] for d in done], metrics=_MM_METRICS,
                                             names=names, generate_overall=len(runs) > 1)
    out = [_metrics(clip.name, table.loc[clip.name], len(clip), clip.appearances,
                    clip.people, len(counted) if n is None else max(0, n - len(ignored)), n)
           for (clip, _t, n), (_acc, ignored, counted) in zip(runs, done, strict=True)]
    if len(runs) > 1:
        started = [m.tracks_started for m in out]
        out.append(_metrics("all", table.loc["OVERALL"], sum(m.frames for m in out),
                            sum(m.appearances for m in out), sum(m.people for m in out),
                            sum(m.tracks for m in out),
                            None if None in started else sum(started)))  # type: ignore[arg-type]
    return out
