"""The console's users page shows role grants waiting for a second admin."""

from __future__ import annotations

from openlfr.governance import auth
from openlfr.governance.schemas import UserCreate
from openlfr.store.models import Role, User

from .conftest import PASSWORD, Api


def test_a_pending_grant_is_listed_for_the_second_admin_to_grant(api: Api) -> None:
    with api.sessions() as s:
        admin = s.get(User, api.users[Role.ADMIN].id)
        second = auth.create_user(s, admin, UserCreate(username="admin-two", roles=[Role.ADMIN],
                                                       password=PASSWORD))
        _, second_token = auth.issue_token(s, second, name="test")
        auth.set_roles(s, admin, "auditor", [Role.AUDITOR, Role.ENGAGEMENT_OFFICER])
        s.commit()
    mine = api.client.get("/console/users", headers=api.auth(Role.ADMIN)).text
    assert 'id="pending-grants"' in mine and "your request" in mine
    assert 'data-api="/api/users/' not in mine.split('id="pending-grants"')[1].split(
        "</section>")[0]  # the requester cannot grant their own request
    theirs = api.client.get("/console/users",
                            headers={"Authorization": f"Bearer {second_token}"}).text
    section = theirs.split('id="pending-grants"')[1].split("</section>")[0]
    uid = api.users[Role.AUDITOR].id
    assert f'data-api="/api/users/{uid}" data-method="PATCH"' in section
    assert "Grant engagement_officer" in section
    # the form sends the same change: the second admin's call applies it
    r = api.client.patch(f"/api/users/{uid}", json={"roles": ["auditor", "engagement_officer"]},
                         headers={"Authorization": f"Bearer {second_token}"})
    assert r.status_code == 200 and sorted(r.json()["roles"]) == ["auditor",
                                                                  "engagement_officer"]
    after = api.client.get("/console/users", headers=api.auth(Role.ADMIN)).text
    assert 'id="pending-grants"' not in after
    # put the module-wide fixture back as it was
    with api.sessions() as s:
        auth.set_roles(s, s.get(User, api.users[Role.ADMIN].id), "auditor", [Role.AUDITOR])
        s.commit()
