"""Sign-in: signed HttpOnly SameSite=Strict console cookies, bearer tokens, sign-out revokes."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import select

from openlfr.api.deps import COOKIE, SessionSigner
from openlfr.store.models import AuditEntry, Role

from .conftest import PASSWORD, Api


def test_signer_round_trip_and_tamper() -> None:
    s = SessionSigner(b"x" * 32, max_age_s=60)
    v = s.dumps("olfr_abc", now=1000)
    assert s.loads(v, now=1030) == "olfr_abc"
    assert s.loads(v, now=1061) is None  # expired
    assert s.loads(v, now=900) is None  # from the future
    payload, sig = v.rsplit(".", 1)
    assert s.loads(payload + "." + sig[:-1] + ("A" if sig[-1] != "A" else "B"), now=1030) is None
    assert s.loads("garbage", now=1030) is None
    assert SessionSigner(b"y" * 32).loads(v, now=1030) is None  # another key
    with pytest.raises(ValueError):
        SessionSigner(b"short")


def test_console_login_cookie_and_logout(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    client = api.client
    client.cookies.clear()
    caplog.set_level(logging.DEBUG)
    resp = client.post("/login", data={"username": "operator", "password": "wrong password"},
                       follow_redirects=False)
    assert resp.status_code == 401 and "Wrong username or password" in resp.text
    assert api.last_audit().action == "login_failed"

    resp = client.post("/login", data={"username": "operator", "password": PASSWORD},
                       follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    cookie = resp.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attr in ("HttpOnly", "SameSite=strict", "Path=/"):
        assert attr.lower() in cookie.lower(), cookie
    with api.sessions() as s:
        logins = s.scalars(select(AuditEntry).where(AuditEntry.action == "login")).all()
        assert logins and logins[-1].actor == "operator"
        everything = " ".join(e.details for e in s.scalars(select(AuditEntry)))
    assert PASSWORD not in everything and "wrong password" not in everything
    assert PASSWORD not in caplog.text

    value = client.cookies.get(COOKIE)
    page = client.get("/console/operator")
    assert page.status_code == 200
    assert "possible match" in page.text.lower()
    assert 'href="/console/users"' not in page.text  # an operator is not shown admin pages
    assert client.get("/api/auth/me").json()["username"] == "operator"

    client.cookies.set(COOKIE, value[:-2] + "xx")  # tampered signature
    assert client.get("/console/operator", follow_redirects=False).status_code == 303
    client.cookies.set(COOKIE, value)
    resp = client.post("/logout", follow_redirects=False)
    assert resp.status_code == 303
    client.cookies.set(COOKIE, value)  # the old cookie no longer works: its session is revoked
    assert client.get("/console/operator", follow_redirects=False).status_code == 303
    client.cookies.clear()


def test_api_login_token_and_logout(api: Api) -> None:
    client = api.client
    bad = client.post("/api/auth/login", json={"username": "auditor", "password": "nope"})
    assert bad.status_code == 401
    assert "nope" not in bad.text
    resp = client.post("/api/auth/login", json={"username": "auditor", "password": PASSWORD})
    assert resp.status_code == 200
    token = resp.json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    me = client.get("/api/auth/me", headers=h).json()
    assert me == {"id": api.users[Role.AUDITOR].id, "username": "auditor",
                  "roles": ["auditor"], "via": "token"}
    assert client.get("/api/audit/verify", headers=h).json()["ok"] is True
    assert client.post("/api/auth/logout", headers=h).status_code == 200
    assert client.get("/api/auth/me", headers=h).status_code == 401
    # a validation error never echoes the submitted password back
    resp = client.post("/api/auth/login", json={"username": "", "password": "s3cret-echo"})
    assert resp.status_code == 422 and "s3cret-echo" not in resp.text


def test_public_schemas_leak_nothing(api: Api) -> None:
    spec = api.client.get("/api/openapi.json", headers=api.auth(Role.AUDITOR)).json()
    text = json.dumps(spec["components"]["schemas"])
    for secret in ("blob", "password_hash", "token_hash", "probe_blob", "embedding"):
        assert secret not in text, secret
    dep = api.client.get(f"/api/deployments/{api.ids['deployment_id']}",
                         headers=api.auth(Role.AUDITOR)).json()
    assert dep["cameras"][0]["source_url"] == "rtsp://u:***@cam/1"  # camera password hidden
    page = api.client.get(f"/console/deployments/{api.ids['deployment_id']}",
                          headers=api.auth(Role.AUDITOR))
    assert page.status_code == 200 and "rtsp://u:***@cam/1" in page.text
    assert "secret" not in page.text  # nor on the console's deployment page
    subj = api.client.get(f"/api/watchlist/subjects/{api.ids['subject_id']}",
                          headers=api.auth(Role.WATCHLIST_MANAGER)).json()
    assert set(subj) >= {"id", "reference", "name", "category", "expires_at"}
    assert not {k for k in subj if "template" in k and k != "template_keys"}
    for path in spec["paths"].values():
        for op in path.values():
            assert "200" in op["responses"] or "201" in op["responses"]


def test_images_are_not_cached(api: Api) -> None:
    sid = api.ids["subject_id"]
    resp = api.client.get(f"/api/watchlist/subjects/{sid}/image",
                          headers=api.auth(Role.WATCHLIST_MANAGER))
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert api.last_audit().action == "view_image"


def test_login_throttle_unit() -> None:
    from starlette.requests import Request

    from openlfr.api.routes.auth import LoginThrottle

    t = [0.0]
    throttle = LoginThrottle(limit=3, window_s=60, clock=lambda: t[0])
    req = Request({"type": "http", "client": ("10.0.0.1", 1), "headers": []})
    other = Request({"type": "http", "client": ("10.0.0.2", 1), "headers": []})
    for _ in range(3):
        assert throttle.wait_s(req, "Bob") == 0
        throttle.failed(req, "bob")
    assert throttle.wait_s(req, "BOB ") == 60  # names compare case-insensitively
    assert throttle.wait_s(other, "bob") == 0  # another address is not affected
    t[0] = 61
    assert throttle.wait_s(req, "bob") == 0  # the window has passed
    throttle.failed(req, "bob")
    throttle.succeeded(req, "bob")
    assert throttle.wait_s(req, "bob") == 0


def test_repeated_failed_logins_are_refused(api: Api) -> None:
    for _ in range(5):
        resp = api.client.post("/api/auth/login", json={"username": "engagement_officer",
                                                        "password": "guess"})
        assert resp.status_code == 401
    resp = api.client.post("/api/auth/login", json={"username": "engagement_officer",
                                                    "password": PASSWORD})
    assert resp.status_code == 429 and "try again" in resp.json()["detail"]
    page = api.client.post("/login", data={"username": "engagement_officer",
                                           "password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 429 and "too many failed sign-ins" in page.text
    ok = api.client.post("/api/auth/login", json={"username": "auditor", "password": PASSWORD})
    assert ok.status_code == 200  # others are not locked out


def test_counts_with_fewer_tracks_than_false_alerts(api: Api) -> None:
    """A rejection can reach the counters before the camera flushes its tracks: the false
    alert rate is then undefined (as in the reports), not a server error."""
    from datetime import UTC, datetime

    from openlfr.store.models import DeploymentCounter

    did = api.ids["deployment_id"]
    with api.sessions() as s:
        s.add(DeploymentCounter(deployment_id=did, camera_id="cam1", frames=0, dropped=0,
                                faces=0, tracks=0, alerts=1, confirmed=0, rejected=1,
                                not_engaged=0, updated_at=datetime.now(UTC)))
        s.commit()
    counts = api.client.get(f"/api/deployments/{did}/counts", headers=api.auth(Role.AUDITOR))
    assert counts.status_code == 200
    assert counts.json()["false_alert_rate"] is None
    assert counts.json()["alert_precision"]["total"] == 1
    page = api.client.get(f"/console/deployments/{did}", headers=api.auth(Role.AUDITOR))
    assert page.status_code == 200 and "undefined" in page.text
