"""The audit log searched (actor, action, target, time) and paged, exported as JSON Lines and
CSV (each export audited), report views audited, and decisions with a note and a reason."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openlfr.store.models import Role

from .conftest import Api
from .test_pagination import paged  # noqa: F401  (the fixture)

AUDITOR = Role.AUDITOR


@pytest.fixture(scope="module")
def live(paged: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """test_pagination's active deployment ("paged") with five alerts of one subject."""
    return paged


def _get(api: Api, url: str, role: Role = AUDITOR, **params: Any) -> Any:
    resp = api.client.get(url, params=params, headers=api.auth(role))
    assert resp.status_code == 200, resp.text
    return resp


def test_a_rejection_takes_a_reason_and_a_note_and_names_the_decider(api: Api,
                                                                    live: dict[str, Any]) -> None:
    first, second = live["alerts"][:2]
    url = f"/api/alerts/{first}/adjudicate"
    wrong = api.client.post(url, json={"outcome": "confirmed", "reason": "a different person"},
                            headers=api.auth(Role.OPERATOR))
    assert wrong.status_code == 422 and "only when an alert is rejected" in wrong.text
    resp = api.client.post(url, json={"outcome": "rejected", "reason": "a different person",
                                      "note": "taller, no glasses"},
                           headers=api.auth(Role.OPERATOR))
    assert resp.status_code == 200, resp.text
    view = resp.json()
    assert view["status"] == "rejected" and view["deciders"] == ["operator"]
    assert view["adjudications"][0]["note"] == "Reason: a different person\ntaller, no glasses"
    entry = api.last_audit()
    details = json.loads(entry.details)
    assert entry.action == "adjudicate" and details["reason"] == "a different person"
    assert details["has_note"] is True and "taller" not in entry.details  # the note stays out
    resp = api.client.post(f"/api/alerts/{second}/adjudicate", json={"outcome": "confirmed"},
                           headers=api.auth(Role.OPERATOR))
    assert resp.json()["adjudications"][0]["note"] is None


def test_search_by_actor_action_target_and_time_with_paging(api: Api,
                                                            live: dict[str, Any]) -> None:
    found = _get(api, "/api/audit", actor="operator", action="adjudicate").json()
    assert found["total"] >= 2 and all(e["actor"] == "operator" and e["action"] == "adjudicate"
                                       for e in found["items"])
    one = _get(api, "/api/audit", target=f"alert:{live['alerts'][0]}").json()
    assert {e["target"] for e in one["items"]} == {f"alert:{live['alerts'][0]}"}
    prefix = _get(api, "/api/audit", target="alert:*", limit=1)
    assert prefix.json()["total"] >= 5 and "x-next-before" in prefix.headers
    older = _get(api, "/api/audit", target="alert:*", limit=1,
                 before=prefix.headers["x-next-before"]).json()
    assert older["items"][0]["seq"] < prefix.json()["items"][0]["seq"]
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert _get(api, "/api/audit", since=future).json() == {"items": [], "total": 0}
    assert _get(api, "/api/audit", until=future, action="").json()["total"] > 0  # blank: no filter
    bad = api.client.get("/api/audit", params={"target": "alert:%"}, headers=api.auth(AUDITOR))
    assert bad.status_code == 422


def test_exports_match_the_search_and_are_audited(api: Api, live: dict[str, Any]) -> None:
    query = {"actor": "operator", "action": "adjudicate", "since": "2000-01-01 00:00"}
    total = _get(api, "/api/audit", **query).json()["total"]
    resp = _get(api, "/api/audit/export.jsonl", **query)
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in resp.headers["content-disposition"]
    rows = [json.loads(line) for line in resp.text.splitlines()]
    assert len(rows) == total and all(r["actor"] == "operator" for r in rows)
    assert rows == sorted(rows, key=lambda r: r["seq"]) and isinstance(rows[0]["details"], dict)
    entry = api.last_audit()
    assert (entry.actor, entry.action) == ("auditor", "audit_export")
    assert json.loads(entry.details) == {"format": "jsonl", "entries": total, "filter": query | {
        "since": "2000-01-01T00:00:00+00:00"}, "through_seq": rows[-1]["seq"]}
    table = list(csv.DictReader(io.StringIO(_get(api, "/api/audit/export.csv", **query).text)))
    assert [int(r["seq"]) for r in table] == [r["seq"] for r in rows]
    assert json.loads(api.last_audit().details)["format"] == "csv"
    refused = api.client.get("/api/audit/export.csv", headers=api.auth(Role.OPERATOR))
    assert refused.status_code == 403


@pytest.mark.parametrize("path", ["/api/reports/transparency.json",
                                  "/api/reports/transparency.html",
                                  "/api/deployments/{id}/report.json",
                                  "/api/deployments/{id}/report.html"])
def test_every_report_view_is_audited(api: Api, live: dict[str, Any], path: str) -> None:
    url = path.format(id=live["deployment_id"])
    _get(api, url)
    entry = api.last_audit()
    assert (entry.actor, entry.action) == ("auditor", "report_view")
    assert entry.target == ("report:transparency" if "transparency" in url
                            else f"deployment:{live['deployment_id']}")
    assert json.loads(entry.details)["format"] == url.rsplit(".", 1)[1]


def test_operator_page_tells_the_auditor_no_images_are_requested(api: Api,
                                                                live: dict[str, Any]) -> None:
    page = _get(api, "/console/operator").text
    assert 'data-images="none"' in page and "/api/alerts/" not in page.split("data-stream")[0]
    assert f"deployment {live['deployment_id']} (paged)" in page
    assert "No deployment is active" not in page
    assert 'data-images="running"' in _get(api, "/console/operator", Role.OPERATOR).text
    assert 'data-images="all"' in _get(api, "/console/operator",
                                       Role.AUTHORISING_OFFICER).text


def test_the_audit_page_searches_and_links_the_exports(api: Api, live: dict[str, Any]) -> None:
    page = _get(api, "/console/audit", actor="operator", action="adjudicate", since="").text
    assert "matching entr" in page
    assert 'href="/api/audit/export.csv?actor=operator&amp;action=adjudicate"' in page


def test_the_audit_page_pages_back(api: Api, live: dict[str, Any],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from openlfr.api.routes import console

    monkeypatch.setattr(console, "AUDIT_PAGE", 2)
    first = _get(api, "/console/audit", target="alert:*").text
    assert first.count("<tr><td>") == 2 and 'id="older"' in first
    cursor = first.split('id="older" href="?')[1].split('"')[0].replace("&amp;", "&")
    assert "target=alert%3A%2A" in cursor and "before=" in cursor
    older = api.client.get("/console/audit?" + cursor, headers=api.auth(AUDITOR)).text
    assert "older than #" in older and 'id="newest"' in older
