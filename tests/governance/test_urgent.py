"""Urgent use under eu-ai-act, with a controllable clock: a refusal, or no decision by the
deadline, stops the use at once and deletes its alerts, probe images and snapshot, while its
counters and the audit trail remain and the chain verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openlfr.errors import StateError
from openlfr.governance import alerts as A
from openlfr.governance import audit
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.urgent import ExternalAuthorisationIn, lapse_overdue, record_external
from openlfr.store.models import (
    Adjudication,
    Alert,
    AuditEntry,
    BiasEvaluation,
    Category,
    Deployment,
    DeploymentStatus,
    Outcome,
    Snapshot,
    SnapshotSubject,
)

from .conftest import EMB, T0, People, deployment_data, make_subject

H = timedelta(hours=1)
EU = dict(categories=[Category.MISSING_PERSON_AT_RISK], fria_reference="FRIA-2026-3",
          notification_reference="MSA/DPA 2026-118", two_person_verification=True,
          window_end=T0 + 40 * H)
DECISION = ExternalAuthorisationIn(authority="Juge des libertés, TJ Paris",
                                   reference="JLD-2026-0042", date=T0 + 3 * H,
                                   scope="Gare du Nord concourse, 2-3 March 2026")


def _eu_installation(session: Session, people: People) -> None:
    session.info["profile"] = "eu-ai-act"
    session.add(BiasEvaluation(created_at=T0, embedder_key=EMB, flip=False,
                               dataset_name="own-labelled-2026", dataset_description="",
                               thresholds_covered_min=0.3, thresholds_covered_max=0.7,
                               result={}, created_by_id=people.admin.id))
    for i in range(2):
        make_subject(session, people.wm, f"S{i}", seed=i,
                     category=Category.MISSING_PERSON_AT_RISK)


def _urgent_active(session: Session, people: People) -> Deployment:
    """Authorised at T0 under urgency (no external decision), started at T0+1h, with two
    alerts (one adjudicated) and counters."""
    _eu_installation(session, people)
    dep = D.create_deployment(session, people.ao, deployment_data(
        urgent=True, urgent_reason="Child abducted 40 minutes ago", **EU), T0)
    W.create_snapshot(session, people.wm, dep.id, T0)
    W.approve_snapshot(session, people.ao, dep.id, T0)
    D.authorise(session, people.ao, dep.id, T0)
    D.start(session, people.op, dep.id, T0 + H)
    assert dep.urgent_deadline == T0 + 25 * H
    sid = W.get_snapshot(session, dep.id).subjects[0].subject_id
    a1 = A.record_alert(session, dep.id, "cam1", "t1", sid, 0.7, b"probe-1", T0 + 2 * H)
    A.record_alert(session, dep.id, "cam2", "t2", sid, 0.6, b"probe-2", T0 + 2 * H)
    A.adjudicate(session, people.op, a1.id, Outcome.CONFIRMED, T0 + 2 * H)
    A.hold_alert(session, people.ao, a1.id, "complaint expected", T0 + 2 * H)
    A.add_counters(session, dep.id, "cam1", frames=900, dropped=0, faces=120, tracks=40,
                   now=T0 + 2 * H)
    session.commit()
    return dep


def _count(session: Session, model: type, **where: object) -> int:
    q = select(func.count()).select_from(model)
    for k, v in where.items():
        q = q.where(getattr(model, k) == v)
    return int(session.scalar(q) or 0)


def _assert_purged_but_counted(session: Session, dep: Deployment) -> None:
    session.expire_all()
    assert _count(session, Alert, deployment_id=dep.id) == 0
    assert _count(session, Adjudication) == 0
    assert _count(session, Snapshot, deployment_id=dep.id) == 0
    assert _count(session, SnapshotSubject) == 0
    [totals] = A.get_counters(session, dep.id)[:1]
    assert (totals.frames, totals.faces, totals.tracks, totals.alerts) == (900, 120, 40, 2)
    assert dep.status is DeploymentStatus.ENDED and dep.urgent_purged_at is not None
    purge = session.scalars(select(AuditEntry).where(AuditEntry.action == "urgent_purge")
                            ).one()
    assert '"alerts_deleted":2' in purge.details and "probe-1" not in purge.details
    assert _count(session, AuditEntry, action="alert") == 2  # what happened stays
    report = audit.verify(session)
    assert report.ok, report.problems


def test_refusal_stops_at_once_and_deletes_all_but_counters_and_audit(
        session: Session, people: People) -> None:
    dep = _urgent_active(session, people)
    record_external(session, people.ao, dep.id, DECISION, T0 + 5 * H, granted=False)
    session.commit()
    assert dep.ended_at == T0 + 5 * H and "refused" in (dep.end_reason or "")
    assert not D.may_scan(dep, "cam1", T0 + 5 * H)
    _assert_purged_but_counted(session, dep)
    with pytest.raises(StateError, match="already recorded as refused"):
        record_external(session, people.ao, dep.id, DECISION, T0 + 6 * H, granted=True)


def test_no_decision_by_the_deadline_stops_and_deletes(session: Session,
                                                       people: People) -> None:
    dep = _urgent_active(session, people)
    assert lapse_overdue(session, T0 + 25 * H - timedelta(seconds=1)) == []
    assert _count(session, Alert, deployment_id=dep.id) == 2
    assert lapse_overdue(session, T0 + 25 * H) == [dep.id]
    session.commit()
    assert "no external authorisation recorded by" in (dep.end_reason or "")
    _assert_purged_but_counted(session, dep)
    assert lapse_overdue(session, T0 + 26 * H) == []  # once
    with pytest.raises(StateError, match="too late"):
        record_external(session, people.ao, dep.id, DECISION, T0 + 26 * H, granted=True)


def test_a_grant_within_the_deadline_keeps_the_use(session: Session, people: People) -> None:
    dep = _urgent_active(session, people)
    record_external(session, people.ao, dep.id, DECISION, T0 + 4 * H, granted=True)
    assert lapse_overdue(session, T0 + 30 * H) == []
    assert dep.status is DeploymentStatus.ACTIVE and dep.urgent  # reports mark it
    assert _count(session, Alert, deployment_id=dep.id) == 2
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "external_authorisation")).one()
    assert "JLD-2026-0042" in entry.details and '"decision":"granted"' in entry.details


def test_without_urgency_eu_authorisation_waits_for_the_external_record(
        session: Session, people: People) -> None:
    _eu_installation(session, people)
    dep = D.create_deployment(session, people.ao, deployment_data(**EU), T0)
    W.create_snapshot(session, people.wm, dep.id, T0)
    W.approve_snapshot(session, people.ao, dep.id, T0)
    with pytest.raises(StateError, match=r"1 rule unmet:\n  - external_authorisation"):
        D.authorise(session, people.ao, dep.id, T0)
    with pytest.raises(StateError, match="needs its scope"):
        record_external(session, people.ao, dep.id, DECISION.model_copy(
            update={"scope": None}), T0, granted=True)
    record_external(session, people.ao, dep.id, DECISION, T0, granted=True)
    D.authorise(session, people.ao, dep.id, T0)
    assert dep.profile == "eu-ai-act" and dep.profile_version == "2026.1"


def test_urgency_is_refused_where_the_profile_does_not_allow_it(session: Session,
                                                                people: People) -> None:
    session.info["profile"] = "uk-app"
    with pytest.raises(StateError, match="profile uk-app allows no urgent use"):
        D.create_deployment(session, people.ao, deployment_data(
            urgent=True, urgent_reason="Threat to life"), T0)
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    with pytest.raises(StateError) as err:
        D.authorise(session, people.ao, dep.id, T0)
    for rule in ("authorising_officer_rank", "watchlist_criteria", "watchlist_reviewed",
                 "bias_evaluation"):
        assert f"  - {rule}:" in str(err.value)


def test_a_draft_is_authorised_under_the_installations_profile_of_the_day(
        session: Session, people: People) -> None:
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)  # custom
    assert dep.profile == "custom"
    session.info["profile"] = "eu-ai-act"  # the installation moved to the AI Act since
    with pytest.raises(StateError, match="under profile eu-ai-act"):
        D.authorise(session, people.ao, dep.id, T0)
