"""Editing a draft: only a draft, audited, a snapshot discarded when its criteria change,
explicit nulls refused by the schema."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import StateError
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.schemas import CameraSpec, DeploymentUpdate
from openlfr.store.models import AuditEntry, Category, Snapshot

from .conftest import T0, People, deployment_data, make_subject


def entries(session: Session, action: str) -> list[tuple[str, dict[str, object]]]:
    """(target, details) of each audit entry of ``action``, oldest first."""
    rows = session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                           .order_by(AuditEntry.seq))
    return [(e.target, json.loads(e.details)) for e in rows]


def test_update_draft_changes_only_given_fields_and_is_audited(session: Session,
                                                               people: People) -> None:
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    D.update_draft(session, people.ao, dep.id, DeploymentUpdate(
        location="Trafalgar Square", fria_reference="FRIA-7",
        cameras=[CameraSpec(camera_id="cam1", source_url="rtsp://user:***@10.0.0.5/s1"),
                 CameraSpec(camera_id="cam9", source_url="rtsp://10.0.0.9/s1")]), T0)
    session.commit()
    assert dep.location == "Trafalgar Square" and dep.purpose.startswith("Locate")
    assert dep.camera_ids == ("cam1", "cam9")
    # cam1 came back with its displayed URL: it keeps its stored credentials
    assert D.camera_sources(session, dep)["cam1"] == "rtsp://user:secret@10.0.0.5/s1"
    ((_, details),) = entries(session, "deployment_update")
    assert details["changed"] == ["cameras", "fria_reference", "location"]
    assert details["fria_reference"] == "FRIA-7"
    assert "secret" not in str(details)
    assert not entries(session, "snapshot_discard")  # no snapshot: nothing to discard


def test_changing_criteria_discards_the_snapshot(session: Session, people: People) -> None:
    make_subject(session, people.wm, "S1")
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    snap = W.create_snapshot(session, people.wm, dep.id, T0)
    W.approve_snapshot(session, people.ao, dep.id, T0)
    session.commit()
    D.update_draft(session, people.ao, dep.id, DeploymentUpdate(threshold=0.45), T0)
    assert session.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id))
    # the same categories again is no change of criteria
    D.update_draft(session, people.ao, dep.id,
                   DeploymentUpdate(categories=[Category.WANTED_BY_COURTS]), T0)
    assert not entries(session, "snapshot_discard")
    D.update_draft(session, people.ao, dep.id, DeploymentUpdate(
        categories=[Category.WANTED_BY_COURTS, Category.MISSING_PERSON_AT_RISK]), T0)
    session.commit()
    assert session.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id)) is None
    ((target, details),) = entries(session, "snapshot_discard")
    assert target == f"snapshot:{snap.id}"
    assert details["reason"] == "the draft's categories changed"


def test_only_a_draft_and_only_real_officers(session: Session, people: People) -> None:
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    with pytest.raises(StateError, match="not an active authorising officer"):
        D.update_draft(session, people.ao, dep.id, DeploymentUpdate(authorising_officer="op"),
                       T0)
    D.update_draft(session, people.ao, dep.id, DeploymentUpdate(authorising_officer="ao2"), T0)
    assert dep.authorising_officer_id == people.ao2.id
    with pytest.raises(StateError, match="window_end must be after"):
        D.update_draft(session, people.ao, dep.id, DeploymentUpdate(window_end=T0), T0)


@pytest.mark.parametrize("body, message", [
    ({"name": None}, "name cannot be null"),
    ({"window_start": None, "threshold": None}, "threshold, window_start cannot be null"),
    ({"categories": []}, "at least 1 item"),
    ({"cameras": [{"camera_id": "a", "source_url": "x"}] * 2}, "camera ids must be unique"),
])
def test_schema_refuses_nulls_and_empties(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DeploymentUpdate.model_validate(body)
    # a nullable profile field may be cleared
    assert DeploymentUpdate.model_validate({"fria_reference": None}).fria_reference is None
