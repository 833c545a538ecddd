"""The external authorisation (EU AI Act Art. 5(3)) and urgent use.

A deployment under a profile that allows urgent use may start before the judicial or
independent administrative authority has decided; the decision is then due within the
profile's deadline (24 h) of the start. A refusal (:func:`record_external` with
``granted=False``), or no decision by the deadline (:func:`lapse_overdue`, run by the
centre with the window-end sweep), stops the use at once and deletes its alerts (with their
probe images, adjudications and outbox rows) and its watchlist snapshot. Its counters stay,
and the audit trail records what happened: the decision, the stop and what was deleted
(ids and probe hashes, never images).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import StateError
from openlfr.governance import audit
from openlfr.governance.auth import Action, require
from openlfr.governance.deployments import _end, check_transition, get_deployment
from openlfr.governance.schema_types import AwareDatetime, ShortText, Text
from openlfr.governance.schema_types import Strict as _Strict
from openlfr.store.models import Alert, Deployment, DeploymentStatus, Snapshot, User
from openlfr.store.types import as_utc

__all__ = ["ExternalAuthorisationIn", "record_external", "lapse_overdue", "stop_and_purge"]

S = DeploymentStatus
_OPEN = (S.DRAFT, S.AUTHORISED, S.ACTIVE)


class ExternalAuthorisationIn(_Strict):
    """The decision of the judicial or independent administrative authority (AI Act
    Art. 5(3)); a refusal may leave the scope out."""

    authority: ShortText
    reference: ShortText
    date: AwareDatetime
    scope: Text | None = None


def stop_and_purge(session: Session, dep: Deployment, actor: str, now: datetime,
                   reason: str) -> dict[str, object]:
    """Stop ``dep`` now (end an active one, cancel one not started) and delete its alerts
    and snapshot; keep its counters. Returns what the ``urgent_purge`` audit entry holds."""
    if dep.status == S.ACTIVE:
        _end(session, dep, actor, now, reason, ended=now)
    elif dep.status in (S.DRAFT, S.AUTHORISED):
        check_transition(dep.status, S.CANCELLED, dep.id)
        dep.status, dep.cancelled_at, dep.end_reason = S.CANCELLED, now, reason
        session.flush()
        audit.append(session, actor=actor, action="deployment_cancel", now=now,
                     target=f"deployment:{dep.id}", details={"reason": reason})
    alerts = session.scalars(select(Alert).where(Alert.deployment_id == dep.id)
                             .order_by(Alert.id)).all()
    snap = session.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id))
    details: dict[str, object] = {
        "reason": reason, "alerts_deleted": len(alerts), "alert_ids": [a.id for a in alerts],
        "probe_sha256": [a.probe_sha256 for a in alerts],
        "snapshot": ({"id": snap.id, "content_hash": snap.content_hash}
                     if snap is not None else None)}
    for a in alerts:
        session.delete(a)
    if snap is not None:
        session.delete(snap)
    dep.urgent_purged_at = now
    session.flush()
    audit.append(session, actor=actor, action="urgent_purge", now=now,
                 target=f"deployment:{dep.id}", details=details)
    return details


def record_external(session: Session, actor: User, deployment_id: int,
                    data: ExternalAuthorisationIn, now: datetime, *,
                    granted: bool) -> Deployment:
    """Record the authority's decision (final once recorded). A refusal stops the use at
    once and deletes its data (:func:`stop_and_purge`); a grant after the urgent deadline
    is refused (the use has lapsed)."""
    now = as_utc(now)
    require(session, actor, Action.DEPLOYMENT_AUTHORISE, now=now,
            target=f"deployment:{deployment_id}")
    dep = get_deployment(session, deployment_id, lock=True)
    if dep.external_decision is not None:
        raise StateError(f"deployment {dep.id}: the external authorisation was already "
                         f"recorded as {dep.external_decision} ({dep.external_reference})")
    if dep.status not in _OPEN and not (dep.urgent and dep.urgent_purged_at is None):
        raise StateError(f"deployment {dep.id} is {dep.status.value}: too late to record "
                         "an external decision")
    if granted and not data.scope:
        raise StateError("an external authorisation needs its scope (what it allows)")
    if granted and dep.urgent_deadline is not None and now >= dep.urgent_deadline:
        raise StateError(f"deployment {dep.id}: the urgent-use deadline "
                         f"{dep.urgent_deadline.isoformat()} has passed; the use stops and "
                         "its data is deleted (a new deployment needs a new authorisation)")
    dep.external_authority, dep.external_reference = data.authority, data.reference
    dep.external_date, dep.external_scope = data.date, data.scope
    dep.external_decision = "granted" if granted else "refused"
    dep.external_recorded_at = now
    session.flush()
    audit.append(session, actor=actor.username, action="external_authorisation", now=now,
                 target=f"deployment:{dep.id}", details={
                     "decision": dep.external_decision, "authority": data.authority,
                     "reference": data.reference, "date": data.date, "scope": data.scope,
                     "urgent": dep.urgent})
    if not granted:
        stop_and_purge(session, dep, actor.username, now,
                       f"external authorisation refused ({data.authority}, {data.reference})")
    return dep


def lapse_overdue(session: Session, now: datetime) -> list[int]:
    """Stop and purge every urgent use whose deadline passed without a decision. Returns
    the ids stopped. Run by the centre on its timer (with the window-end sweep)."""
    now = as_utc(now)
    rows = session.scalars(select(Deployment).where(
        Deployment.urgent.is_(True), Deployment.external_decision.is_(None),
        Deployment.urgent_deadline <= now, Deployment.urgent_purged_at.is_(None))
        .order_by(Deployment.id).with_for_update()).all()
    for dep in rows:
        stop_and_purge(session, dep, audit.SYSTEM, now, "urgent use: no external "
                       f"authorisation recorded by {dep.urgent_deadline.isoformat()}")
    return [d.id for d in rows]
