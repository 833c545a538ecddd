"""A node with ``inference.mode: shared``: its camera runs through the node's inference
service (the camera process never loads onnxruntime), a killed service is restarted and the
camera goes on, and the node leaves no shared memory behind. Real parts: nats-server, the
centre, SQLite, the camera process and the service with the real models."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from openlfr.fleet.config import ServerConfig
from openlfr.fleet.runtime import FleetRuntime

from .conftest import wait_for
from .test_fleet_live import _alerts, _camera, _seed

pytestmark = pytest.mark.slow


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_a_node_runs_its_cameras_through_one_restartable_service(
        tmp_path: Path, scene, nats_url: str) -> None:  # noqa: ANN001
    settings, seed, store = _seed(tmp_path, scene.video)
    config = ServerConfig.model_validate({"node": {"inference": {
        "mode": "shared", "max_batch": 4, "max_wait_ms": 5, "timeout_s": 20}}})
    rt = FleetRuntime(settings, store, config=config, nats_url=nats_url, node_name="node-s")
    rt.start()
    try:
        service = rt.node.inference
        assert service is not None and service.alive
        wait_for(lambda: _alerts(store), what="an alert through the service")
        cam_pid = next(iter(rt.node.camera_pids().values()))
        assert "onnxruntime" in _maps(service.pid) and "onnxruntime" not in _maps(cam_pid)
        [segment] = service.segments
        assert os.path.exists(f"/dev/shm/{segment}")

        old = service.pid
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: service.restarts == 1 and service.alive and service.pid != old,
                 what="the service restarted")
        before = _camera(rt).frames
        wait_for(lambda: (c := _camera(rt)) is not None and c.frames > before + 5
                 and c.state == "running", what="the camera going on after the restart")
        assert cam_pid in rt.node.camera_pids().values()  # the camera itself never died
        # the control room sees the service in the node's report, restart included
        wait_for(lambda: any(n.inference is not None and n.inference.restarts == 1
                             and n.inference.running for n in rt.nodes()),
                 what="the service in the node's report")
        report = next(n.inference for n in rt.nodes() if n.name == "node-s")
        assert report is not None
        assert (report.pid, report.cameras, report.max_batch) == (service.pid, 1, 4)
        cam = _camera(rt)
        assert cam.source_fps and cam.decoded_per_s > 0  # what the decoder keeps up with
    finally:
        rt.stop()
        store.close()
    assert not service.alive and not os.path.exists(f"/dev/shm/{segment}")
    assert not os.path.exists(os.path.dirname(service.address))
