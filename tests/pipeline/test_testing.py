"""The fakes shipped for integrators (openlfr.pipeline.testing) do what docs/live-scanning.md
says: the example there runs as written."""

from __future__ import annotations

import cv2
import numpy as np

from openlfr.faces import Frame
from openlfr.pipeline.sources import FolderSourceConfig, Mode
from openlfr.pipeline.testing import FakeEngine, RecordingSink, ScriptedFace
from openlfr.pipeline.worker import CameraWorker, WorkerConfig
from openlfr.vision.engine import Need
from openlfr.watchlist.enrol import face_template
from openlfr.watchlist.index import WatchlistIndex


def _frames(folder, n: int):
    folder.mkdir()
    for i in range(n):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((120, 160, 3), 90, np.uint8))
    return folder


def test_the_documented_example(tmp_path):
    frames = _frames(tmp_path / "frames", 10)
    fake = FakeEngine([[ScriptedFace((20, 40, 60, 80), identity="alice")]] * 10)
    index = WatchlistIndex(["alice"], ["Alice"], fake.vector("alice")[None])
    sink = RecordingSink()
    stats = CameraWorker(FolderSourceConfig(path=frames), fake, index,
                         WorkerConfig(camera_id="c", threshold=0.5, mode=Mode.every_frame),
                         sinks=[sink], on_counters=sink.record_counters).run()
    assert [a.subject_id for a in sink.alerts] == ["alice"]  # once per track
    assert stats["frames"] == 10 and stats["tracks"] == 1
    assert sink.counters and sum(c["frames"] for c in sink.counters) == 10


def test_scripted_faces_below_the_floor_unusable_faces_and_identities():
    fake = FakeEngine([[ScriptedFace((0, 0, 40, 40), identity="a"),
                        ScriptedFace((50, 0, 90, 40), score=0.3, identity="b"),
                        ScriptedFace((0, 50, 40, 90), identity="c", usable=False)]] * 2)
    image = np.zeros((100, 100, 3), np.uint8)
    frame = fake.analyse(Frame(image), Need.FACES, floor=0.2)
    assert len(frame.analysed) == 2 and frame.low is not None and len(frame.low) == 1
    frame = fake.analyse(frame, Need.QUALITY | Need.EMBEDDINGS, gate=True)
    assert frame.passes is not None and frame.passes.tolist() == [True, False]
    emb = frame.analysed.embeddings
    assert emb is not None and np.allclose(emb[0], fake.vector("a"), atol=1e-6)
    assert np.isnan(emb[1]).all() and fake.detector_calls == [0.2]
    assert abs(float(fake.vector("a") @ fake.vector("c"))) < 0.3  # two people
    # enrolment runs on it too: two faces, one usable
    t = face_template(fake, image)
    assert np.allclose(t.embedding, fake.vector("a"), atol=1e-6)


def test_recording_sink_fails_on_demand():
    sink = RecordingSink(fail_times=1)
    try:
        sink.send(object())  # type: ignore[arg-type]
    except ConnectionError:
        pass
    sink.send("alert")  # type: ignore[arg-type]
    assert sink.alerts == ["alert"] and sink.calls == 2
