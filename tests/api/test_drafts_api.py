"""PATCH /api/deployments/{id}: edit a draft; nulls and non-drafts refused clearly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openlfr.store.models import Role

from .conftest import Api


def _draft(api: Api) -> int:
    now = datetime.now(UTC)
    resp = api.client.post("/api/deployments", headers=api.auth(Role.AUTHORISING_OFFICER), json={
        "name": "draft to edit", "purpose": "p", "legal_basis": "l", "location": "here",
        "window_start": (now + timedelta(hours=1)).isoformat(),
        "window_end": (now + timedelta(hours=5)).isoformat(),
        "cameras": [{"camera_id": "cam1", "source_url": "rtsp://10.0.0.1/s"}],
        "categories": ["wanted_by_courts"], "dpia_reference": "D1",
        "signage_confirmed": False})
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def test_patch_edits_a_draft_and_is_audited(api: Api) -> None:
    dep_id, ao = _draft(api), api.auth(Role.AUTHORISING_OFFICER)
    resp = api.client.patch(f"/api/deployments/{dep_id}", headers=ao, json={
        "signage_confirmed": True, "location": "there",
        "cameras": [{"camera_id": "cam1", "source_url": "rtsp://10.0.0.1/s"},
                    {"camera_id": "cam2", "source_url": "rtsp://10.0.0.2/s"}]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["signage_confirmed"] and body["location"] == "there" and body["name"] == \
        "draft to edit"
    assert [c["camera_id"] for c in body["cameras"]] == ["cam1", "cam2"]
    entry = api.last_audit()
    assert entry.action == "deployment_update" and entry.target == f"deployment:{dep_id}"
    assert api.client.post(f"/api/deployments/{dep_id}/authorise", headers=ao).status_code == 200
    resp = api.client.patch(f"/api/deployments/{dep_id}", headers=ao, json={"location": "x"})
    assert resp.status_code == 409 and "only a draft can be edited" in resp.text


def test_patch_refuses_nulls_and_unknown_fields_with_422(api: Api) -> None:
    dep_id, ao = _draft(api), api.auth(Role.AUTHORISING_OFFICER)
    url = f"/api/deployments/{dep_id}"
    resp = api.client.patch(url, headers=ao, json={"name": None, "window_end": None})
    assert resp.status_code == 422 and "name, window_end cannot be null" in resp.text
    assert api.client.patch(url, headers=ao, json={"status": "active"}).status_code == 422
    assert api.client.patch(url, headers=ao, json={"fria_reference": None}).status_code == 200
    # an operator may not edit deployments
    assert api.client.patch(url, headers=api.auth(Role.OPERATOR),
                            json={"location": "y"}).status_code == 403
