"""The truth of the demo camera's pan (``openlfr demo``), from the demo scene's geometry.

The demo clip is a virtual camera panning across three photographs
(:data:`openlfr.demoscene.DEMO_PASS`): every frame is a known window of a known still,
scaled to 1280x720. The faces in each still are found once by SCRFD run on the still
enlarged twice (:func:`still_faces`; far more sensitive than the live detector, which sees
the still at about 0.7x): the 14 players *and about 120 spectators* behind them in the
team photo, 5 faces in the Spurs photo, Grace Hopper. Each face's box in a frame is its box
in the still mapped through that frame's window, so the truth is exact up to how the
detector draws a box on a sharp still. (Counting only the players, as issue 15 first did,
gives 29 people in about 46 appearances; the spectators are real faces that the live
detector finds and tracks, so they are in the truth.)

A face shorter than :data:`MIN_DEMO_FACE_PX` is not scored (an ignore region: tracks on it
are not counted either). A face is one appearance per segment of the pass in which it is
visible (at least half of its box in the frame): the team and the Spurs photos are filmed
twice, so their people appear twice, and a new segment is a cut where the pipeline ends
every track. A perfect tracker makes exactly :attr:`Clip.appearances` tracks on this clip.
"""

from __future__ import annotations

import cv2
import numpy as np

from openlfr.demoscene import (
    DEMO_PASS,
    FPS,
    FRAME_SIZE,
    demo_photos,
    pan_windows,
    render_window,
)
from openlfr.evaluation.tracking.synth import IN_VIEW
from openlfr.evaluation.tracking.truth import Clip, FrameTruth
from openlfr.vision.detectors import ScrfdConfig, build_detector

__all__ = ["demo_clip", "still_faces", "MIN_DEMO_FACE_PX"]

#: Faces shorter than this in the 1280x720 frame are not scored: the live detector sees the
#: frame at 640 px wide, where they are under the ~10 px SCRFD needs (ScrfdConfig.max_size).
MIN_DEMO_FACE_PX = 20.0


def _mapped(boxes: np.ndarray, window: tuple[int, int, int, int],
            size: tuple[int, int]) -> np.ndarray:
    x, y, cw, ch = window
    scale = np.array([size[0] / cw, size[1] / ch] * 2)
    return (boxes - np.array([x, y, x, y], np.float64)) * scale


def _inside(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    iw = np.clip(np.minimum(boxes[:, 2], size[0]) - np.maximum(boxes[:, 0], 0), 0, None)
    ih = np.clip(np.minimum(boxes[:, 3], size[1]) - np.maximum(boxes[:, 1], 0), 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return iw * ih / area


def still_faces(photo: np.ndarray, detector=None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Face boxes (n, 4) in a still, found on the still enlarged twice (SCRFD at up to
    4096 px unless another ``detector`` is given)."""
    detector = detector or build_detector(ScrfdConfig(max_size=4096))
    big = cv2.resize(photo, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    return detector.detect(big).boxes.astype(np.float64) / 2.0


def demo_clip(*, render: bool = True, detector=None,  # type: ignore[no-untyped-def]
              min_face_px: float = MIN_DEMO_FACE_PX) -> Clip:
    """The demo pass (600 frames at 15 fps) with its truth (``render=False``: truth only;
    ``detector``: what finds the faces in the stills, see :func:`still_faces`; faces
    shorter than ``min_face_px`` in the frame are not scored)."""
    photos = demo_photos()
    detector = detector or build_detector(ScrfdConfig(max_size=4096))
    stills = {name: still_faces(photo, detector) for name, photo in photos.items()}
    truth: list[FrameTruth] = []
    frames: list[tuple[str, tuple[int, int, int, int]]] = []
    cuts: set[int] = set()
    person_of: dict[int, str] = {}
    for seg, (name, crop_w, seconds, options) in enumerate(DEMO_PASS):
        boxes = stills[name]
        ids = np.arange(len(boxes), dtype=np.int64) + 1000 * (seg + 1)
        person_of.update({int(i): f"{name}#{j}" for j, i in enumerate(ids)})
        if seg:
            cuts.add(len(frames))
        for window in pan_windows(photos[name].shape, crop_w, seconds, **options):
            mapped = _mapped(boxes, window, FRAME_SIZE)
            inside = _inside(mapped, FRAME_SIZE)
            there = inside > 0
            visible = (inside >= IN_VIEW) & (mapped[:, 3] - mapped[:, 1] >= min_face_px)
            truth.append(FrameTruth(len(frames), ids[there], mapped[there], visible[there]))
            frames.append((name, window))

    def draw(k: int) -> np.ndarray:
        name, window = frames[k]
        return render_window(photos[name], window)

    return Clip("demo-pass", FRAME_SIZE, float(FPS), tuple(truth), draw if render else None,
                frozenset(cuts), person_of,
                "the demo camera's pan: team photo, Spurs, Grace Hopper, team (left half), "
                "Spurs again")
