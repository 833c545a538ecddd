"""Sign-in: signed HttpOnly SameSite=Strict console cookies, bearer tokens, sign-out revokes."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from openlfr.api.app import create_app
from openlfr.api.deps import COOKIE, SessionSigner
from openlfr.governance.throttle import LoginThrottle, ThrottlePolicy
from openlfr.store.models import AuditEntry, Role, SignInFailure, SignInLock

from .conftest import BACKENDS, PASSWORD, Api, seed_users, settings_on


def csrf_of(page: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]*)">', page)
    assert m is not None and m.group(1), "the page carries no CSRF token"
    return m.group(1)


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
    token = csrf_of(client.get("/console/operator").text)
    resp = client.post("/logout", follow_redirects=False)
    assert resp.status_code == 403  # no CSRF token: another site cannot sign the user out
    assert api.last_audit().action == "csrf_refused"
    resp = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
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


def clear_throttle(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        s.execute(delete(SignInFailure))
        s.execute(delete(SignInLock))
        s.commit()


@pytest.fixture
def clocked(api: Api):  # noqa: ANN201
    """The app's sign-in throttle on a clock the test moves (no sleeps), starting from an
    empty count (the throttle's state is in the module's store)."""
    t = [1000.0]
    ctx = api.app.state.ctx
    old = ctx.login_throttle
    ctx.login_throttle = LoginThrottle(
        ctx.store.sessions, ctx.store.read_sessions, key=ctx.store.audit_key,
        policy=ThrottlePolicy(per_user=3, per_ip=6, window_s=60, lockout_s=300),
        clock=lambda: t[0])
    clear_throttle(ctx.store.sessions)
    try:
        yield t
    finally:
        ctx.login_throttle = old
        clear_throttle(ctx.store.sessions)


def test_a_locked_user_stays_locked_from_a_new_address_until_it_expires(
        api: Api, clocked: list[float]) -> None:
    from fastapi.testclient import TestClient

    here = TestClient(api.app, client=("198.51.100.1", 1))
    there = TestClient(api.app, client=("203.0.113.9", 1))
    elsewhere = TestClient(api.app, client=("192.0.2.77", 1))
    for client in (here, there, here):
        assert client.post("/api/auth/login", json={"username": "watchlist_manager",
                                                    "password": "guess"}).status_code == 401
    before = api.audit_count()
    resp = elsewhere.post("/api/auth/login", json={"username": "watchlist_manager",
                                                   "password": PASSWORD})
    assert resp.status_code == 429 and "try again in 300 s" in resp.json()["detail"]
    entry = api.last_audit()
    assert api.audit_count() == before + 1  # the refusal, and no login check behind it
    assert (entry.actor, entry.action) == ("watchlist_manager", "login_throttled")
    assert json.loads(entry.details) == {"locked": "user", "retry_after_s": 300}
    page = elsewhere.post("/login", data={"username": "watchlist_manager",
                                          "password": PASSWORD}, follow_redirects=False)
    assert page.status_code == 429 and "too many failed sign-ins" in page.text
    clocked[0] += 299
    assert elsewhere.post("/api/auth/login", json={"username": "watchlist_manager",
                                                   "password": PASSWORD}).status_code == 429
    clocked[0] += 1
    assert elsewhere.post("/api/auth/login", json={"username": "watchlist_manager",
                                                   "password": PASSWORD}).status_code == 200


def test_a_spray_across_names_locks_the_address(api: Api, clocked: list[float]) -> None:
    from fastapi.testclient import TestClient

    sprayer = TestClient(api.app, client=("198.51.100.66", 1))
    other = TestClient(api.app, client=("198.51.100.67", 1))
    for name in ("ann", "ben", "cat", "dan", "eve", "fay"):
        assert sprayer.post("/api/auth/login", json={"username": name,
                                                     "password": "Winter2026"}).status_code == 401
    resp = sprayer.post("/api/auth/login", json={"username": "auditor", "password": PASSWORD})
    assert resp.status_code == 429
    entry = api.last_audit()
    assert (entry.actor, entry.action) == ("auditor", "login_throttled")
    assert json.loads(entry.details)["locked"] == "address"
    resp = sprayer.post("/api/auth/login", json={"username": "nobody", "password": "x"})
    assert resp.status_code == 429
    entry = api.last_audit()
    assert (entry.actor, entry.action) == ("anonymous", "login_throttled")
    assert "nobody" not in entry.details
    assert other.post("/api/auth/login", json={"username": "auditor",
                                               "password": PASSWORD}).status_code == 200
    clocked[0] += 300
    assert sprayer.post("/api/auth/login", json={"username": "auditor",
                                                 "password": PASSWORD}).status_code == 200


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


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_servers_on_one_database_count_failed_sign_ins_together(
        backend: str, tmp_path: Path) -> None:
    """Two apps (two centres behind one proxy) on one store, with the throttle as
    create_app sets it up: five failures spread over both lock the name on both."""
    from fastapi.testclient import TestClient

    with settings_on(backend, tmp_path) as settings:
        one = create_app(settings, run_cameras=False, session_key=b"1" * 32)
        two = create_app(settings, run_cameras=False, session_key=b"2" * 32)
        seed_users(one.state.ctx.sessions)
        try:
            here = TestClient(one, client=("198.51.100.1", 1))
            there = TestClient(two, client=("203.0.113.9", 1))
            for client in (here, there, here, there, here):
                assert client.post("/api/auth/login", json={
                    "username": "operator", "password": "guess"}).status_code == 401
            for client in (here, there):
                resp = client.post("/api/auth/login", json={"username": "operator",
                                                            "password": PASSWORD})
                assert resp.status_code == 429 and "try again in 900 s" in resp.json()["detail"]
            assert there.post("/api/auth/login", json={
                "username": "auditor", "password": PASSWORD}).status_code == 200
            with one.state.ctx.sessions() as s:
                refusals = s.scalars(select(AuditEntry).where(
                    AuditEntry.action == "login_throttled")).all()
            assert [e.actor for e in refusals] == ["operator", "operator"]
        finally:
            for app in (one, two):
                app.state.ctx.store.close()


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


def _console(api: Api, username: str):  # noqa: ANN202
    """A browser signed in to the console as ``username`` (its own cookie jar), and the
    page's CSRF token."""
    from fastapi.testclient import TestClient

    browser = TestClient(api.app, client=(f"192.0.2.{len(username)}", 1))
    resp = browser.post("/login", data={"username": username, "password": PASSWORD},
                        follow_redirects=False)
    assert resp.status_code == 303, resp.text
    return browser, csrf_of(browser.get("/").text)


def test_a_cross_origin_form_post_is_refused(api: Api) -> None:
    browser, token = _console(api, "authorising_officer")
    evil = {"Origin": "https://evil.example", "Referer": "https://evil.example/x"}
    before = api.audit_count()
    # what a page on another site can make the browser send: a form post with the cookie
    resp = browser.post("/api/auth/tokens", data={"name": "stolen"}, headers=evil)
    assert resp.status_code == 403 and "CSRF" in resp.text
    resp = browser.post("/api/auth/logout", data={}, headers=evil)
    assert resp.status_code == 403
    entry = api.last_audit()
    assert api.audit_count() == before + 2
    assert (entry.actor, entry.action) == ("authorising_officer", "csrf_refused")
    assert browser.get("/api/auth/me").status_code == 200  # still signed in
    # a wrong token is no better than none
    resp = browser.post("/api/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "x"})
    assert resp.status_code == 403
    # another session's token neither
    _, other = _console(api, "auditor")
    resp = browser.post("/api/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": other})
    assert resp.status_code == 403


def test_the_consoles_own_calls_are_accepted(api: Api) -> None:
    from pathlib import Path

    import openlfr.api as pkg

    js = (Path(pkg.__file__).parent / "static" / "console.js").read_text()
    # console.js sends the page's token on every call that is not a read
    assert 'querySelector(\'meta[name="csrf-token"]\')' in js
    assert 'opts.headers["X-CSRF-Token"] = csrfToken()' in js
    browser, token = _console(api, "authorising_officer")
    resp = browser.post("/api/auth/tokens", json={"name": "from the console"},
                        headers={"X-CSRF-Token": token, "Origin": "http://testserver"})
    assert resp.status_code == 201, resp.text
    did = api.ids["deployment_id"]
    page = browser.get(f"/console/deployments/{did}")
    assert page.status_code == 200 and csrf_of(page.text) == token  # one token per session
    # reads need none; bearer-token calls are exempt (no cookie, nothing for a site to ride)
    assert browser.get("/api/deployments").status_code == 200
    bearer = api.client.post("/api/auth/tokens", json={"name": "cli"},
                             headers=api.auth(Role.AUTHORISING_OFFICER))
    assert bearer.status_code == 201
    resp = browser.post("/api/auth/logout", headers={"X-CSRF-Token": token})
    assert resp.status_code == 200
    assert browser.get("/api/auth/me").status_code == 401


def test_a_password_reset_ends_sessions_and_forces_a_new_password(api: Api) -> None:
    from fastapi.testclient import TestClient

    from openlfr.governance import auth
    from openlfr.store.models import User

    with api.sessions() as s:
        admin = s.get(User, api.users[Role.ADMIN].id)
        auth.create_user(s, admin, auth.UserCreate(username="resetme", roles=[Role.AUDITOR],
                                                   password=PASSWORD))
        s.commit()
    browser, _ = _console(api, "resetme")
    tok = api.client.post("/api/auth/login", json={"username": "resetme",
                                                   "password": PASSWORD}).json()["token"]
    h = {"Authorization": f"Bearer {tok}"}
    assert api.client.get("/api/auth/me", headers=h).status_code == 200
    uid = api.client.get("/api/auth/me", headers=h).json()["id"]
    resp = api.client.patch(f"/api/users/{uid}", json={"password": "admin-knows-this"},
                            headers=api.auth(Role.ADMIN))
    assert resp.status_code == 200, resp.text
    assert api.client.get("/api/auth/me", headers=h).status_code == 401  # token revoked
    assert browser.get("/api/auth/me").status_code == 401  # console session revoked
    # the admin's password does not sign in (so the admin cannot act as the user) ...
    resp = api.client.post("/api/auth/login", json={"username": "resetme",
                                                    "password": "admin-knows-this"})
    assert resp.status_code == 403 and "/api/auth/password" in resp.json()["detail"]
    fresh = TestClient(api.app, client=("192.0.2.200", 1))
    page = fresh.post("/login", data={"username": "resetme", "password": "admin-knows-this"},
                      follow_redirects=False)
    assert page.status_code == 403 and 'name="new_password"' in page.text
    # ... it serves once, to choose a new one
    resp = api.client.post("/api/auth/password", json={
        "username": "resetme", "password": "admin-knows-this", "new_password": "my-own-pass"})
    assert resp.status_code == 200, resp.text
    h = {"Authorization": f"Bearer {resp.json()['token']}"}
    assert api.client.get("/api/auth/me", headers=h).json()["username"] == "resetme"
    assert api.client.post("/api/auth/login", json={"username": "resetme",
                                                    "password": "admin-knows-this"}
                           ).status_code == 401
    page = fresh.post("/login", data={"username": "resetme", "password": "my-own-pass"},
                      follow_redirects=False)
    assert page.status_code == 303


def test_behind_a_trusted_tls_proxy_the_cookie_is_secure(api: Api) -> None:
    """``openlfr serve --forwarded-allow-ips`` turns uvicorn's proxy headers on for that
    proxy only; without it no forwarded header is believed."""
    import inspect

    import uvicorn
    from fastapi.testclient import TestClient

    from openlfr.cli import serve as cli

    assert cli.proxy_options(None) == {"proxy_headers": False}
    assert cli.proxy_options(" ") == {"proxy_headers": False}
    assert cli.proxy_options("10.0.0.1,10.0.0.2") == {
        "proxy_headers": True, "forwarded_allow_ips": "10.0.0.1,10.0.0.2"}
    assert "**proxy_options(forwarded_allow_ips)" in inspect.getsource(cli.serve)
    assert "forwarded_allow_ips" in inspect.signature(cli.serve).parameters

    def cookie(options: dict, client: tuple[str, int]) -> str:
        config = uvicorn.Config(api.app, **options)
        config.load()
        browser = TestClient(config.loaded_app, client=client)
        resp = browser.post("/login", data={"username": "operator", "password": PASSWORD},
                            headers={"X-Forwarded-Proto": "https",
                                     "X-Forwarded-For": "203.0.113.5"},
                            follow_redirects=False)
        assert resp.status_code == 303, resp.text
        return resp.headers["set-cookie"]

    proxy = ("10.0.0.1", 4000)
    assert "secure" in cookie(cli.proxy_options("10.0.0.1"), proxy).lower()
    assert "secure" not in cookie(cli.proxy_options(None), proxy).lower()
    # a forwarded header from anyone but the named proxy is not believed
    assert "secure" not in cookie(cli.proxy_options("10.0.0.1"), ("10.0.0.9", 1)).lower()
