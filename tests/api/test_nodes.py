"""The fleet seen from the control room: GET /api/nodes, the console's nodes page and the
fleet's /metrics, from a fake ``fleet_status`` returning NodeStatus reports."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from openlfr.api.prometheus import AppMetrics, CameraFigures
from openlfr.fleet.health import CameraStatus, InferenceStatus, NodeStatus
from openlfr.governance.auth import Action, allowed
from openlfr.store.models import Role

from .conftest import Api


def _fleet(now: datetime) -> list[NodeStatus]:
    return [
        NodeStatus(name="van-2", host="10.0.0.12", pid=4242, max_cameras=2,
                   started_at=now - timedelta(hours=2), reported_at=now - timedelta(seconds=95),
                   alive=False,
                   cameras=[CameraStatus(deployment_id=7, camera_id="north", state="running",
                                         frames=500, dropped=3, frames_per_s=9.0, lag_s=0.1)]),
        NodeStatus(name="mast-1", host="10.0.0.11", pid=101, max_cameras=4,
                   started_at=now - timedelta(hours=1), reported_at=now - timedelta(seconds=1),
                   inference=InferenceStatus(running=False, restarts=2, cameras=2,
                                             error="inference service exited (code -9)",
                                             max_batch=8, max_wait_ms=5.0, workers=2),
                   cameras=[
                       CameraStatus(deployment_id=7, camera_id="gate", state="running", pid=201,
                                    frames=1200, dropped=40, faces=88, alerts_raised=2,
                                    alerts_pending=1, frames_per_s=12.5, lag_s=0.08,
                                    decoded_per_s=18.0, source_fps=25.0,
                                    restarts=1, reconnects=2, started_at=now),
                       CameraStatus(deployment_id=7, camera_id="side", state="restarting",
                                    restarts=3, error="<b>decoder</b> crashed"),
                   ]),
    ]


@pytest.fixture
def fleet(api: Api) -> Iterator[list[NodeStatus]]:
    ctx = api.app.state.ctx
    nodes = _fleet(datetime.now(UTC))
    before = ctx.fleet_status
    ctx.fleet_status = lambda: nodes
    yield nodes
    ctx.fleet_status = before


def test_nodes_permission_is_for_those_who_watch_operations() -> None:
    watchers = {r for r in Role if allowed({r}, Action.NODES_VIEW)}
    assert watchers == {Role.ADMIN, Role.OPERATOR, Role.AUTHORISING_OFFICER, Role.AUDITOR}


def test_api_nodes_lists_every_node_dead_ones_marked(api: Api, fleet: list[NodeStatus]) -> None:
    resp = api.client.get("/api/nodes", headers=api.auth(Role.OPERATOR))
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert (body["alive"], body["dead"]) == (1, 1)
    assert [n["name"] for n in body["nodes"]] == ["mast-1", "van-2"]  # by name
    mast, van = body["nodes"]
    assert mast["alive"] is True and van["alive"] is False
    assert 0.5 <= mast["last_contact_s"] < 30 and 90 <= van["last_contact_s"] < 130
    gate, side = mast["cameras"]
    assert (gate["camera_id"], gate["frames_per_s"], gate["dropped"], gate["lag_s"],
            gate["alerts_pending"], gate["restarts"]) == ("gate", 12.5, 40, 0.08, 1, 1)
    assert (side["state"], side["error"], side["lag_s"]) == ("restarting",
                                                            "<b>decoder</b> crashed", None)
    assert van["cameras"][0]["camera_id"] == "north"  # a dead node's last report is shown


def test_api_nodes_empty_fleet(api: Api) -> None:
    resp = api.client.get("/api/nodes", headers=api.auth(Role.AUDITOR))
    assert resp.status_code == 200
    assert resp.json()["nodes"] == [] and resp.json()["alive"] == 0


def test_api_nodes_when_the_fleet_cannot_be_read(api: Api) -> None:
    ctx = api.app.state.ctx
    before = ctx.fleet_status

    def broken() -> list[NodeStatus]:
        raise ConnectionError("nats: no servers available")

    ctx.fleet_status = broken
    try:
        resp = api.client.get("/api/nodes", headers=api.auth(Role.ADMIN))
        assert resp.status_code == 503
        assert "fleet status unavailable" in resp.json()["detail"]
        page = api.client.get("/console/nodes", headers=api.auth(Role.ADMIN))
        assert page.status_code == 200 and 'id="fleet-error"' in page.text
        metrics = api.client.get("/metrics", headers=api.auth(Role.AUDITOR))
        assert metrics.status_code == 200  # a broken fleet reader never breaks the scrape
        assert "openlfr_node_up{" not in metrics.text
    finally:
        ctx.fleet_status = before


def test_console_nodes_page(api: Api, fleet: list[NodeStatus]) -> None:
    resp = api.client.get("/console/nodes", headers=api.auth(Role.AUTHORISING_OFFICER))
    assert resp.status_code == 200, resp.text
    assert resp.headers["refresh"] == "5"  # reloads itself
    html = resp.text
    nav = html.split("<nav>", 1)[1].split("</nav>", 1)[0]
    assert 'href="/console/nodes" class="here"' in nav
    assert "1 alive, 1 without contact" in html
    mast = html.split('data-node="mast-1"', 1)[1].split("</section>", 1)[0]
    van = html.split('data-node="van-2"', 1)[1].split("</section>", 1)[0]
    assert 'data-alive="1"' in mast and "state-active\">alive" in mast
    assert 'data-alive="0"' in van and "no contact" in van and "stopped reporting" in van
    assert "10.0.0.11" in mast and "10.0.0.12" in van
    assert 1 <= int(re.search(r"(\d+) s ago", mast).group(1)) < 30
    assert 90 <= int(re.search(r"(\d+) s ago", van).group(1)) < 130
    gate = mast.split('data-camera="7/gate"', 1)[1].split("</tr>", 1)[0]
    for text in ("running", "12.5", "1200", ">40<", "0.08 s", "18.0 of 25 (behind)"):
        assert text in gate, text
    side = mast.split('data-camera="7/side"', 1)[1].split("</tr>", 1)[0]
    assert "state-pending\">restarting" in side and "–" in side
    assert "&lt;b&gt;decoder&lt;/b&gt; crashed" in side and "<b>decoder" not in html
    service = mast.split('class="inference"', 1)[1].split("</p>", 1)[0]
    assert 'data-inference-running="0"' in service and "down" in service
    for text in ("exited (code -9)", "2 cameras attached", "2 restarts", "at most 8"):
        assert text in service, text
    assert "no shared inference service" in van


def test_console_nodes_page_without_nodes(api: Api) -> None:
    resp = api.client.get("/console/nodes", headers=api.auth(Role.OPERATOR))
    assert resp.status_code == 200
    assert "No camera node has reported yet." in resp.text


def test_metrics_per_node_and_camera(api: Api, fleet: list[NodeStatus]) -> None:
    resp = api.client.get("/metrics", headers=api.auth(Role.AUDITOR))
    assert resp.status_code == 200
    text = resp.text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    for line in ("openlfr_camera_frames_total counter", "openlfr_camera_running gauge",
                 "openlfr_node_up gauge"):  # one TYPE line per family
        assert text.count(f"# TYPE {line}\n") == 1, line

    def value(family: str, sample: str, **labels: str) -> float:
        got = [s.value for s in fams[family].samples if s.name == sample and s.labels == labels]
        assert len(got) == 1, (sample, labels, fams[family].samples)
        return got[0]

    assert value("openlfr_node_up", "openlfr_node_up", node="mast-1") == 1.0
    assert value("openlfr_node_up", "openlfr_node_up", node="van-2") == 0.0
    assert 90 <= value("openlfr_node_last_contact_seconds", "openlfr_node_last_contact_seconds",
                       node="van-2") < 130
    assert value("openlfr_node_cameras", "openlfr_node_cameras", node="mast-1") == 2.0
    assert value("openlfr_node_cameras", "openlfr_node_cameras", node="van-2") == 1.0
    gate = {"node": "mast-1", "deployment": "7", "camera": "gate"}
    assert value("openlfr_camera_frames", "openlfr_camera_frames_total", **gate) == 1200
    assert value("openlfr_camera_frames_dropped", "openlfr_camera_frames_dropped_total",
                 **gate) == 40
    assert value("openlfr_camera_frames_per_second", "openlfr_camera_frames_per_second",
                 **gate) == 12.5
    assert value("openlfr_camera_lag_seconds", "openlfr_camera_lag_seconds", **gate) == 0.08
    assert value("openlfr_camera_decoded_frames_per_second",
                 "openlfr_camera_decoded_frames_per_second", **gate) == 18.0
    assert value("openlfr_camera_restarts", "openlfr_camera_restarts_total", **gate) == 1
    assert value("openlfr_camera_alerts_pending", "openlfr_camera_alerts_pending", **gate) == 1
    assert value("openlfr_camera_running", "openlfr_camera_running", **gate) == 1
    side = {**gate, "camera": "side"}
    assert value("openlfr_camera_restarts", "openlfr_camera_restarts_total", **side) == 3
    assert value("openlfr_camera_running", "openlfr_camera_running", **side) == 0
    assert not [s for s in fams["openlfr_camera_lag_seconds"].samples  # no lag yet: no sample
                if s.labels.get("camera") == "side"]
    assert value("openlfr_node_max_cameras", "openlfr_node_max_cameras", node="van-2") == 2
    assert value("openlfr_node_inference_up", "openlfr_node_inference_up", node="mast-1") == 0
    assert value("openlfr_node_inference_restarts", "openlfr_node_inference_restarts_total",
                 node="mast-1") == 2
    assert not [s for s in fams["openlfr_node_inference_up"].samples  # no service there
                if s.labels.get("node") == "van-2"]
    camera_series = [s for f in fams.values() if f.name.startswith("openlfr_camera_")
                     for s in f.samples]
    assert not [s for s in camera_series if s.labels.get("node") == "van-2"]  # dead: stale


def test_local_and_fleet_cameras_share_families() -> None:
    now = datetime.now(UTC)
    metrics = AppMetrics(lambda: [CameraFigures(deployment="3", camera="a", frames=10)],
                         fleet=lambda: _fleet(now))
    text = metrics.render().decode()
    assert 'openlfr_camera_frames_total{camera="a",deployment="3"} 10.0' in text
    assert ('openlfr_camera_frames_total{camera="gate",deployment="7",node="mast-1"} 1200.0'
            in text)
    assert text.count("# TYPE openlfr_camera_frames_total counter") == 1
    assert len(list(text_string_to_metric_families(text))) > 10  # parses
    bare = AppMetrics(lambda: []).render().decode()  # no fleet at all: empty families only
    assert "openlfr_node_up{" not in bare
