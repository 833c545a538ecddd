"""Live channels and camera supervision: alert hub, SSE framing, MJPEG parts, the supervisor
starting and stopping camera workers with deployment state, and /metrics."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from openlfr.api.live import MJPEG_BOUNDARY, AlertHub, mjpeg_stream, sse_stream
from openlfr.api.prometheus import AppMetrics, CameraFigures
from openlfr.api.supervisor import Supervisor
from openlfr.governance import deployments, watchlist
from openlfr.governance.runtime import open_store
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, SubjectCreate
from openlfr.store import upgrade
from openlfr.store.models import Category, DeploymentStatus, Role, User

from .conftest import EMBEDDER, Api, make_settings, seed_users


async def _never() -> bool:
    return False


def test_hub_fans_out_from_threads_and_drops_oldest_when_full() -> None:
    async def main() -> tuple[list[dict], list[dict], int]:
        hub = AlertHub(queue_size=3)
        hub.bind(asyncio.get_running_loop())
        everyone = hub.subscribe()
        only_dep2 = hub.subscribe(lambda e: e["deployment_id"] == 2)
        t = threading.Thread(target=lambda: [hub.publish({"id": i, "deployment_id": i % 3})
                                             for i in range(5)])
        t.start()
        t.join()
        await asyncio.sleep(0.05)
        got_all = [everyone.queue.get_nowait() for _ in range(everyone.queue.qsize())]
        got_two = [only_dep2.queue.get_nowait() for _ in range(only_dep2.queue.qsize())]
        hub.unsubscribe(everyone)
        hub.unsubscribe(only_dep2)
        return got_all, got_two, everyone.dropped

    got_all, got_two, dropped = asyncio.run(main())
    assert [e["id"] for e in got_all] == [2, 3, 4] and dropped == 2
    assert [e["id"] for e in got_two] == [2]


def test_sse_frames_events_and_unsubscribes() -> None:
    async def main() -> tuple[list[str], int]:
        hub = AlertHub()
        hub.bind(asyncio.get_running_loop())
        sub = hub.subscribe()
        gen = sse_stream(hub, sub, is_disconnected=_never, keepalive_s=0.05)
        first = await gen.__anext__()
        hub.publish({"type": "alert", "id": 7, "score": 0.5})
        second = await gen.__anext__()
        third = await gen.__anext__()  # nothing new: a keep-alive comment
        await gen.aclose()
        return [first, second, third], hub.subscribers

    chunks, left = asyncio.run(main())
    assert chunks[0].startswith("retry: 3000")
    assert chunks[1] == 'event: alert\ndata: {"type":"alert","id":7,"score":0.5}\n\n'
    assert chunks[2] == ": keep-alive\n\n"
    assert left == 0


def test_mjpeg_sends_each_new_frame_once() -> None:
    frames = [b"\xff\xd8A\xff\xd9", b"\xff\xd8B\xff\xd9"]
    calls = {"n": 0}

    def latest() -> bytes | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else frames[0] if calls["n"] < 4 else frames[1]

    async def main() -> list[bytes]:
        return [p async for p in mjpeg_stream(latest, is_disconnected=_never, max_fps=200,
                                              max_frames=2)]

    parts = asyncio.run(main())
    assert len(parts) == 2
    assert parts[0].startswith(f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\n".encode())
    assert parts[0].endswith(frames[0] + b"\r\n") and parts[1].endswith(frames[1] + b"\r\n")


@dataclass
class FakeRunner:
    """A camera worker stand-in recording what the supervisor asked of it."""

    deployment_id: int
    camera_id: str
    started: int = 0
    stopped: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return self.started > self.stopped

    def start(self) -> None:
        self.started += 1

    def stop(self, timeout: float = 5.0) -> None:
        self.stopped += 1

    def latest_jpeg(self) -> bytes | None:
        return b"\xff\xd8\xff\xd9"

    def figures(self) -> CameraFigures:
        return CameraFigures(str(self.deployment_id), self.camera_id, frames=10,
                             frames_dropped=1, faces=4, tracks=2, alerts=1,
                             stage_seconds={"detect": 0.01, "embed": 0.02},
                             running=self.running)


def test_supervisor_follows_deployment_state(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    upgrade(settings.resolved_database_url)
    store = open_store(settings)
    users, _ = seed_users(store.sessions)
    now = [datetime.now(UTC)]
    made: list[FakeRunner] = []

    def factory(settings, store, dep_id, cam, publish):  # noqa: ANN001, ANN202
        r = FakeRunner(dep_id, cam)
        made.append(r)
        return r

    sup = Supervisor(settings, store, AlertHub(), runner_factory=factory, clock=lambda: now[0])
    with store.sessions() as s:
        ao = s.get(User, users[Role.AUTHORISING_OFFICER].id)
        wm = s.get(User, users[Role.WATCHLIST_MANAGER].id)
        dep = deployments.create_deployment(s, ao, DeploymentCreate(
            name="d", purpose="p", legal_basis="l", location="x",
            window_start=now[0] - timedelta(minutes=5), window_end=now[0] + timedelta(hours=1),
            cameras=[CameraSpec(camera_id="a", source_url="file:a.mp4"),
                     CameraSpec(camera_id="b", source_url="file:b.mp4")],
            categories=[Category.WANTED_BY_COURTS], dpia_reference="D", signage_confirmed=True,
            authorising_officer="authorising_officer", threshold=0.4, embedder_key=EMBEDDER),
            now[0])
        vec = np.ones(128, np.float32) / np.sqrt(128)
        watchlist.add_subject(s, wm, SubjectCreate(
            reference="R", name="N", category=Category.WANTED_BY_COURTS, source="s",
            justification="j", expires_at=now[0] + timedelta(days=3)), [b"img"],
            [(EMBEDDER, vec)], now[0])
        deployments.authorise(s, ao, dep.id, now[0])
        watchlist.create_snapshot(s, ao, dep.id, now[0])
        watchlist.approve_snapshot(s, ao, dep.id, now[0])
        s.commit()
        dep_id = dep.id

    sup.poll()
    assert made == []  # authorised is not active: nothing runs
    with store.sessions() as s:
        deployments.start(s, s.get(User, users[Role.OPERATOR].id), dep_id, now[0])
        s.commit()
    sup.poll()
    assert sorted((r.deployment_id, r.camera_id, r.running) for r in made) == [
        (dep_id, "a", True), (dep_id, "b", True)]
    sup.poll()
    assert len(made) == 2  # idempotent

    metrics = AppMetrics(sup.figures).render().decode()
    assert f'openlfr_camera_frames_total{{camera="a",deployment="{dep_id}"}} 10.0' in metrics
    assert 'stage="embed"' in metrics and "openlfr_camera_tracks_total" in metrics

    # a camera that cannot start is reported, and retried only after a pause
    sup.stop_all()
    calls = {"n": 0}

    def broken(settings, store, dep_id, cam, publish):  # noqa: ANN001, ANN202
        calls["n"] += 1
        raise OSError("cannot open file:a.mp4")

    sup._factory = broken
    sup.poll()
    assert calls["n"] == 2 and set(sup.errors) == {(dep_id, "a"), (dep_id, "b")}
    assert "cannot open" in sup.errors[(dep_id, "a")][1]
    sup.poll()
    assert calls["n"] == 2
    now[0] += timedelta(seconds=31)
    sup.poll()
    assert calls["n"] == 4
    sup._factory = factory
    now[0] += timedelta(seconds=31)
    sup.poll()
    assert sup.errors == {} and len(sup.keys()) == 2

    now[0] += timedelta(hours=2)  # the window closes: the deployment ends, cameras stop
    sup.poll()
    assert all(not r.running for r in made) and sup.keys() == []
    with store.sessions() as s:
        assert s.get(type(dep), dep_id).status is DeploymentStatus.ENDED
    store.close()


def test_metrics_endpoint_uses_its_own_registry(api: Api) -> None:
    resp = api.client.get("/metrics", headers=api.auth(Role.AUDITOR))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "openlfr_http_requests_total" in resp.text
    assert "python_gc_objects_collected_total" not in resp.text  # not the global registry


def test_hub_close_ends_streams_for_shutdown() -> None:
    async def main() -> list[str]:
        hub = AlertHub()
        hub.bind(asyncio.get_running_loop())
        sub = hub.subscribe()
        gen = sse_stream(hub, sub, is_disconnected=_never, keepalive_s=30)
        chunks = [await gen.__anext__()]
        threading.Thread(target=hub.close).start()
        chunks += [c async for c in gen]  # ends without waiting for a keep-alive
        late = hub.subscribe()  # a stream opened while shutting down ends at once
        chunks += [c async for c in sse_stream(hub, late, is_disconnected=_never)]
        return chunks

    chunks = asyncio.run(asyncio.wait_for(main(), timeout=5))
    assert chunks == ["retry: 3000\n: connected\n\n", "retry: 3000\n: connected\n\n"]
