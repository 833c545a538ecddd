"""The worker with the tracker: a face lost for a few frames that comes back where motion
cannot follow it re-joins its track by its own evidence (one track, one alert), and a
different face there does not. Scripted detector and embedder, no models."""

from __future__ import annotations

import types

import cv2
import numpy as np
import pytest

from openlfr.faces import Faces
from openlfr.pipeline.sources import FolderSourceConfig, Mode
from openlfr.pipeline.worker import CameraWorker, WorkerConfig
from openlfr.watchlist.index import WatchlistIndex

DIM = 8
# frame -> x of the one face (40 px); frames 3-6 see nobody; from frame 7 the face is
# 70 px from where it was last seen: no overlap with any prediction
SCRIPT = {0: 20, 1: 20, 2: 20, 7: 90, 8: 90, 9: 90}
LANDMARKS = np.array([[0.33, 0.4], [0.67, 0.4], [0.5, 0.58], [0.37, 0.76], [0.63, 0.76]])


def _unit(k: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[k] = 1.0
    return v


class ScriptedDetector:
    cfg = types.SimpleNamespace(score_threshold=0.5)

    def __init__(self) -> None:
        self.frame = -1

    def detect(self, image, min_score=None):
        self.frame += 1
        x = SCRIPT.get(self.frame)
        if x is None:
            return Faces.empty()
        box = np.array([[x, 40, x + 40, 80]], np.float32)
        lm = (box[:, None, :2] + LANDMARKS[None] * 40).astype(np.float32)
        return Faces(box, np.array([0.9], np.float32), lm)


class AllPass:
    def assess(self, image, faces, crops=None):
        return faces.with_quality(np.full(len(faces), 0.8, np.float32), {})

    def assess_gated(self, image, faces):
        return self.assess(image, faces), np.zeros((len(faces), 112, 112, 3), np.uint8)

    def passes(self, faces):
        return np.ones(len(faces), bool)


class ScriptedEmbedder:
    """The face before the gap is ``_unit(0)``; after it, ``after``."""

    dim = DIM

    def __init__(self, detector: ScriptedDetector, after: np.ndarray) -> None:
        self.detector, self.after = detector, after

    def embed_aligned(self, crops):
        v = _unit(0) if self.detector.frame < 7 else self.after
        return np.repeat(v[None], len(crops), axis=0)


def _run(tmp_path, after: np.ndarray) -> tuple[dict, list]:
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"{i:04d}.png"), np.full((120, 200, 3), 90, np.uint8))
    det = ScriptedDetector()
    engine = types.SimpleNamespace(detector=det, quality=AllPass(),
                                   embedder=ScriptedEmbedder(det, after))
    index = WatchlistIndex(["s0", "s1"], ["S0", "S1"], np.stack([_unit(0), _unit(1)]))
    cfg = WorkerConfig(camera_id="c", threshold=0.5, mode=Mode.evaluation, scene_cut=None)
    w = CameraWorker(FolderSourceConfig(path=tmp_path), engine, index, cfg)
    stats = w.run()
    return stats, list(w.alerts)


def test_a_face_back_after_a_gap_rejoins_its_track_and_does_not_alert_again(tmp_path):
    stats, alerts = _run(tmp_path, _unit(0))
    assert stats["frames"] == 10 and stats["tracks"] == 1
    assert stats["tracks_ended"] == 1 and stats["tracks_compared"] == 1
    assert [(a.subject_id, a.frame_index, a.track_id) for a in alerts] == [("s0", 0, 1)]


@pytest.mark.parametrize("after", [_unit(1), _unit(2)])
def test_another_face_in_its_place_is_a_new_track(tmp_path, after):
    stats, alerts = _run(tmp_path, after)
    assert stats["tracks"] == 2 and stats["tracks_ended"] == 2
    expected = [("s0", 0, 1)] + ([("s1", 7, 2)] if after[1] else [])
    assert [(a.subject_id, a.frame_index, a.track_id) for a in alerts] == expected
