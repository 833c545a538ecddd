"""The live view blurs detections below the detector's threshold too (they are not counted,
tracked or matched): a face the detector is unsure of is still hidden."""

from __future__ import annotations

import types

import cv2
import numpy as np

from openlfr.faces import Faces
from openlfr.pipeline.sources import FolderSourceConfig, Mode
from openlfr.pipeline.tracker import TrackerConfig
from openlfr.pipeline.worker import CameraWorker, WorkerConfig
from openlfr.watchlist.index import WatchlistIndex

SURE = (20, 20, 80, 90)  # x1 y1 x2 y2
UNSURE = (140, 30, 190, 90)


class TwoFaceDetector:
    """One confident face and one below the threshold, unless the call asks for less."""

    cfg = types.SimpleNamespace(score_threshold=0.5)
    name = "two-faces"

    def __init__(self) -> None:
        self.calls: list[float | None] = []

    def detect(self, image, min_score=None):
        self.calls.append(min_score)
        boxes = np.array([SURE, UNSURE], np.float32)
        scores = np.array([0.9, 0.3], np.float32)
        lm = np.zeros((2, 5, 2), np.float32)
        faces = Faces(boxes, scores, lm)
        floor = self.cfg.score_threshold if min_score is None else min_score
        return faces[faces.scores >= floor]


class NoQuality:
    def assess(self, image, faces, crops=None):
        return faces.with_quality(np.zeros(len(faces)), {})

    def assess_gated(self, image, faces):
        return self.assess(image, faces), np.zeros((len(faces), 112, 112, 3), np.uint8)

    def passes(self, faces):
        return np.zeros(len(faces), bool)  # nothing embedded: only the preview matters here


def _run(tmp_path, blur_score):
    rng = np.random.default_rng(0)
    folder = tmp_path / f"frames-{blur_score}"
    folder.mkdir()
    image = rng.integers(0, 256, (120, 220, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "0001.png"), image)
    frames: list[np.ndarray] = []
    engine = types.SimpleNamespace(detector=TwoFaceDetector(), quality=NoQuality(),
                                   embedder=None)
    index = WatchlistIndex(["x"], ["X"], np.eye(1, 8, dtype=np.float32))
    cfg = WorkerConfig(camera_id="c", threshold=0.5, mode=Mode.evaluation,
                       preview_blur_score=blur_score, scene_cut=None)
    stats = CameraWorker(FolderSourceConfig(path=folder), engine, index, cfg,
                         on_frame=frames.append).run()
    return image, frames[0], stats, engine.detector.calls


def _changed(before, after, box) -> float:
    x1, y1, x2, y2 = box
    return float(np.abs(before[y1:y2, x1:x2].astype(int) - after[y1:y2, x1:x2]).mean())


def test_unsure_face_is_blurred_but_not_counted(tmp_path):
    image, shown, stats, calls = _run(tmp_path, 0.2)
    assert calls == [0.2]
    assert stats["faces"] == 1  # only the confident face is analysed and counted
    assert _changed(image, shown, SURE) > 20 and _changed(image, shown, UNSURE) > 20


def test_without_blur_floor_only_analysed_faces_are_blurred(tmp_path):
    image, shown, stats, calls = _run(tmp_path, None)
    # the tracker's second stage still asks for the unsure faces; they are not blurred
    assert calls == [TrackerConfig().low_score] and stats["faces"] == 1
    assert _changed(image, shown, SURE) > 20 and _changed(image, shown, UNSURE) == 0
