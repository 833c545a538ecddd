"""The retention sweeper on both databases: it purges exactly what the policy says."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openlfr.errors import NotFound, PermissionDenied
from openlfr.governance import alerts as A
from openlfr.governance import audit
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.retention import (
    AUDIT_FLOOR_DAYS,
    RetentionPolicy,
    audit_due,
    run_retention,
)
from openlfr.store.models import (
    Alert,
    AuditEntry,
    AuditHead,
    SnapshotSubject,
    SnapshotTemplate,
    Subject,
    SubjectImage,
    Template,
)

from .conftest import EMB, T0, People, active_deployment, make_subject

H = timedelta(hours=1)
DAY = timedelta(days=1)


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_snapshot_gone_24_hours_after_the_deployment_ends(session: Session,
                                                          people: People) -> None:
    dep = active_deployment(session, people)
    policy = RetentionPolicy()
    end = T0 + 5 * H
    D.stop(session, people.op, dep.id, end)
    session.commit()
    assert run_retention(session, policy, end + 23 * H).snapshots == []
    assert W.load_snapshot(session, dep.id, None, EMB).embeddings.shape[0] == 2
    result = run_retention(session, policy, end + 24 * H)
    session.commit()
    assert len(result.snapshots) == 1
    with pytest.raises(NotFound, match="retention deleted it"):
        W.load_snapshot(session, dep.id, None, EMB)
    assert count(session, SnapshotSubject) == count(session, SnapshotTemplate) == 0
    assert dep.snapshot_hash is not None  # what was checked stays on record
    purge = session.scalars(select(AuditEntry).where(AuditEntry.action == "purge")).one()
    assert '"kind":"snapshots"' in purge.details and dep.snapshot_hash in purge.details


def test_alerts_purged_after_the_period_unless_held(session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    sid = W.get_snapshot(session, dep.id).subjects[0].subject_id
    at = T0 + 2 * H
    old = [A.record_alert(session, dep.id, "cam1", f"t{i}", sid, 0.6, b"p", at)
           for i in range(3)]
    young = A.record_alert(session, dep.id, "cam1", "t9", sid, 0.6, b"p", at + 2 * H)
    A.adjudicate(session, people.eo, old[0].id, "confirmed", at)
    A.hold_alert(session, people.ao, old[1].id, "evidence for a prosecution", at)
    session.commit()
    now = at + 31 * DAY
    dry = run_retention(session, RetentionPolicy(), now, people.admin, dry_run=True)
    assert sorted(dry.alerts) == sorted([old[0].id, old[2].id])
    assert count(session, Alert) == 4  # a dry run changes nothing
    result = run_retention(session, RetentionPolicy(), now, people.admin)
    session.commit()
    assert sorted(result.alerts) == sorted([old[0].id, old[2].id])
    remaining = sorted(session.scalars(select(Alert.id)))
    assert remaining == sorted([old[1].id, young.id])
    totals = A.get_counters(session, dep.id)[0]
    assert (totals.alerts, totals.confirmed) == (4, 1)  # aggregates survive the purge
    purges = session.scalars(select(AuditEntry).where(AuditEntry.action == "purge")).all()
    (purge,) = [p for p in purges if '"kind":"alerts"' in p.details]
    assert purge.actor == "admin" and '"count":2' in purge.details
    assert result.subjects == ["S0", "S1"]  # their 30-day entries expired too
    A.release_hold(session, people.ao, old[1].id, now)
    assert run_retention(session, RetentionPolicy(), now).alerts == [old[1].id]


def test_expired_subjects_removed_with_their_biometrics(session: Session,
                                                       people: People) -> None:
    keep = make_subject(session, people.wm, "KEEP", days=60)
    gone = make_subject(session, people.wm, "GONE", days=10)
    hand = make_subject(session, people.wm, "HAND", days=60)
    W.expire_subject(session, people.wm, hand.id, T0 + DAY, reason="found safe")
    session.commit()
    result = run_retention(session, RetentionPolicy(), T0 + 10 * DAY)
    session.commit()
    assert sorted(result.subjects) == ["GONE", "HAND"]
    assert [s.reference for s in session.scalars(select(Subject))] == ["KEEP"]
    assert count(session, SubjectImage) == count(session, Template) == 1
    assert gone.id != keep.id
    assert run_retention(session, RetentionPolicy(), T0 + 10 * DAY).to_dict()[
        "subjects_removed"] == 0


def test_retention_by_hand_needs_permission(session: Session, people: People) -> None:
    with pytest.raises(PermissionDenied):
        run_retention(session, RetentionPolicy(), T0, people.op)


def test_audit_floor_is_pure_and_cannot_be_configured_away() -> None:
    with pytest.raises(ValidationError, match="at least 183 days"):
        RetentionPolicy(audit_days=30)
    assert not audit_due(T0, RetentionPolicy(), T0 + 10_000 * DAY)  # unset: kept forever
    policy = RetentionPolicy(audit_days=AUDIT_FLOOR_DAYS)
    assert not audit_due(T0, policy, T0 + AUDIT_FLOOR_DAYS * DAY - H)
    assert audit_due(T0, policy, T0 + AUDIT_FLOOR_DAYS * DAY)
    # even a policy built without validation keeps the floor
    sneaky = RetentionPolicy.model_construct(audit_days=1.0, alert_days=31,
                                             snapshot_hours=24, subject_grace_days=0)
    assert not audit_due(T0, sneaky, T0 + 100 * DAY)


def test_sweeper_keeps_audit_entries_younger_than_the_floor_and_alerts_keep_theirs(
        session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    sid = W.get_snapshot(session, dep.id).subjects[0].subject_id
    A.record_alert(session, dep.id, "cam1", "t1", sid, 0.6, b"p", T0 + 2 * H)
    session.commit()
    written = count(session, AuditEntry)
    policy = RetentionPolicy(audit_days=AUDIT_FLOOR_DAYS)
    first = run_retention(session, policy, T0 + 182 * DAY)
    session.commit()
    assert len(first.alerts) == 1 and first.audit_through is None  # alerts: 31 days
    assert count(session, AuditEntry) > written  # nothing purged, the purges recorded
    later = T0 + (AUDIT_FLOOR_DAYS + 1) * DAY
    result = run_retention(session, policy, later)
    session.commit()
    assert result.audit_through == written  # exactly the entries older than the floor
    remaining = session.scalars(select(AuditEntry.at)).all()
    assert all(at >= later - AUDIT_FLOOR_DAYS * DAY for at in remaining)
    report = audit.verify(session)
    assert report.ok, report.problems
    (vouch,) = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "audit_purge")).all()
    assert f'"through_seq":{written}' in vouch.details
    session.delete(vouch)  # whoever removes the record of the purge is found out
    session.flush()
    assert {p.kind for p in audit.verify(session).problems} >= {"truncated"}
    session.rollback()
    head = session.get(AuditHead, 1)
    assert head is not None and head.base_seq == written
