"""The sink outbox seen from the control room: GET /api/deliveries, the console's nodes page
and ``openlfr_sink_deliveries`` in /metrics, over alerts recorded with real outbox rows (one
delivered, one given up after retries, the rest pending)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from openlfr.alerts.model import AlertEvent
from openlfr.api.prometheus import AppMetrics
from openlfr.governance import alerts as A
from openlfr.governance import deployments, outbox, watchlist
from openlfr.governance.auth import Action, allowed
from openlfr.governance.schemas import CameraSpec, DeploymentCreate
from openlfr.store.models import Category, Role

from .conftest import EMBEDDER, Api, crew, enrol_subject

ERROR = "ConnectionError: <b>refused</b> by https://user:hunter2@hooks.example/in"


@pytest.fixture(scope="module")
def outbox_rows(api: Api) -> dict[str, Any]:
    """Three alerts for sinks ``hook`` and ``mqtt``: on ``hook`` the first is given up after
    three attempts, the second delivered, the third pending; on ``mqtt`` all pending, the
    first once retried."""
    now = datetime.now(UTC)
    with api.sessions() as s:
        ao, wm, op = crew(api, s)
        subject = enrol_subject(s, wm, "DL-1", "Delivered", now)
        dep = deployments.create_deployment(s, ao, DeploymentCreate(
            name="deliveries", purpose="p", legal_basis="l", location="x",
            window_start=now - timedelta(minutes=5), window_end=now + timedelta(hours=2),
            cameras=[CameraSpec(camera_id="cam1", source_url="file:a.mp4")],
            categories=[Category.WANTED_BY_COURTS], dpia_reference="D", signage_confirmed=True,
            authorising_officer="authorising_officer", threshold=0.4, embedder_key=EMBEDDER,
            sinks=["hook"]), now)
        deployments.authorise(s, ao, dep.id, now)
        watchlist.create_snapshot(s, ao, dep.id, now)
        watchlist.approve_snapshot(s, ao, dep.id, now)
        deployments.start(s, op, dep.id, now)
        rows = []
        for i in range(3):
            ev = AlertEvent(camera_id="cam1", time=now, track_id=i, subject_id=str(subject.id),
                            label="x", score=0.6, threshold=0.4, probe_jpeg=b"\xff\xd8\xff%d" % i,
                            deployment_id=dep.id, frame_index=i)
            rows.append(A.record_alert_event(s, ev, sinks=("mqtt",))[0])
        s.commit()
        later = now + timedelta(seconds=1)
        hook = {c.alert_id: c for c in outbox.claim_due(s, "hook", later)}
        given_up, delivered, pending = (hook[r.id] for r in rows)
        assert outbox.mark_retry(s, given_up, "timeout", later)
        assert outbox.mark_retry(s, dataclasses.replace(given_up, attempts=1), "timeout", later)
        assert outbox.mark_failed(s, dataclasses.replace(given_up, attempts=2), ERROR, later)
        assert outbox.mark_delivered(s, delivered, later)
        outbox.release(s, [pending], later)
        mqtt = outbox.claim_due(s, "mqtt", later)
        assert outbox.mark_retry(s, mqtt[0], "broker down", later)
        outbox.release(s, mqtt[1:], later)
        s.commit()
        return {"alerts": [r.id for r in rows], "uids": [r.uid for r in rows],
                "given_up": given_up.id}


def test_api_deliveries_per_sink_and_given_up(api: Api, outbox_rows: dict[str, Any]) -> None:
    resp = api.client.get("/api/deliveries", headers=api.auth(Role.OPERATOR))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["sinks"] == [
        {"sink": "hook", "pending": 1, "delivered": 1, "failed": 1, "retries": 2},
        {"sink": "mqtt", "pending": 3, "delivered": 0, "failed": 0, "retries": 1}]
    [failed] = body["failed"]
    assert failed["id"] == outbox_rows["given_up"]
    assert (failed["alert_id"], failed["alert_uid"]) == (outbox_rows["alerts"][0],
                                                         outbox_rows["uids"][0])
    assert (failed["sink"], failed["attempts"]) == ("hook", 3)
    assert "hunter2" not in failed["last_error"] and "https://***@hooks" in failed["last_error"]
    assert datetime.fromisoformat(failed["failed_at"]) >= datetime.fromisoformat(
        failed["created_at"])
    assert set(body) == {"generated_at", "sinks", "failed"}


def test_api_deliveries_limit(api: Api, outbox_rows: dict[str, Any]) -> None:
    h = api.auth(Role.AUDITOR)
    assert len(api.client.get("/api/deliveries?limit=1", headers=h).json()["failed"]) == 1
    assert api.client.get("/api/deliveries?limit=500", headers=h).status_code == 200
    for bad in ("0", "501", "x"):
        assert api.client.get(f"/api/deliveries?limit={bad}", headers=h).status_code == 422


def test_deliveries_are_for_those_who_watch_operations(api: Api) -> None:
    for role in Role:
        resp = api.client.get("/api/deliveries", headers=api.auth(role))
        if allowed({role}, Action.NODES_VIEW):
            assert resp.status_code == 200, (role, resp.text)
        else:
            assert resp.status_code == 403, (role, resp.text)
    assert api.client.get("/api/deliveries").status_code == 401


def test_console_nodes_page_shows_sinks_and_given_up_deliveries(
        api: Api, outbox_rows: dict[str, Any]) -> None:
    resp = api.client.get("/console/nodes", headers=api.auth(Role.ADMIN))
    assert resp.status_code == 200, resp.text
    section = resp.text.split('id="sink-deliveries"', 1)[1].split("</section>", 1)[0]
    assert "Sink deliveries" in section
    hook = section.split('data-sink="hook"', 1)[1].split("</tr>", 1)[0]
    mqtt = section.split('data-sink="mqtt"', 1)[1].split("</tr>", 1)[0]
    for cls, n in (("pending", 1), ("delivered", 1), ("failed error-text", 1)):
        assert f'class="num {cls}">{n}<' in hook, (cls, hook)
    assert 'class="num pending">3<' in mqtt and 'class="num failed">0<' in mqtt
    failed = section.split('id="failed-deliveries"', 1)[1]
    assert "1 delivery given up" in failed and "given up</span>" in failed
    row = failed.split(f'data-delivery="{outbox_rows["given_up"]}"', 1)[1].split("</tr>", 1)[0]
    assert f'data-alert="{outbox_rows["alerts"][0]}"' in row
    assert outbox_rows["uids"][0] in row and ">hook<" in row and ">3<" in row
    assert "&lt;b&gt;refused&lt;/b&gt;" in row and "<b>" not in row  # escaped
    assert "hunter2" not in resp.text


def test_console_nodes_page_when_deliveries_cannot_be_read(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from openlfr.api.routes import console

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("store gone")

    monkeypatch.setattr(console, "delivery_report", broken)
    resp = api.client.get("/console/nodes", headers=api.auth(Role.OPERATOR))
    assert resp.status_code == 200
    assert 'id="deliveries-error"' in resp.text and "RuntimeError" in resp.text
    assert 'id="fleet-summary"' in resp.text  # the fleet's part still shows


def _deliveries(text: str) -> dict[tuple[str, str], float]:
    return {(s.labels["sink"], s.labels["status"]): s.value
            for fam in text_string_to_metric_families(text)
            if fam.name == "openlfr_sink_deliveries" for s in fam.samples}


def test_metrics_count_deliveries_per_sink_and_status(api: Api,
                                                      outbox_rows: dict[str, Any]) -> None:
    resp = api.client.get("/metrics", headers=api.auth(Role.AUDITOR))
    assert resp.status_code == 200, resp.text
    assert _deliveries(resp.text) == {
        ("hook", "pending"): 1.0, ("hook", "delivered"): 1.0, ("hook", "failed"): 1.0,
        ("mqtt", "pending"): 3.0, ("mqtt", "delivered"): 0.0, ("mqtt", "failed"): 0.0}
    assert "# TYPE openlfr_sink_deliveries gauge" in resp.text


def test_a_failing_delivery_read_never_breaks_the_scrape() -> None:
    def broken() -> dict[str, dict[str, int]]:
        raise ConnectionError("store gone")

    text = AppMetrics(lambda: [], deliveries=broken).render().decode()
    assert "openlfr_http_requests" in text and _deliveries(text) == {}
    assert "openlfr_sink_deliveries" not in AppMetrics(lambda: []).render().decode()
    ok = AppMetrics(lambda: [], deliveries=lambda: {"a": {"pending": 2, "retries": 5}})
    assert _deliveries(ok.render().decode()) == {("a", "pending"): 2.0, ("a", "delivered"): 0.0,
                                                 ("a", "failed"): 0.0}
