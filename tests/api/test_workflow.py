"""A deployment's life through the REST API, with the error mapping on the way: 404 unknown,
409 wrong state, 422 invalid input. The alert itself is recorded with governance's
``record_alert`` (what the camera runner calls); the browser test runs real cameras."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from openlfr.api.app import create_app
from openlfr.demoscene import sample_photo
from openlfr.governance.alerts import record_alert
from openlfr.store.models import Role
from openlfr.store.testing import PostgresUnavailable, temporary_postgres

from .conftest import Api, make_settings, seed_users


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                                marks=pytest.mark.postgres)])
def wf(request: pytest.FixtureRequest,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with ExitStack() as stack:
        settings = make_settings(tmp_path_factory.mktemp("workflow"))
        if request.param == "postgresql":  # a throwaway database, dropped afterwards
            try:
                url = stack.enter_context(temporary_postgres("openlfr_api"))
            except PostgresUnavailable as exc:
                pytest.skip(str(exc))
            settings = settings.model_copy(update={"database_url": url})
        app = create_app(settings, run_cameras=False, session_key=b"w" * 32)
        users, tokens = seed_users(app.state.ctx.sessions)
        with TestClient(app) as client:
            yield Api(app, client, app.state.ctx.sessions, settings, users, tokens)


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def test_deployment_life_and_errors(wf: Api) -> None:
    c, now = wf.client, datetime.now(UTC)
    ao, wm, op, eo, aud = (wf.auth(r) for r in (Role.AUTHORISING_OFFICER,
                                                Role.WATCHLIST_MANAGER, Role.OPERATOR,
                                                Role.ENGAGEMENT_OFFICER, Role.AUDITOR))
    draft = {"name": "High street", "purpose": "find a wanted person", "legal_basis": "PACE",
             "location": "High St", "window_start": _iso(now - timedelta(minutes=1)),
             "window_end": _iso(now + timedelta(hours=2)), "dpia_reference": "DPIA-1",
             "cameras": [{"camera_id": "cam1", "source_url": "rtsp://op:pw@10.0.0.9/s"}],
             "categories": ["wanted_by_courts"], "signage_confirmed": False}

    bad = c.post("/api/deployments", headers=ao,
                 json={**draft, "window_end": _iso(now - timedelta(hours=1))})
    assert bad.status_code == 422 and "window_end" in bad.text
    assert c.post("/api/deployments", headers=ao, json={**draft, "extra": 1}).status_code == 422

    resp = c.post("/api/deployments", headers=ao, json=draft)
    assert resp.status_code == 201, resp.text
    dep = resp.json()
    did = dep["id"]
    assert dep["status"] == "draft" and dep["embedder_key"].startswith("arcface:")
    assert 0 < dep["threshold"] < 1
    assert dep["cameras"][0]["source_url"] == "rtsp://op:***@10.0.0.9/s"

    assert c.get("/api/deployments/9999", headers=ao).status_code == 404
    refused = c.post(f"/api/deployments/{did}/authorise", headers=ao)
    assert refused.status_code == 409 and "signage" in refused.json()["detail"]
    assert c.post(f"/api/deployments/{did}/start", headers=ao).status_code == 409

    photo = sample_photo("yaoming.jpg").read_bytes()
    subj = c.post("/api/watchlist/subjects", headers=wm, files={"image": ("y.jpg", photo)},
                  data={"name": "Yao Ming", "category": "wanted_by_courts", "source": "test",
                        "justification": "test", "reference": "W-1",
                        "expires_at": _iso(now + timedelta(days=7))})
    assert subj.status_code == 201, subj.text
    sid = subj.json()["id"]

    # a second draft with signage confirmed goes all the way
    resp = c.post("/api/deployments", headers=ao, json={**draft, "signage_confirmed": True})
    did = resp.json()["id"]
    assert c.post(f"/api/deployments/{did}/snapshot/approve", headers=ao).status_code == 404
    snap = c.post(f"/api/deployments/{did}/snapshot", headers=wm)
    assert snap.status_code == 201 and snap.json()["subject_count"] == 1
    assert c.post(f"/api/deployments/{did}/snapshot/approve", headers=wm).status_code == 403
    assert c.post(f"/api/deployments/{did}/snapshot/approve", headers=ao).status_code == 200
    assert c.post(f"/api/deployments/{did}/authorise", headers=ao).json()["status"] == \
        "authorised"
    assert c.post(f"/api/deployments/{did}/start", headers=op).json()["status"] == "active"

    probe = sample_photo("yaoming.jpg").read_bytes()[:50_000]
    with wf.sessions() as s:  # what the camera runner does when the matcher fires
        aid = record_alert(s, did, "cam1", "7", sid, 0.61, probe, datetime.now(UTC)).id
        s.commit()

    alerts = c.get(f"/api/alerts?deployment_id={did}", headers=op).json()["items"]
    assert [(a["id"], a["status"], a["subject_name"]) for a in alerts] == [
        (aid, "pending", "Yao Ming")]
    assert alerts[0]["threshold"] == pytest.approx(resp.json()["threshold"])
    img = c.get(f"/api/alerts/{aid}/probe", headers=op)
    assert img.content == probe and img.headers["cache-control"] == "no-store"
    ref = c.get(f"/api/alerts/{aid}/reference", headers=eo)
    assert ref.status_code == 200 and ref.content == photo
    assert c.get(f"/api/alerts/{aid}/probe", headers=aud).status_code == 403

    assert c.post(f"/api/alerts/{aid}/adjudicate", headers=eo,
                  json={"outcome": "maybe"}).status_code == 422
    assert c.post("/api/alerts/424242/adjudicate", headers=eo,
                  json={"outcome": "confirmed"}).status_code == 404
    done = c.post(f"/api/alerts/{aid}/adjudicate", headers=eo, json={"outcome": "confirmed"})
    assert done.status_code == 200 and done.json()["status"] == "confirmed"
    assert c.post(f"/api/alerts/{aid}/adjudicate", headers=op,
                  json={"outcome": "rejected"}).status_code == 409

    counts = c.get(f"/api/deployments/{did}/counts", headers=aud).json()
    assert counts["counters"]["alerts"] == 1 and counts["counters"]["confirmed"] == 1
    assert counts["alert_precision"]["successes"] == 1
    assert counts["alert_precision"]["total"] == 1
    assert "95% CI" in counts["alert_precision"]["text"]

    assert c.post(f"/api/deployments/{did}/review", headers=ao,
                  json={"note": "too early"}).status_code == 409
    assert c.post(f"/api/deployments/{did}/stop", headers=op).json()["status"] == "ended"
    assert c.post(f"/api/deployments/{did}/review", headers=aud,  # the auditor only reads
                  json={"note": "x"}).status_code == 403
    assert c.post(f"/api/deployments/{did}/review", headers=ao,
                  json={"note": "one confirmed alert"}).json()["status"] == "reviewed"

    report = c.get(f"/api/deployments/{did}/report.json", headers=aud)
    assert report.status_code == 200 and "false_alert_rate" in report.text
    html = c.get(f"/api/deployments/{did}/report.html", headers=aud)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    pdf = c.get(f"/api/deployments/{did}/report.pdf", headers=aud)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    assert c.post(f"/api/alerts/{aid}/hold", headers=aud, json={"reason": "x"}).status_code == 403
    held = c.post(f"/api/alerts/{aid}/hold", headers=ao, json={"reason": "court case 12"})
    assert held.status_code == 200 and held.json()["hold_reason"] == "court case 12"
    assert c.post(f"/api/alerts/{aid}/hold", headers=op, json={"reason": "x"}).status_code == 403
    assert c.post(f"/api/alerts/{aid}/release", headers=ao).json()["hold_reason"] is None

    tr = c.get("/api/reports/transparency.json", headers=aud)
    assert tr.status_code == 200 and str(did) in tr.text
    assert c.get("/api/reports/transparency.json?start=2030-01-01T00:00:00Z"
                 "&end=2029-01-01T00:00:00Z", headers=aud).status_code == 422

    chain = c.get("/api/audit/verify", headers=aud).json()
    assert chain["ok"] is True and chain["entries"] > 10
    actions = [e["action"] for e in c.get("/api/audit?limit=1000", headers=aud).json()["items"]]
    for a in ("enrol", "snapshot_approve", "deployment_start", "alert", "adjudicate",
              "deployment_end", "deployment_review", "view_image", "alert_hold"):
        assert a in actions, a
