"""The fleet end to end, with the real parts: a nats-server from the PyPI package, the centre,
a node running each camera in its own process with the real models, SQLite, the outbox and a
sink. Waits are bounded polls; nothing asserts how long anything took."""

from __future__ import annotations

import json
import os
import re
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from openlfr.alerts.model import AlertEvent
from openlfr.api.demo import seed_demo
from openlfr.fleet.bundle import bundle_name
from openlfr.fleet.bus import Bus, BusConfig, alert_subject
from openlfr.fleet.config import with_cli_sinks
from openlfr.fleet.events import alert_to_wire
from openlfr.fleet.runtime import FleetRuntime
from openlfr.governance import deployments
from openlfr.governance.alerts import get_progress
from openlfr.governance.counters import tracker_settings
from openlfr.governance.runtime import open_store
from openlfr.settings import Settings
from openlfr.store.models import Alert, AuditEntry, User
from openlfr.vision.engine import VisionEngine

from .conftest import wait_for

pytestmark = pytest.mark.slow


def _seed(tmp_path: Path, video: Path, *, loop: bool = True):  # noqa: ANN202
    settings = Settings(data_dir=tmp_path / "data", dev=True, cache_dir=tmp_path / "cache",
                        database_url=f"sqlite:///{tmp_path / 'openlfr.db'}")
    from openlfr.demoscene import sample_photo

    seed = seed_demo(settings, video=video, reference=sample_photo("yaoming.jpg"),
                     subject_name="Demo subject", password="fleet-test-pw1", loop=loop,
                     engine=VisionEngine.from_config())
    return settings, seed, open_store(settings)


def _alerts(store) -> list[Alert]:  # noqa: ANN001
    with store.read_sessions() as s:
        return list(s.scalars(select(Alert).order_by(Alert.id)))


def _camera(rt: FleetRuntime):  # noqa: ANN202
    status = rt.node.status() if rt.node is not None else None
    return status.cameras[0] if status is not None and status.cameras else None


def test_alerts_travel_from_a_camera_process_to_the_store_sink_and_console(
        tmp_path: Path, scene, nats_url: str) -> None:
    settings, seed, store = _seed(tmp_path, scene.video)
    sink = tmp_path / "sink.jsonl"
    rt = FleetRuntime(settings, store, config=with_cli_sinks(None, [f"jsonl:{sink}"]),
                      nats_url=nats_url, node_name="node-a")
    announced: list[int] = []
    rt.on_recorded(announced.append)
    rt.start()
    key = (seed.deployment_id, "demo-cam")
    try:
        first = wait_for(lambda: _alerts(store), what="an alert stored")[0]
        assert len(first.uid) == 32 and first.camera_id == "demo-cam"
        with store.read_sessions() as s:
            audited = s.scalars(select(AuditEntry).where(
                AuditEntry.target == f"alert:{first.id}")).all()
        assert [a.action for a in audited] == ["alert"]
        # the sink got it from the outbox, with the camera's alert id; the console was told
        lines = wait_for(lambda: sink.exists() and sink.read_text().splitlines(),
                         what="sink delivery")
        assert json.loads(lines[0])["alert_id"] == first.uid
        wait_for(lambda: first.id in announced, what="live announcement")
        cam = wait_for(lambda: (c := _camera(rt)) is not None and c.state == "running"
                       and c.frames > 0 and c, what="camera status")
        assert cam.error is None and cam.pid is not None
        wait_for(lambda: rt.preview(*key), what="the blurred live view of a local camera")
        # its counters say which tracker settings its tracks come from (for the reports)
        def reported() -> str | None:
            with store.read_sessions() as s:
                return tracker_settings(s, seed.deployment_id)

        assert re.fullmatch(r"sha256:[0-9a-f]{16}",
                            wait_for(reported, what="the run's tracker settings"))

        # a redelivered alert (same id, sent twice past the stream's dedupe) is stored once
        dup = AlertEvent(camera_id="demo-cam", time=datetime.now(UTC), track_id=999,
                         subject_id=str(seed.subject_id), label="x", score=0.9, threshold=0.4,
                         probe_jpeg=b"\xff\xd8probe\xff\xd9", deployment_id=seed.deployment_id)
        bus = Bus(BusConfig(url=nats_url), "test").connect()
        try:
            for _ in range(2):
                bus.publish_durable(alert_subject(*key), alert_to_wire(dup), uuid.uuid4().hex)
        finally:
            bus.close()
        wait_for(lambda: rt.centre.figures["alerts_duplicate"] >= 1, what="duplicate seen")
        assert [a.uid for a in _alerts(store)].count(dup.alert_id) == 1

        # a camera process that dies is restarted by its node, which says so
        pid = rt.node.camera_pids()[key]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: (c := _camera(rt)) is not None and c.restarts == 1
                 and c.state == "running" and rt.node.camera_pids().get(key) not in (None, pid),
                 what="camera restarted")

        # the deployment ends: the camera stops, the bundle leaves the bus and the node
        with store.session() as s:
            op = s.scalar(select(User).where(User.username == "operator"))
            deployments.stop(s, op, seed.deployment_id, datetime.now(UTC))
        rt.wake()
        wait_for(lambda: not rt.node.camera_pids() and not rt.node._bundles
                 and rt.centre.bus.object_get(bundle_name(seed.deployment_id)) is None,
                 what="camera stopped and snapshot gone")
    finally:
        rt.stop()
        store.close()


def test_a_recorded_clip_is_scanned_to_its_end_once_even_across_a_restart(
        tmp_path: Path, short_clip: Path, nats_url: str) -> None:
    settings, seed, store = _seed(tmp_path, short_clip, loop=False)
    rt = FleetRuntime(settings, store, nats_url=nats_url, node_name="node-b").start()
    try:
        def finished() -> bool:
            with store.read_sessions() as s:
                return get_progress(s, seed.deployment_id, "demo-cam") is not None and \
                    get_progress(s, seed.deployment_id, "demo-cam")[1]

        wait_for(finished, what="clip finished (progress stored)")
        wait_for(lambda: not rt.centre.bus.kv_items("lease.") and not rt.node.camera_pids(),
                 what="lease withdrawn, camera ended")
        stored = [a.uid for a in _alerts(store)]
        assert stored, "the subject is in view in the clip's first frames"
    finally:
        rt.stop()
    rt = FleetRuntime(settings, store, nats_url=nats_url, node_name="node-b").start()
    try:  # the restarted centre knows the clip finished: nothing is scanned again
        passes = rt.centre.figures["assign_passes"]
        wait_for(lambda: rt.centre.figures["assign_passes"] >= passes + 3, what="3 passes")
        assert not rt.centre.bus.kv_items("lease.") and not rt.node.camera_pids()
        assert [a.uid for a in _alerts(store)] == stored
    finally:
        rt.stop()
        store.close()


def test_a_node_cut_off_from_the_centre_stops_its_cameras(
        tmp_path: Path, scene, nats_url: str) -> None:
    settings, seed, store = _seed(tmp_path, scene.video)
    rt = FleetRuntime(settings, store, nats_url=nats_url, node_name="node-c").start()
    try:
        wait_for(lambda: (c := _camera(rt)) is not None and c.frames > 0, what="scanning")
        rt.centre.stop()  # no more renewals: the lease runs out on the node's own clock
        rt.centre = None
        # the camera stops, and the node forgets the snapshot
        wait_for(lambda: not rt.node.camera_pids() and not rt.node._bundles,
                 what="camera stopped, snapshot forgotten")
    finally:
        rt.stop()
        store.close()
