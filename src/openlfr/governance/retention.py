"""Retention enforced by the system.

Policies are pure functions of (record, policy, now), tested without a database or a clock:

- alert records and their probe images: purged ``alert_days`` (default 31) after the alert,
  unless held with a stated reason;
- a deployment's watchlist snapshot: deleted ``snapshot_hours`` (default 24, at most 24)
  after the deployment ended or was cancelled;
- watchlist subjects: removed (with their images and templates) ``subject_grace_days``
  (default 0) after they expire;
- audit entries: kept forever unless ``audit_days`` is set, and never purged before the floor
  of :data:`AUDIT_FLOOR_DAYS` (six months, EU AI Act Art. 26(6)), whatever the setting; the
  oldest are purged in chain order and an ``audit_purge`` entry vouches for where the chain
  now starts (:func:`openlfr.governance.audit.verify`).

:func:`run_retention` applies them and writes one ``purge`` audit entry per kind with the
counts and references. The server runs it on a timer; ``openlfr retention run`` by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.governance import audit
from openlfr.governance.auth import Action, require
from openlfr.settings import Settings
from openlfr.store.models import (
    Alert,
    AuditEntry,
    Deployment,
    DeploymentStatus,
    Snapshot,
    Subject,
    User,
)
from openlfr.store.types import as_utc

__all__ = ["AUDIT_FLOOR_DAYS", "RetentionPolicy", "alert_due", "audit_due", "snapshot_due",
           "subject_due", "run_retention", "RetentionResult"]


#: Audit entries are never purged younger than this (six months: EU AI Act Art. 26(6)).
AUDIT_FLOOR_DAYS = 183


class RetentionPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_days: float = Field(31, gt=0, description="Alert records and probe images kept "
                              "this long unless held with a stated reason.")
    snapshot_hours: float = Field(24, ge=0, le=24, description="Watchlist snapshot deleted "
                                  "this long after the deployment ends.")
    subject_grace_days: float = Field(0, ge=0, description="Expired subjects removed this "
                                      "long after expiry.")
    audit_days: float | None = Field(None, description="Audit entries purged this long "
                                     "after they were written (None: kept forever); at "
                                     f"least {AUDIT_FLOOR_DAYS} days.")

    @field_validator("audit_days")
    @classmethod
    def _audit_floor(cls, v: float | None) -> float | None:
        if v is not None and v < AUDIT_FLOOR_DAYS:
            raise ValueError(f"audit entries are kept at least {AUDIT_FLOOR_DAYS} days (six "
                             f"months, EU AI Act Art. 26(6)); {v:g} is under that floor")
        return v

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(alert_days=settings.retention_alert_days,
                   snapshot_hours=settings.retention_snapshot_hours,
                   subject_grace_days=settings.retention_subject_grace_days,
                   audit_days=settings.retention_audit_days)


class AlertLike(Protocol):
    created_at: datetime
    hold_reason: str | None


class DeploymentLike(Protocol):
    status: DeploymentStatus
    ended_at: datetime | None
    cancelled_at: datetime | None


class SubjectLike(Protocol):
    expires_at: datetime
    expired_at: datetime | None


def alert_due(alert: AlertLike, policy: RetentionPolicy, now: datetime) -> bool:
    """Pure: should this alert (record and image) be purged now?"""
    if alert.hold_reason:
        return False
    return now >= alert.created_at + timedelta(days=policy.alert_days)


_FINISHED = (DeploymentStatus.ENDED, DeploymentStatus.REVIEWED, DeploymentStatus.CANCELLED)


def snapshot_due(deployment: DeploymentLike, policy: RetentionPolicy, now: datetime) -> bool:
    """Pure: should this deployment's snapshot be deleted now?"""
    if deployment.status not in _FINISHED:
        return False
    finished = deployment.ended_at or deployment.cancelled_at
    if finished is None:  # finished without a recorded time: delete rather than keep
        return True
    return now >= finished + timedelta(hours=policy.snapshot_hours)


def audit_due(written_at: datetime, policy: RetentionPolicy, now: datetime) -> bool:
    """Pure: may an audit entry written at ``written_at`` be purged now? Never before the
    floor, even under a policy built without validation."""
    if policy.audit_days is None:
        return False
    days = max(policy.audit_days, AUDIT_FLOOR_DAYS)
    return now >= as_utc(written_at) + timedelta(days=days)


def subject_due(subject: SubjectLike, policy: RetentionPolicy, now: datetime) -> bool:
    """Pure: should this watchlist subject be removed now?"""
    expiry = subject.expired_at or subject.expires_at
    if subject.expired_at is None and subject.expires_at > now:
        return False
    return now >= expiry + timedelta(days=policy.subject_grace_days)


@dataclass
class RetentionResult:
    dry_run: bool
    alerts: list[int] = field(default_factory=list)
    snapshots: list[int] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    audit_through: int | None = None  # the last audit entry purged

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run,
                "alerts_purged": len(self.alerts), "alert_ids": self.alerts,
                "snapshots_deleted": len(self.snapshots), "snapshot_ids": self.snapshots,
                "subjects_removed": len(self.subjects), "subject_references": self.subjects,
                "audit_purged_through": self.audit_through}


def run_retention(session: Session, policy: RetentionPolicy, now: datetime,
                  actor: User | None = None, *, dry_run: bool = False) -> RetentionResult:
    """Apply the policy. ``actor`` None is the system scheduler; a user needs the
    ``retention.run`` permission. A dry run changes nothing and writes no audit entry."""
    now = as_utc(now)
    if actor is not None:
        require(session, actor, Action.RETENTION_RUN, now=now)
    who = actor.username if actor is not None else audit.SYSTEM
    result = RetentionResult(dry_run=dry_run)

    # Alerts: candidates by a cheap SQL filter, the decision by the pure policy.
    cutoff = now - timedelta(days=policy.alert_days)
    alerts = session.scalars(select(Alert).where(Alert.created_at <= cutoff,
                                                 Alert.hold_reason.is_(None))
                             .order_by(Alert.id)).all()
    due_alerts = [a for a in alerts if alert_due(a, policy, now)]
    result.alerts = [a.id for a in due_alerts]

    snaps = session.execute(select(Snapshot, Deployment)
                            .join(Deployment, Snapshot.deployment_id == Deployment.id)
                            .where(Deployment.status.in_(_FINISHED))
                            .order_by(Snapshot.id)).all()
    due_snaps = [(s, d) for s, d in snaps if snapshot_due(d, policy, now)]
    result.snapshots = [s.id for s, _ in due_snaps]

    subjects = session.scalars(select(Subject).where(Subject.expires_at <= now)
                               .order_by(Subject.id)).all()
    due_subjects = [s for s in subjects if subject_due(s, policy, now)]
    result.subjects = [s.reference for s in due_subjects]

    due_audit = _due_audit(session, policy, now)
    result.audit_through = due_audit[-1].seq if due_audit else None
    if dry_run:
        return result
    for a in due_alerts:
        session.delete(a)
    for s, _ in due_snaps:
        session.delete(s)
    for s in due_subjects:
        session.delete(s)
    session.flush()
    policy_d = policy.model_dump()
    if due_alerts:
        audit.append(session, actor=who, action="purge", now=now, target="alerts",
                     details={"kind": "alerts", "count": len(due_alerts),
                              "alert_ids": result.alerts,
                              "probe_sha256": [a.probe_sha256 for a in due_alerts],
                              "policy": policy_d})
    if due_snaps:
        audit.append(session, actor=who, action="purge", now=now, target="snapshots",
                     details={"kind": "snapshots", "count": len(due_snaps),
                              "snapshots": [{"id": s.id, "deployment_id": d.id,
                                             "content_hash": s.content_hash}
                                            for s, d in due_snaps],
                              "policy": policy_d})
    if due_subjects:
        audit.append(session, actor=who, action="purge", now=now, target="subjects",
                     details={"kind": "subjects", "count": len(due_subjects),
                              "references": result.subjects, "policy": policy_d})
    if due_audit:
        _purge_audit(session, due_audit, who, now, policy_d)
    return result


def _due_audit(session: Session, policy: RetentionPolicy, now: datetime) -> list[AuditEntry]:
    """The oldest entries due, in chain order, up to the first one that is not."""
    if policy.audit_days is None:
        return []
    head = audit.lock_head(session)
    cutoff = now - timedelta(days=max(policy.audit_days, AUDIT_FLOOR_DAYS))
    due = []
    for e in session.scalars(select(AuditEntry).where(AuditEntry.seq > head.base_seq,
                                                      AuditEntry.at <= cutoff)
                             .order_by(AuditEntry.seq)):
        if e.seq != (due[-1].seq if due else head.base_seq) + 1 or not audit_due(
                e.at, policy, now):
            break
        due.append(e)
    return due


def _purge_audit(session: Session, due: list[AuditEntry], who: str, now: datetime,
                 policy_d: dict[str, Any]) -> None:
    head = audit.lock_head(session)
    last = due[-1]
    through_seq, through_hash, first = last.seq, last.hash, due[0].seq
    for e in due:
        session.delete(e)
    head.base_seq, head.base_hash = through_seq, through_hash
    session.flush()
    audit.append(session, actor=who, action="audit_purge", now=now, target="audit",
                 details={"kind": "audit", "count": len(due), "from_seq": first,
                          "through_seq": through_seq, "through_hash": through_hash,
                          "policy": policy_d})
