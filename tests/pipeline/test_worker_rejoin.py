"""The worker with the tracker: a face lost for a few frames that comes back where motion
cannot follow it re-joins its track by its own evidence (one track, one alert), and a
different face there does not. A scripted engine (openlfr.pipeline.testing), no models."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from openlfr.pipeline.sources import FolderSourceConfig, Mode
from openlfr.pipeline.testing import FakeEngine, ScriptedFace
from openlfr.pipeline.worker import CameraWorker, WorkerConfig
from openlfr.watchlist.index import WatchlistIndex

# frame -> x of the one face (40 px); frames 3-6 see nobody; from frame 7 the face is
# 70 px from where it was last seen: no overlap with any prediction
SCRIPT = {0: 20, 1: 20, 2: 20, 7: 90, 8: 90, 9: 90}


def _run(tmp_path, after: str) -> tuple[dict, list]:
    """The face before the gap is ``s0``; after it, ``after``."""
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"{i:04d}.png"), np.full((120, 200, 3), 90, np.uint8))

    def script(n: int) -> list[ScriptedFace]:
        x = SCRIPT.get(n)
        return [] if x is None else [ScriptedFace((x, 40, x + 40, 80),
                                                  identity="s0" if n < 7 else after)]

    engine = FakeEngine(script)
    index = WatchlistIndex(["s0", "s1"], ["S0", "S1"],
                           np.stack([engine.vector("s0"), engine.vector("s1")]))
    cfg = WorkerConfig(camera_id="c", threshold=0.5, mode=Mode.every_frame, scene_cut=None)
    w = CameraWorker(FolderSourceConfig(path=tmp_path), engine, index, cfg)
    stats = w.run()
    return stats, list(w.alerts)


def test_a_face_back_after_a_gap_rejoins_its_track_and_does_not_alert_again(tmp_path):
    stats, alerts = _run(tmp_path, "s0")
    assert stats["frames"] == 10 and stats["tracks"] == 1
    assert stats["tracks_ended"] == 1 and stats["tracks_compared"] == 1
    assert [(a.subject_id, a.frame_index, a.track_id) for a in alerts] == [("s0", 0, 1)]


@pytest.mark.parametrize("after", ["s1", "stranger"])
def test_another_face_in_its_place_is_a_new_track(tmp_path, after):
    stats, alerts = _run(tmp_path, after)
    assert stats["tracks"] == 2 and stats["tracks_ended"] == 2
    expected = [("s0", 0, 1)] + ([("s1", 7, 2)] if after == "s1" else [])
    assert [(a.subject_id, a.frame_index, a.track_id) for a in alerts] == expected
