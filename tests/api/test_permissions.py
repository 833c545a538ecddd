"""Every route refuses anonymous callers and wrong roles, admits the right roles, and every
refusal lands in the audit chain. The table is the app's own route list, so a new route is
covered (or fails the declaration check) without anyone editing this file."""

from __future__ import annotations

import json
import re

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
from openlfr.governance.auth import PERMISSIONS, Action
from openlfr.store.models import Role

from .conftest import Api

STREAMING = {"/api/alerts/stream"}  # endless by design: admitted callers are tested elsewhere


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
    assert public == ["/api/auth/login", "/login", "/logout", "/static"]
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
    allowed = PERMISSIONS[Action(perm)]
    for role in Role:
        if role in allowed and path in STREAMING:
            continue
        before = api.audit_count()
        resp = _call(api, method, path, api.auth(role))
        if role in allowed:
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
