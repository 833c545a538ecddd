"""The rule-profile routes: assessment, external decision, the Art. 5(4) notice."""

from __future__ import annotations

from openlfr.store.models import Role

from .conftest import Api

DECISION = {"authority": "Tribunal", "reference": "T-1", "date": "2026-03-02T08:00:00Z"}


def test_assessment_notice_and_refusal(api: Api) -> None:
    dep = api.ids["deployment_id"]
    ao = api.auth(Role.AUTHORISING_OFFICER)
    got = api.client.get(f"/api/deployments/{dep}/assessment", headers=ao)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["profile"] == "custom" and body["unmet"] == [] and body["snapshot_size"] is None
    notice = api.client.get(f"/api/deployments/{dep}/notice.json", headers=ao)
    assert notice.status_code == 200 and notice.json()["deployment_id"] == dep
    assert api.last_audit().action == "deployment_notice"
    pdf = api.client.get(f"/api/deployments/{dep}/notice.pdf", headers=ao)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    no_scope = api.client.post(f"/api/deployments/{dep}/external-authorisation",
                               headers=ao, json=DECISION)
    assert no_scope.status_code == 409 and "scope" in no_scope.text
    op = api.client.post(f"/api/deployments/{dep}/external-refusal",
                         headers=api.auth(Role.OPERATOR), json=DECISION)
    assert op.status_code == 403
    refused = api.client.post(f"/api/deployments/{dep}/external-refusal", headers=ao,
                              json=DECISION)
    assert refused.status_code == 200, refused.text
    out = refused.json()
    assert out["status"] == "cancelled" and out["external_decision"] == "refused"
    assert out["urgent_purged_at"] is not None
    assert api.last_audit().action == "urgent_purge"


def test_console_page_shows_the_profile_and_the_decision(api: Api) -> None:
    dep = api.ids["deployment_id"]
    page = api.client.get(f"/console/deployments/{dep}",
                          headers=api.auth(Role.AUTHORISING_OFFICER))
    assert page.status_code == 200, page.text[:300]
    assert "rule profile" in page.text and "custom" in page.text
    new = api.client.get("/console/deployments", headers=api.auth(Role.AUTHORISING_OFFICER))
    assert 'name="fria_reference"' in new.text and 'name="urgent_reason"' in new.text
