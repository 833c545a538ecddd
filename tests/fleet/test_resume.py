"""A recorded clip stopped part-way resumes from its stored progress (issue 14, item 2): the
file source starts at the stored frame, the worker publishes how far it got with its
counters, and a run resumed there raises the alerts the stopped run raised after that point,
with the same ids (stored once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from openlfr.demoscene import sample_photo
from openlfr.fleet.camera import CameraSpec, build_camera
from openlfr.fleet.health import NodeStatus
from openlfr.fleet.leases import DeploymentState, plan
from openlfr.fleet.process import LeaseGuard
from openlfr.pipeline.sources import Mode, open_source
from openlfr.store.models import DeploymentStatus
from openlfr.watchlist.enrol import enrol_image
from openlfr.watchlist.index import WatchlistIndex

GAP = 20  # empty frames between two shots: more than the tracker's max_missed (12)


@pytest.fixture(scope="module")
def two_shots(short_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The short clip, an empty stretch, and the short clip again: a clip with a moment
    where no track is open, part-way through."""
    cap = cv2.VideoCapture(str(short_clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    out = tmp_path_factory.mktemp("resume") / "two_shots.avi"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in [*frames, *[np.zeros_like(frames[0])] * GAP, *frames]:
        writer.write(f)
    writer.release()
    return out


def _frames(src) -> list[int]:  # noqa: ANN001
    with src:
        return [f.index for f in src]


def test_a_file_source_starts_at_its_start_frame(short_clip: Path) -> None:
    every = _frames(open_source(str(short_clip), Mode.every_frame))
    assert _frames(open_source(str(short_clip), Mode.every_frame, start_frame=10)) == every[10:]
    assert _frames(open_source(str(short_clip), Mode.every_frame,
                               start_frame=len(every) + 5)) == []
    # a live source (or a looping clip) starts from now whatever it is told
    live = open_source(f"file://{short_clip}?loop=1", Mode.live, start_frame=10)
    assert live.start_frame == 0


class _Recorder:
    def __init__(self) -> None:
        self.alerts: list = []
        self.reports: list[dict[str, int]] = []

    def alert(self, alert) -> None:  # noqa: ANN001
        self.alerts.append(alert)

    def counters(self, delta) -> None:  # noqa: ANN001
        self.reports.append(dict(delta))


def _run(clip: Path, engine, index, start_frame: int = 0, start_track_id: int = 1):  # noqa: ANN001, ANN202
    now = datetime.now(UTC)
    state = DeploymentState(status=DeploymentStatus.ACTIVE, window_start=now - timedelta(1),
                            window_end=now + timedelta(1), camera_ids=["cam"],
                            kind="evaluation")
    guard = LeaseGuard(grace_s=1e9)
    guard.confirm(float("inf"), state)
    rec = _Recorder()
    spec = CameraSpec(7, "cam", str(clip), threshold=engine.threshold.value, evaluation=True,
                      index=index, worker_options={"counters_every_s": 1e-6},
                      start_frame=start_frame, start_track_id=start_track_id)
    worker = build_camera(spec, engine, guard=guard, recorder=rec)
    worker.run()
    return worker, rec


def test_a_clip_stopped_part_way_resumes_from_its_progress_without_new_alert_ids(
        two_shots: Path) -> None:
    from openlfr.vision.engine import VisionEngine

    engine = VisionEngine.from_config()
    _, template = enrol_image(engine, sample_photo("yaoming.jpg"))
    index = WatchlistIndex(["1"], ["demo"], template[None, :])
    full, rec = _run(two_shots, engine, index)
    total = full.last_frame_index + 1
    points = sorted({(r["frame_index"], r["next_track_id"]) for r in rec.reports})
    assert all("frame_index" in r for r in rec.reports)  # published with every report
    # a point inside the empty stretch: the second shot is ahead, nobody is tracked
    frame, track = next(p for p in points if 45 < p[0] <= 45 + GAP)
    assert track > 1  # the first shot's tracks were numbered before it
    after = [a.alert_id for a in rec.alerts if a.frame_index >= frame]
    assert after and len(after) < len(rec.alerts)  # alerts on both sides of the point

    resumed, rec2 = _run(two_shots, engine, index, frame, track)
    assert resumed.counts["frames"] == total - frame  # nothing before the point analysed
    assert [a.alert_id for a in rec2.alerts] == after  # the same alerts, the same ids
    assert min(a.frame_index for a in rec2.alerts) >= frame


def test_leases_carry_the_resume_point_to_the_node() -> None:
    now = datetime.now(UTC)
    state = DeploymentState(status=DeploymentStatus.ACTIVE, window_start=now - timedelta(1),
                            window_end=now + timedelta(1), camera_ids=["a", "b"],
                            kind="evaluation")
    node = NodeStatus(name="n1", host="h", pid=1, max_cameras=4, started_at=now,
                      reported_at=now, cameras=[])
    wanted = {(1, "a"): (state, "d"), (1, "b"): (state, "d")}
    p = plan(wanted, {}, [node], now, lease_s=6, node_timeout_s=3, resume={(1, "a"): (60, 4)})
    got = {lease.camera_id: (lease.start_frame, lease.start_track_id) for lease in p.put}
    assert got == {"a": (60, 4), "b": (0, 1)}
    leases = {lease.key: lease for lease in p.put}
    p = plan(wanted, leases, [node], now, lease_s=6, node_timeout_s=3,
             resume={(1, "a"): (80, 6), (1, "b"): (10, 2)})
    assert {lease.camera_id: (lease.start_frame, lease.start_track_id) for lease in p.put} \
        == {"a": (80, 6), "b": (10, 2)}  # renewals carry the latest progress


def test_the_centre_stores_progress_published_with_counters(tmp_path: Path) -> None:
    from openlfr.fleet.bus import BusConfig
    from openlfr.fleet.centre import Centre
    from openlfr.fleet.events import CountersEvent
    from openlfr.governance.alerts import get_resume_point

    from .test_fleet_live import _seed

    settings, seed, store = _seed(tmp_path, tmp_path / "none.mp4", loop=False)
    centre = Centre(store, BusConfig(url="nats://127.0.0.1:1"), b"k" * 32)
    dep = seed.deployment_id
    try:
        def send(seq: int, frame: int, track: int, finished: bool = False) -> None:
            centre._record_counters(CountersEvent(
                run_id="ab" * 8, seq=seq, deployment_id=dep, camera_id="demo-cam",
                frames=frame, frame_index=frame, next_track_id=track, finished=finished,
                at=datetime.now(UTC)).to_wire())

        def point():  # noqa: ANN202
            with store.read_sessions() as s:
                return get_resume_point(s, dep, "demo-cam")

        send(1, 30, 3)
        assert tuple(point()) == (30, 3, False)  # stored part-way, not only at the end
        send(3, 60, 5)
        send(2, 40, 4)  # a redelivered older report does not move it back
        assert tuple(point()) == (60, 5, False)
        send(4, 60, 5, finished=True)
        assert point().finished
    finally:
        store.close()


@pytest.mark.slow
def test_a_restarted_camera_resumes_its_clip_at_the_stored_frame(
        tmp_path: Path, two_shots: Path, nats_url: str) -> None:
    from sqlalchemy import select

    from openlfr.fleet.runtime import FleetRuntime
    from openlfr.governance.alerts import get_counters, get_resume_point, save_progress
    from openlfr.store.models import Alert

    from .conftest import wait_for
    from .test_fleet_live import _seed

    settings, seed, store = _seed(tmp_path, two_shots, loop=False)
    dep = seed.deployment_id
    total = len(_frames(open_source(str(two_shots), Mode.every_frame)))
    start = 45 + GAP // 2  # as a run stopped inside the empty stretch would have left it
    with store.session() as s:
        save_progress(s, dep, "demo-cam", start, False, datetime.now(UTC), next_track_id=9)
    rt = FleetRuntime(settings, store, nats_url=nats_url, node_name="node-r").start()
    try:
        wait_for(lambda: (p := _point(store, dep)) is not None and p.finished,
                 what="the resumed clip finished")
        with store.read_sessions() as s:
            frames = get_counters(s, dep)[0].frames
            alerts = list(s.scalars(select(Alert).where(Alert.deployment_id == dep)))
            assert get_resume_point(s, dep, "demo-cam").finished
        assert frames == total - start  # only the frames from the stored one on
        assert alerts and all(a.frame_index >= start for a in alerts)
        assert all(int(a.track_id) >= 9 for a in alerts)  # numbering went on from the stored id
    finally:
        rt.stop()
        store.close()


def _point(store, dep: int):  # noqa: ANN001, ANN202
    from openlfr.governance.alerts import get_resume_point

    with store.read_sessions() as s:
        return get_resume_point(s, dep, "demo-cam")
