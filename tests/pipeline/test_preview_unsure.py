"""The live view blurs detections below the detector's threshold too (they are not counted,
tracked or matched): a face the detector is unsure of is still hidden."""

from __future__ import annotations

import cv2
import numpy as np

from openlfr.pipeline.sources import FolderSourceConfig, Mode
from openlfr.pipeline.testing import FakeEngine, ScriptedFace
from openlfr.pipeline.tracker import TrackerConfig
from openlfr.pipeline.worker import CameraWorker, WorkerConfig
from openlfr.watchlist.index import WatchlistIndex

SURE = (20, 20, 80, 90)  # x1 y1 x2 y2
UNSURE = (140, 30, 190, 90)
# one confident face and one below the threshold (0.5); nothing embedded: only the
# preview matters here
FACES = [ScriptedFace(SURE, score=0.9, usable=False), ScriptedFace(UNSURE, score=0.3,
                                                                   usable=False)]


def _run(tmp_path, blur_score):
    rng = np.random.default_rng(0)
    folder = tmp_path / f"frames-{blur_score}"
    folder.mkdir()
    image = rng.integers(0, 256, (120, 220, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "0001.png"), image)
    frames: list[np.ndarray] = []
    engine = FakeEngine([FACES], score_threshold=0.5, dim=8)
    index = WatchlistIndex(["x"], ["X"], np.eye(1, 8, dtype=np.float32))
    cfg = WorkerConfig(camera_id="c", threshold=0.5, mode=Mode.every_frame,
                       preview_blur_score=blur_score, scene_cut=None)
    stats = CameraWorker(FolderSourceConfig(path=folder), engine, index, cfg,
                         on_frame=frames.append).run()
    return image, frames[0], stats, engine.detector_calls


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
