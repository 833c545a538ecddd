"""List routes are bounded and paged (``limit``, a cursor, ``X-Next-*`` and ``Link`` headers,
bodies unchanged); reads and authentication do not wait for a writer; a busy store is a
503, not a 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeout

from openlfr.governance import deployments, watchlist
from openlfr.governance.alerts import record_alert
from openlfr.governance.schemas import CameraSpec, DeploymentCreate
from openlfr.store.models import Category, Role, User

from .conftest import EMBEDDER, Api, crew, enrol_subject


@pytest.fixture(scope="module")
def paged(api: Api) -> dict[str, Any]:
    """An active deployment with five alerts, and three more subjects (one expired)."""
    now = datetime.now(UTC)
    with api.sessions() as s:
        ao, wm, op = crew(api, s)
        subjects = [enrol_subject(s, wm, f"PG-{i}", f"Paged {i}", now) for i in range(3)]
        dep = deployments.create_deployment(s, ao, DeploymentCreate(
            name="paged", purpose="p", legal_basis="l", location="x",
            window_start=now - timedelta(minutes=5), window_end=now + timedelta(hours=2),
            cameras=[CameraSpec(camera_id="cam1", source_url="file:a.mp4")],
            categories=[Category.WANTED_BY_COURTS], dpia_reference="D", signage_confirmed=True,
            authorising_officer="authorising_officer", threshold=0.4, embedder_key=EMBEDDER),
            now)
        deployments.authorise(s, ao, dep.id, now)
        watchlist.create_snapshot(s, ao, dep.id, now)
        watchlist.approve_snapshot(s, ao, dep.id, now)
        deployments.start(s, op, dep.id, now)
        alerts = [record_alert(s, dep.id, "cam1", str(i), subjects[0].id, 0.6, b"\xff\xd8\xff",
                               now).id for i in range(5)]
        watchlist.expire_subject(s, wm, subjects[2].id, now, reason="test")
        s.commit()
        return {"deployment_id": dep.id, "alerts": alerts,
                "subjects": [x.id for x in subjects]}


def walk(api: Api, url: str, role: Role, cursor: str) -> Iterator[tuple[list[Any], Any]]:
    """Every page of ``url`` following the ``Link`` header: (items, response)."""
    seen = 0
    while url:
        resp = api.client.get(url, headers=api.auth(role))
        assert resp.status_code == 200, resp.text
        items = resp.json()["items"]
        yield items, resp
        link = resp.headers.get("link")
        if link is None:
            assert f"x-next-{cursor}" not in resp.headers
            return
        assert link.endswith('>; rel="next"') and f"{cursor}=" in link
        url = link[1:link.index(">")]
        seen += 1
        assert seen < 50


def test_alerts_page_back_newest_first(api: Api, paged: dict[str, Any]) -> None:
    did = paged["deployment_id"]
    pages = list(walk(api, f"/api/alerts?deployment_id={did}&limit=2", Role.OPERATOR,
                      "before"))
    assert [len(items) for items, _ in pages] == [2, 2, 1]
    ids = [a["id"] for items, _ in pages for a in items]
    assert ids == sorted(paged["alerts"], reverse=True)
    first = pages[0][1]
    assert first.headers["x-next-before"] == str(ids[1])
    assert f"deployment_id={did}" in first.headers["link"]  # the other filters are kept
    # a full last page promises nothing more
    exact = api.client.get(f"/api/alerts?deployment_id={did}&limit=5",
                           headers=api.auth(Role.OPERATOR))
    assert len(exact.json()["items"]) == 5 and "x-next-before" not in exact.headers
    assert set(exact.json()) == {"items"}  # the body's shape is unchanged


@pytest.mark.parametrize("url", ["/api/alerts", "/api/audit", "/api/users",
                                 "/api/deployments", "/api/watchlist/subjects"])
def test_limits_are_bounded(api: Api, url: str) -> None:
    role = {"/api/alerts": Role.OPERATOR, "/api/audit": Role.AUDITOR,
            "/api/users": Role.ADMIN, "/api/deployments": Role.OPERATOR,
            "/api/watchlist/subjects": Role.WATCHLIST_MANAGER}[url]
    for bad in ("0", "1001", "x"):
        assert api.client.get(f"{url}?limit={bad}", headers=api.auth(role)).status_code == 422
    assert api.client.get(f"{url}?limit=1000", headers=api.auth(role)).status_code == 200
    cursor = "before" if url in ("/api/alerts", "/api/audit") else "after"
    huge = api.client.get(f"{url}?{cursor}={2**70}", headers=api.auth(role))
    assert huge.status_code == 422 or url == "/api/users"


def test_audit_pages_do_not_overlap(api: Api, paged: dict[str, Any]) -> None:
    pages = list(walk(api, "/api/audit?limit=7", Role.AUDITOR, "before"))
    seqs = [e["seq"] for items, _ in pages for e in items]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)
    assert len(pages) >= 2 and all(len(items) == 7 for items, _ in pages[:-1])
    assert seqs[-1] == 1  # back to the first entry
    assert {"items", "total"} == set(pages[0][1].json())


def test_users_deployments_and_subjects_page_forward(api: Api, paged: dict[str, Any]) -> None:
    users = [u["username"] for items, _ in walk(api, "/api/users?limit=2", Role.ADMIN,
                                                "after") for u in items]
    assert users == sorted(u.username for u in api.users.values())
    deps = [d["id"] for items, _ in walk(api, "/api/deployments?limit=1", Role.OPERATOR,
                                         "after") for d in items]
    assert deps == sorted(deps) and paged["deployment_id"] in deps and len(deps) >= 2
    active = [s["id"] for items, _ in walk(api, "/api/watchlist/subjects?limit=1",
                                           Role.WATCHLIST_MANAGER, "after") for s in items]
    expired = paged["subjects"][2]
    assert set(paged["subjects"][:2]) <= set(active) and expired not in active
    everyone = [s["id"] for items, _ in walk(
        api, "/api/watchlist/subjects?limit=2&include_expired=true", Role.WATCHLIST_MANAGER,
        "after") for s in items]
    assert expired in everyone and everyone == sorted(everyone)


def test_reads_and_authentication_do_not_wait_for_a_writer(api: Api,
                                                          paged: dict[str, Any]) -> None:
    """A writer holds SQLite's write lock: lists, shows and the permission check answer
    anyway (before, each request began BEGIN IMMEDIATE and queued behind it). Reports are
    not here: each view is audited, a write that waits its turn like any other."""
    writer = api.sessions()
    try:
        row = writer.get(User, api.users[Role.OPERATOR].id)
        row.display_name = "held by a writer"  # type: ignore[union-attr]
        writer.flush()
        did = paged["deployment_id"]
        for url, role in [("/api/alerts", Role.OPERATOR),
                          (f"/api/alerts/{paged['alerts'][0]}", Role.OPERATOR),
                          ("/api/deployments", Role.AUDITOR),
                          (f"/api/deployments/{did}/counts", Role.AUDITOR),
                          ("/api/users", Role.AUDITOR), ("/api/audit?limit=5", Role.AUDITOR),
                          ("/api/watchlist/subjects", Role.AUDITOR),
                          ("/api/auth/me", Role.AUDITOR)]:
            resp = api.client.get(url, headers=api.auth(role))
            assert resp.status_code == 200, (url, resp.status_code, resp.text)
    finally:
        writer.rollback()
        writer.close()


class _ExhaustedSession:
    info: dict[str, Any] = {"read_only": True}

    def scalar(self, *a: Any, **k: Any) -> Any:
        raise PoolTimeout("QueuePool limit of size 10 overflow 54 reached")

    execute = scalars = get = scalar

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def in_transaction(self) -> bool:
        return False


def test_an_exhausted_pool_is_a_503_not_a_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    store = api.app.state.ctx.store
    monkeypatch.setattr(store, "_read_factory", _ExhaustedSession)
    api.app.state.ctx.alert_reads.clear()  # a page read by an earlier test would answer
    resp = api.client.get("/api/alerts", headers=api.auth(Role.OPERATOR))
    assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
    assert "busy" in resp.json()["detail"]
