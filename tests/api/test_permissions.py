"""Every route refuses anonymous callers and wrong roles, admits the right roles, and every
refusal lands in the audit chain. The table is the app's own route list, so a new route is
covered (or fails the declaration check) without anyone editing this file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from openlfr.api.deps import (
    AUTHENTICATED,
    PUBLIC,
    GuardedRoute,
    declared_permission,
    flatten_routes,
    permit,
)
from openlfr.api.routes import ROUTERS
from openlfr.governance.auth import BIOMETRIC_ROLES, PERMISSIONS, SCOPED_IMAGE_ROLES, Action
from openlfr.store.models import Role

from .conftest import Api, crew, enrol_subject

STREAMING = {"/api/alerts/stream"}  # endless by design: admitted callers are tested elsewhere
DOCS = Path(__file__).resolve().parents[2] / "docs" / "governance.md"
# Image routes: operators and engagement officers only within their deployment scope
# (the fixture's deployment is a draft, so there they are refused, audited, by scope)
SCOPED = {"/api/watchlist/subjects/{subject_id}/image", "/api/alerts/{alert_id}/probe",
          "/api/alerts/{alert_id}/reference"}


def documented_table() -> dict[str, frozenset[Role]]:
    """The role table of docs/governance.md: action -> roles marked."""
    text = DOCS.read_text()
    block = text.split("<!-- role-table: start -->", 1)[1].split("<!-- role-table: end -->")[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in block.strip().splitlines()]
    header, body = rows[0], rows[2:]
    roles = [Role(h.strip("`")) for h in header[1:-1]]
    return {r[0].strip("`"): frozenset(role for role, cell in zip(roles, r[1:-1], strict=True)
                                       if cell == "x") for r in body}


TABLE = documented_table()


def _routes() -> list[tuple[str, str, str]]:
    rows = []
    for router in ROUTERS:
        for r in flatten_routes(router.routes):
            assert isinstance(r, APIRoute)
            for method in sorted(r.methods):
                rows.append((method, r.path, declared_permission(r) or "<none>"))
    rows.append(("GET", "/api/openapi.json", AUTHENTICATED))
    return rows


ROUTES = _routes()
GUARDED = [r for r in ROUTES if r[2] not in (PUBLIC, AUTHENTICATED)]
PRIVATE = [r for r in ROUTES if r[2] != PUBLIC]


def _url(api: Api, path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(api.ids[m.group(1)]), path)


def _call(api: Api, method: str, path: str, headers: dict[str, str] | None = None):  # noqa: ANN202
    kwargs: dict = {"headers": headers or {}, "follow_redirects": False}
    if method in ("POST", "PATCH", "PUT"):
        kwargs["content"] = json.dumps({})
        kwargs["headers"] = {**kwargs["headers"], "Content-Type": "application/json"}
    return api.client.request(method, _url(api, path), **kwargs)


def test_the_documented_table_is_the_enforced_one() -> None:
    assert TABLE == {a.value: roles for a, roles in PERMISSIONS.items()}


def test_the_auditor_is_read_only(api: Api) -> None:
    """Every route the auditor may call reads: no POST/PATCH/PUT/DELETE is open to it."""
    writes = [(m, p) for m, p, perm in GUARDED if m not in ("GET", "HEAD")
              and Role.AUDITOR in TABLE[perm]]
    assert writes == []
    aid, did = api.ids["alert_id"], api.ids["deployment_id"]
    for url, body in ((f"/api/alerts/{aid}/hold", {"reason": "r"}),
                      (f"/api/alerts/{aid}/release", {}),
                      (f"/api/deployments/{did}/review", {"note": "n"})):
        resp = api.client.post(url, json=body, headers=api.auth(Role.AUDITOR))
        assert resp.status_code == 403, url


def test_every_route_declares_exactly_one_permission(api: Api) -> None:
    routes = list(flatten_routes(api.app.router.routes))
    undeclared = [getattr(r, "path", r) for r in routes if declared_permission(r) is None]
    assert undeclared == []
    for r in routes:
        if isinstance(r, Mount):
            assert r.path == "/static" and declared_permission(r) == PUBLIC
        else:
            assert isinstance(r, GuardedRoute), r.path
            perm = declared_permission(r)
            assert perm in (PUBLIC, AUTHENTICATED) or perm in {a.value for a in Action}, perm
    public = sorted({r.path for r in routes if declared_permission(r) == PUBLIC})
    assert public == ["/api/auth/login", "/api/auth/password", "/login", "/logout",
                      "/public/deployments", "/public/deployments.atom",
                      "/public/deployments.json", "/static"]
    for r in routes:  # every JSON route declares its public schema
        if isinstance(r, APIRoute) and r.path.startswith("/api/") and r.response_model is None:
            rc = getattr(r.response_class, "value", r.response_class)
            assert rc.media_type != "application/json", r.path
    app_rows = {(m, r.path) for r in routes if isinstance(r, APIRoute) for m in r.methods}
    assert app_rows == {(m, p) for m, p, _ in ROUTES}


def test_a_route_without_permission_is_unreachable() -> None:
    def leak() -> dict[str, str]:
        return {"secret": "x"}

    route = GuardedRoute("/leak", leak, methods=["GET"])
    assert declared_permission(route) is None
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    with TestClient(Starlette(routes=[route])) as client:
        resp = client.get("/leak")
    assert resp.status_code == 403
    assert "secret" not in resp.text

    def guarded(me=permit(Action.ALERT_VIEW)) -> dict[str, str]:  # noqa: B008
        return {}

    assert declared_permission(GuardedRoute("/ok", guarded, methods=["GET"])) == "alert.view"


@pytest.mark.parametrize(("method", "path", "perm"), PRIVATE,
                         ids=[f"{m} {p}" for m, p, _ in PRIVATE])
def test_anonymous_is_refused_and_audited(api: Api, method: str, path: str, perm: str) -> None:
    before = api.audit_count()
    resp = _call(api, method, path)
    if path.startswith("/api/") or path == "/metrics":
        assert resp.status_code == 401, resp.text
        assert resp.headers.get("www-authenticate") == "Bearer"
    else:  # console pages send the browser to the sign-in page
        assert resp.status_code == 303 and resp.headers["location"] == "/login"
    entry = api.last_audit()
    assert api.audit_count() == before + 1
    assert (entry.actor, entry.action) == ("anonymous", "permission_denied")
    assert json.loads(entry.details)["action"] == perm


def test_bad_tokens_are_anonymous(api: Api) -> None:
    for header in ("Bearer olfr_not-a-real-token", "Bearer ", "Basic YWRtaW46eA==",
                   "Bearer " + api.tokens[Role.ADMIN] + "x"):
        resp = api.client.get("/api/deployments", headers={"Authorization": header})
        assert resp.status_code == 401, header


@pytest.mark.parametrize(("method", "path", "perm"), GUARDED,
                         ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_roles_table(api: Api, method: str, path: str, perm: str) -> None:
    """Walk the route with every role against the documented table."""
    allowed = TABLE[perm]
    for role in Role:
        if role in allowed and path in STREAMING:
            continue
        before = api.audit_count()
        resp = _call(api, method, path, api.auth(role))
        if role in allowed and path in SCOPED and role in SCOPED_IMAGE_ROLES:
            assert resp.status_code in (403, 404), (role, resp.status_code, resp.text)
            if resp.status_code == 403:
                assert "outside the deployment scope" in resp.text
                assert (api.last_audit().actor, api.last_audit().action) == (
                    role.value, "permission_denied")
        elif role in allowed:
            assert resp.status_code not in (401, 403), (role, resp.status_code, resp.text)
            assert resp.status_code < 500, (role, resp.status_code, resp.text)
            if method == "GET" and "{" not in path and not path.endswith(".mjpeg"):
                assert resp.status_code == 200, (role, resp.status_code, resp.text)
        else:
            assert resp.status_code == 403, (role, resp.status_code, resp.text)
            entry = api.last_audit()
            assert api.audit_count() >= before + 1
            assert (entry.actor, entry.action) == (role.value, "permission_denied")
            assert json.loads(entry.details)["action"] == perm
            assert "may not" in resp.text or "Not permitted" in resp.text


def test_admin_sees_no_biometric_data(api: Api) -> None:
    h = api.auth(Role.ADMIN)
    sid = api.ids["subject_id"]
    for url in (f"/api/watchlist/subjects/{sid}/image", "/api/watchlist/subjects",
                "/api/alerts", "/api/alerts/1/probe", "/api/live/1/cam1.mjpeg"):
        assert api.client.get(url, headers=h).status_code == 403, url


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
def test_console_shows_each_role_only_its_pages(api: Api, role: Role) -> None:
    from openlfr.api.routes.console import NAV
    from openlfr.governance.auth import allowed

    page = api.client.get("/", headers=api.auth(role))
    assert page.status_code == 200
    nav = page.text.split("<nav>", 1)[1].split("</nav>", 1)[0]
    shown = set(re.findall(r'href="([^"]+)"', nav))
    assert shown == {href for href, _, action, _ in NAV if allowed({role}, action)}
    if allowed({role}, Action.ALERT_VIEW):
        op = api.client.get("/console/operator", headers=api.auth(role)).text
        can = allowed({role}, Action.ALERT_ADJUDICATE)
        assert f'data-can-adjudicate="{1 if can else 0}"' in op
        assert ('data-list="/api/live/cameras"' in op) == allowed({role}, Action.ALERT_IMAGE)


# --- issue 14: CSRF on every cookie-authenticated change ---------------------------------

CHANGES = [r for r in ROUTES if r[0] not in ("GET", "HEAD") and r[2] != PUBLIC]


@pytest.fixture(scope="module")
def browser(api: Api):  # noqa: ANN201
    """A console session (cookie) of a user holding every role but admin, and its token."""
    from fastapi.testclient import TestClient

    from openlfr.governance import auth
    from openlfr.governance.schemas import UserCreate
    from openlfr.store.models import User

    from .conftest import PASSWORD

    with api.sessions() as s:
        admin = s.get(User, api.users[Role.ADMIN].id)
        auth.create_user(s, admin, UserCreate(username="everyone", password=PASSWORD,
                                              roles=[r for r in Role if r is not Role.ADMIN]))
        s.commit()
    client = TestClient(api.app, client=("192.0.2.50", 1))
    assert client.post("/login", data={"username": "everyone", "password": PASSWORD},
                       follow_redirects=False).status_code == 303
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text).group(1)
    return client, token


@pytest.mark.parametrize(("method", "path", "perm"), CHANGES,
                         ids=[f"{m} {p}" for m, p, _ in CHANGES])
def test_every_cookie_change_needs_the_csrf_token(api: Api, browser, method: str,  # noqa: ANN001
                                                  path: str, perm: str) -> None:
    client, token = browser
    before = api.audit_count()
    resp = client.request(method, _url(api, path), data={"x": "1"}, follow_redirects=False,
                          headers={"Origin": "https://evil.example"})
    assert resp.status_code == 403, (resp.status_code, resp.text)
    entry = api.last_audit()
    assert api.audit_count() == before + 1
    assert (entry.actor, entry.action) == ("everyone", "csrf_refused")


def test_the_csrf_token_admits_the_console(api: Api, browser) -> None:  # noqa: ANN001
    client, token = browser
    resp = client.post("/api/auth/tokens", json={"name": "console"},
                       headers={"X-CSRF-Token": token})
    assert resp.status_code == 201, resp.text
    did = api.ids["deployment_id"]  # past the CSRF check, on to governance's own checks
    resp = client.post(f"/api/deployments/{did}/snapshot", headers={"X-CSRF-Token": token})
    assert resp.status_code in (201, 409) and "CSRF" not in resp.text, resp.text
    assert client.get("/api/auth/me").status_code == 200


# --- issue 14: separation of duties through the API --------------------------------------


def test_admins_cannot_grant_themselves_or_alone_a_face_image_role(api: Api) -> None:
    from openlfr.governance import auth
    from openlfr.governance.schemas import UserCreate
    from openlfr.store.models import User

    with api.sessions() as s:
        admin = s.get(User, api.users[Role.ADMIN].id)
        a2 = auth.create_user(s, admin, UserCreate(username="admin_two", roles=[Role.ADMIN]))
        _, tok2 = auth.issue_token(s, a2, name="t")
        s.commit()
    h1, h2 = api.auth(Role.ADMIN), {"Authorization": f"Bearer {tok2}"}
    me = api.users[Role.ADMIN].id
    resp = api.client.patch(f"/api/users/{me}", json={"roles": ["admin", "engagement_officer"]},
                            headers=h1)
    assert resp.status_code == 403 and "own roles" in resp.text
    assert api.last_audit().action == "permission_denied"
    resp = api.client.patch(f"/api/users/{me}", json={"roles": ["admin", "engagement_officer"]},
                            headers=h2)  # nor with a colleague: admins see no face images
    assert resp.status_code == 409, resp.text
    assert api.client.get("/api/watchlist/subjects", headers=h1).status_code == 403
    uid = api.users[Role.AUDITOR].id
    want = {"roles": ["auditor", "operator"]}
    resp = api.client.patch(f"/api/users/{uid}", json=want, headers=h1)
    assert resp.status_code == 202 and resp.json()["roles"] == ["auditor"]
    assert resp.headers["x-roles-pending"] == "1"
    assert api.client.patch(f"/api/users/{uid}", json=want, headers=h1).status_code == 202
    resp = api.client.patch(f"/api/users/{uid}", json=want, headers=h2)
    assert resp.status_code == 200 and resp.json()["roles"] == ["auditor", "operator"]
    assert api.last_audit().action == "user_roles"
    back = api.client.patch(f"/api/users/{uid}", json={"roles": ["auditor"]}, headers=h1)
    assert back.status_code == 200 and back.json()["roles"] == ["auditor"]
    # a new account gets a face-image role only when a second admin grants it
    resp = api.client.post("/api/users", json={"username": "newop", "roles": ["operator"],
                                               "password": "initial-pass-1"}, headers=h1)
    assert resp.status_code == 201 and resp.json()["roles"] == []
    assert resp.headers["x-roles-pending"] == "1"
    resp = api.client.patch(f"/api/users/{resp.json()['id']}", json={"roles": ["operator"]},
                            headers=h2)
    assert resp.status_code == 200 and resp.json()["roles"] == ["operator"]
    assert BIOMETRIC_ROLES == {Role.OPERATOR, Role.ENGAGEMENT_OFFICER, Role.WATCHLIST_MANAGER,
                               Role.AUTHORISING_OFFICER}


# --- issue 14: image routes check the deployment scope -----------------------------------


def test_image_routes_check_the_deployment_scope(api: Api) -> None:
    from datetime import UTC, datetime, timedelta

    from openlfr.governance import deployments, watchlist
    from openlfr.governance.alerts import record_alert
    from openlfr.governance.schemas import CameraSpec, DeploymentCreate
    from openlfr.store.models import Category, User

    from .conftest import EMBEDDER

    now = datetime.now(UTC)
    with api.sessions() as s:
        ao, wm, op = crew(api, s)
        inside = enrol_subject(s, wm, "SC-IN", "In scope", now,
                              category=Category.MISSING_PERSON_AT_RISK, image=b"\xff\xd8\xffin")
        outside = enrol_subject(s, wm, "SC-OUT", "Out of scope", now, image=b"\xff\xd8\xffout")
        dep = deployments.create_deployment(s, ao, DeploymentCreate(
            name="scoped", purpose="p", legal_basis="l", location="x",
            window_start=now - timedelta(minutes=5), window_end=now + timedelta(hours=2),
            cameras=[CameraSpec(camera_id="cam1", source_url="file:a.mp4")],
            categories=[Category.MISSING_PERSON_AT_RISK], dpia_reference="D",
            signage_confirmed=True,
            authorising_officer="authorising_officer", threshold=0.4, embedder_key=EMBEDDER),
            now)
        deployments.authorise(s, ao, dep.id, now)
        watchlist.create_snapshot(s, ao, dep.id, now)
        watchlist.approve_snapshot(s, ao, dep.id, now)
        deployments.start(s, op, dep.id, now)
        aid = record_alert(s, dep.id, "cam1", "1", inside.id, 0.6, b"\xff\xd8\xffprobe", now).id
        s.commit()
        did, sin, sout = dep.id, inside.id, outside.id

    def get(url: str, role: Role) -> int:
        return api.client.get(url, headers=api.auth(role)).status_code

    probe, ref = f"/api/alerts/{aid}/probe", f"/api/alerts/{aid}/reference"
    img_in = f"/api/watchlist/subjects/{sin}/image"
    img_out = f"/api/watchlist/subjects/{sout}/image"
    for role in (Role.OPERATOR, Role.ENGAGEMENT_OFFICER):
        assert [get(u, role) for u in (probe, ref, img_in)] == [200, 200, 200], role
        before = api.audit_count()
        assert get(img_out, role) == 403, role  # in no running deployment's snapshot
        entry = api.last_audit()
        assert api.audit_count() == before + 1 and entry.action == "permission_denied"
        assert "outside the deployment scope" in json.loads(entry.details)["reason"]
    for role in (Role.WATCHLIST_MANAGER, Role.AUTHORISING_OFFICER):
        assert get(img_out, role) == 200, role  # they keep the watchlist
    assert get(ref, Role.WATCHLIST_MANAGER) == 403  # the reference is an alert's image too
    assert get(probe, Role.AUDITOR) == 403 and get(ref, Role.AUDITOR) == 403
    with api.sessions() as s:
        deployments.stop(s, s.get(User, api.users[Role.OPERATOR].id), did, datetime.now(UTC))
        s.commit()
    for role in (Role.OPERATOR, Role.ENGAGEMENT_OFFICER):
        assert [get(u, role) for u in (probe, ref, img_in)] == [403, 403, 403], role
    assert get(probe, Role.AUTHORISING_OFFICER) == 200  # the review after the end
