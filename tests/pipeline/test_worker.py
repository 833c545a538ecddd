"""The per-camera worker on real footage with the real models: alerts, guard, drops,
every-frame mode, preview redaction."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from openlfr.errors import SourceError
from openlfr.pipeline.scan import build_watchlist
from openlfr.pipeline.sources import FolderSourceConfig, Mode, open_source
from openlfr.pipeline.testing import RecordingSink
from openlfr.pipeline.worker import CameraWorker, WorkerConfig
from openlfr.vision.engine import VisionEngine
from openlfr.watchlist.index import WatchlistIndex

pytestmark = pytest.mark.shared_data

# Shot boundaries of the Hamilton clip (first frame of each shot), measured from colour
# histograms (Bhattacharyya > 0.4): wide stage shot, profile close-up over the audience,
# close-ups of the performer, audience shots.
HAMILTON_SHOTS = [0, 20, 82, 211, 275]


def _shot(frame: int) -> int:
    return int(np.searchsorted(HAMILTON_SHOTS, frame, side="right")) - 1


@pytest.fixture(scope="module")
def engine():
    from openlfr.vision.engine import VisionEngine

    return VisionEngine.from_config()


@pytest.fixture(scope="module")
def performer(shared_data):
    path = shared_data / "video" / "hamilton_references" / "lin-manuel-miranda.png"
    if not path.exists():
        pytest.skip(f"evaluation file {path} is absent")
    return path


@pytest.fixture(scope="module")
def hamilton_watchlist(performer, lfw_dir, engine):
    # the performer plus 300 LFW people (spread over the alphabet) as distractors; the full
    # 5,749 run is `openlfr scan ... --distractors lfw` (docs/live-scanning.md)
    wl = build_watchlist([performer], engine=engine, distractors="lfw:300", progress=False)
    assert len(wl.index) == 301
    return wl.index


def test_hamilton_alerts_only_for_the_performer_at_most_once_per_shot(
        hamilton_clip, hamilton_watchlist, engine):
    sink = RecordingSink()
    w = CameraWorker(str(hamilton_clip), engine, hamilton_watchlist,
                     WorkerConfig(camera_id="stage", threshold=engine.threshold.value,
                                  mode=Mode.every_frame), sinks=[sink])
    st = w.run()
    alerts = list(w.alerts)
    assert st["frames"] == 275 and st["dropped"] == 0  # every_frame: every frame
    assert alerts, "the performer was not found"
    assert {a.subject_id for a in alerts} == {"lin-manuel-miranda"}
    shots = [_shot(a.frame_index) for a in alerts]
    assert len(shots) == len(set(shots)), f"more than one alert in a shot: {shots}"
    assert 2 in shots  # the close-ups of the performer (frames 82-210)
    assert st["embedded"] < st["faces"] / 10  # embedding only when a track needs it
    assert len(sink.alerts) == len(alerts)  # delivered through the sink
    for a in alerts:
        assert a.probe_jpeg[:3] == b"\xff\xd8\xff" and a.score >= a.threshold
    # per-track state is gone at the end (privacy): every track ended and was handed over
    assert w.open_tracks == 0
    assert st["tracks_ended"] == st["tracks"]


def _frames_folder(clip, tmp_path, n: int):
    cap = cv2.VideoCapture(str(clip))
    for i in range(n):
        ok, img = cap.read()
        assert ok
        cv2.imwrite(str(tmp_path / f"{i:04d}.png"), img)
    cap.release()
    return tmp_path


def test_frames_outside_the_guard_are_not_analysed(hamilton_clip, tmp_path, engine,
                                                    monkeypatch):
    folder = _frames_folder(hamilton_clip, tmp_path, 12)
    calls = []
    detect = engine.detector.detect
    monkeypatch.setattr(engine.detector, "detect",
                        lambda im, **kw: calls.append(1) or detect(im, **kw))
    allowed = iter([True] * 5 + [False] * 100)
    index = WatchlistIndex(["x"], ["X"], np.eye(1, 512, dtype=np.float32))
    w = CameraWorker(FolderSourceConfig(path=folder, fps=10), engine, index,
                     WorkerConfig(camera_id="c", threshold=0.99, mode=Mode.every_frame),
                     guard=lambda cam, now: cam == "c" and now.tzinfo is not None
                     and next(allowed))
    st = w.run()
    assert st["frames"] == 5 and st["refused"] == 7
    assert len(calls) == 5  # the detector never saw a refused frame
    assert w.open_tracks == 0  # scanning stopped: tracks dropped at once


def test_live_mode_drops_frames_instead_of_falling_behind(crowd_clip, engine, monkeypatch):
    # The file is decoded as fast as it goes (no pacing sleep), and the detector waits until
    # three more frames have been decoded: analysis is slower than the camera by
    # construction, whatever the machine's speed. Live mode must then drop frames and always
    # analyse the newest one, never a backlog.
    src = open_source(str(crowd_clip), Mode.live, sleep=lambda s: None)
    total = 105
    seen: list[tuple[int, int]] = []  # (frames decoded before a read, index of its frame)
    read = src.read

    def read_latest(timeout=None):
        before = src.stats.decoded
        frame = read(timeout)
        if frame is not None:
            seen.append((before, frame.index))
        return frame

    detect = engine.detector.detect

    def slow_detect(image, **kw):
        target = min(total, src.stats.decoded + 3)
        while src.stats.decoded < target and src.error is None:
            time.sleep(0.001)  # waits for a count, not for a time
        return detect(image, **kw)

    monkeypatch.setattr(src, "read", read_latest)
    monkeypatch.setattr(engine.detector, "detect", slow_detect)
    index = WatchlistIndex(["x"], ["X"], np.eye(1, 512, dtype=np.float32))
    cfg = WorkerConfig(camera_id="crowd", threshold=0.99, mode=Mode.live)
    st = CameraWorker(src, engine, index, cfg).run()
    assert st["decoded"] == total
    assert st["dropped"] > 0
    assert st["frames"] + st["dropped"] == st["decoded"]
    # every frame read was at least the newest one decoded before the read: no backlog
    assert seen and all(index >= before - 1 for before, index in seen)
    assert st["frames"] < total / 2


def test_preview_blurs_faces_that_are_not_alerts(hamilton_clip, tmp_path, engine):
    folder = _frames_folder(hamilton_clip, tmp_path, 1)
    index = WatchlistIndex(["x"], ["X"], np.eye(1, 512, dtype=np.float32))
    shown = []
    w = CameraWorker(FolderSourceConfig(path=folder), engine, index,
                     WorkerConfig(camera_id="c", threshold=0.99, mode=Mode.every_frame,
                                  preview=True), on_frame=shown.append)
    w.run()
    jpeg = w.latest_preview_jpeg()
    assert jpeg is not None and jpeg[:3] == b"\xff\xd8\xff"
    original = cv2.imread(str(folder / "0000.png"))
    faces = engine.detector.detect(original)
    assert len(faces)
    for b in faces.boxes.astype(int):
        x1, y1, x2, y2 = b
        before = original[y1:y2, x1:x2].astype(float)
        after = shown[0][y1:y2, x1:x2].astype(float)
        # detail (high-frequency energy) is gone from every face region
        assert cv2.Laplacian(after, cv2.CV_64F).var() < 0.1 * cv2.Laplacian(
            before, cv2.CV_64F).var() + 1


def test_folder_source_in_every_frame_mode_analyses_every_image(hamilton_clip, tmp_path,
                                                                engine):
    folder = _frames_folder(hamilton_clip, tmp_path, 6)
    index = WatchlistIndex(["x"], ["X"], np.eye(1, 512, dtype=np.float32))
    src = open_source(FolderSourceConfig(path=folder), Mode.every_frame)
    w = CameraWorker(src, engine, index, WorkerConfig(camera_id="c", threshold=0.99,
                                                      mode=Mode.every_frame))
    st = w.run()
    assert st["frames"] == 6 and st["dropped"] == 0 and st["faces"] > 0


class _Broken:
    """A detector that fails on chosen frames (a stage that raises)."""

    def __init__(self, inner, fail):
        self.inner, self.fail, self.n = inner, fail, 0

    def detect(self, image, min_score=None):
        self.n += 1
        if self.fail(self.n):
            raise RuntimeError("detector failed")
        return self.inner.detect(image, min_score=min_score)


def test_a_failing_frame_is_skipped_and_a_failing_stage_stops_cleanly(hamilton_clip,
                                                                        tmp_path, engine):
    folder = _frames_folder(hamilton_clip, tmp_path, 8)
    index = WatchlistIndex(["x"], ["X"], np.eye(1, 512, dtype=np.float32))
    cfg = WorkerConfig(camera_id="c", threshold=0.99, mode=Mode.every_frame,
                       max_consecutive_errors=3)
    flaky = VisionEngine(_Broken(engine.detector, lambda n: n == 2), engine.quality,
                         engine.embedder, engine.config)
    st = CameraWorker(FolderSourceConfig(path=folder), flaky, index, cfg).run()
    assert st["frames"] == 7 and st["errors"] == 1

    dead = VisionEngine(_Broken(engine.detector, lambda n: True), engine.quality,
                        engine.embedder, engine.config)
    sink = RecordingSink()
    w = CameraWorker(FolderSourceConfig(path=folder), dead, index, cfg, sinks=[sink])
    with pytest.raises(RuntimeError, match="detector failed"):
        w.run()
    # it gave up at the third consecutive failure: no frame after it was tried
    assert not w.running and dead.detector.n == 3
    assert w.stats()["errors"] == 3


def test_stats_and_preview_can_be_read_from_another_thread_while_scanning(hamilton_clip,
                                                                          engine):
    index = WatchlistIndex(["x"], ["X"], np.eye(1, 512, dtype=np.float32))
    w = CameraWorker(str(hamilton_clip), engine, index,
                     WorkerConfig(camera_id="c", threshold=0.99, mode=Mode.live, preview=True))
    w.start()
    seen = 0
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        st = w.stats()  # as the API's figures endpoint does
        jpeg = w.latest_preview_jpeg()
        seen += jpeg is not None
        assert st["camera_id"] == "c"
        time.sleep(0.01)
    w.stop()
    assert not w.running and seen > 0
    assert w.stats()["frames"] > 0


def test_http_camera_stream_to_alert(hamilton_clip, performer, engine):
    from openlfr.pipeline.sources import StreamSourceConfig

    from ._fakes import mjpeg_camera

    cap = cv2.VideoCapture(str(hamilton_clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)  # the performer's close-ups
    images = [cap.read()[1] for _ in range(30)]
    cap.release()
    wl = build_watchlist([performer], engine=engine)
    with mjpeg_camera(frames_per_connection=30, connections_served=1, interval_s=1 / 30,
                      images=images) as cam:
        got = []
        cfg = StreamSourceConfig(url=cam["url"], max_reconnects=0)
        w = CameraWorker(cfg, engine, wl.index,
                         WorkerConfig(camera_id="http-cam", threshold=engine.threshold.value,
                                      mode=Mode.live), on_alert=got.append)
        with pytest.raises(SourceError, match="giving up"):
            w.run()  # the camera serves one clip and goes down: the worker reports it
    assert [a.subject_id for a in got] == ["lin-manuel-miranda"]
    assert got[0].camera_id == "http-cam" and w.stats()["frames"] > 5
