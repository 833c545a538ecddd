"""Alerts (possible matches), their adjudication by people, and aggregate counters.

An alert is recorded only while its deployment may scan that camera; the probe image is
encrypted. Outcomes: ``confirmed``, ``rejected`` (false alert), ``not_engaged``. With
two-person verification (EU AI Act Art. 14(5)) the outcome stands only when two different
users agree; the second cannot be the first. Counters hold aggregates only: nothing about
faces that did not match.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError, NotFound, StateError
from openlfr.governance import audit
from openlfr.governance.auth import Action, require
from openlfr.governance.crypto import Keyring, aad_for
from openlfr.governance.deployments import get_deployment, scan_refusal
from openlfr.governance.schemas import CountersPublic
from openlfr.governance.watchlist import get_snapshot, keyring_of
from openlfr.store.models import (
    Adjudication,
    Alert,
    AlertStatus,
    DeploymentCounter,
    Outcome,
    SnapshotSubject,
    Subject,
    User,
)
from openlfr.store.types import as_utc

__all__ = ["record_alert", "adjudicate", "decide_status", "hold_alert", "release_hold",
           "list_alerts", "get_alert", "alert_probe_image", "add_counters", "get_counters",
           "FINAL"]

FINAL = frozenset({AlertStatus.CONFIRMED, AlertStatus.REJECTED, AlertStatus.NOT_ENGAGED})
MAX_PROBE_BYTES = 10 * 1024 * 1024
_COUNTERS = ("frames", "dropped", "faces", "tracks", "alerts", "confirmed", "rejected",
             "not_engaged")


def _bump(session: Session, deployment_id: int, camera_id: str, now: datetime,
          **deltas: int) -> None:
    """Atomically add to one (deployment, camera) counter row, creating it if needed."""
    values = {k: getattr(DeploymentCounter, k) + v for k, v in deltas.items()}
    stmt = (update(DeploymentCounter)
            .where(DeploymentCounter.deployment_id == deployment_id,
                   DeploymentCounter.camera_id == camera_id)
            .values(updated_at=now, **values).execution_options(synchronize_session=False))
    if session.execute(stmt).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(DeploymentCounter(
                deployment_id=deployment_id, camera_id=camera_id, updated_at=now,
                **dict.fromkeys(_COUNTERS, 0) | deltas))
    except IntegrityError:  # another writer created it first
        session.execute(stmt)


def add_counters(session: Session, deployment_id: int, camera_id: str, frames: int,
                 dropped: int, faces: int, tracks: int, now: datetime | None = None) -> None:
    """Add per-camera aggregates (the pipeline calls this every few seconds)."""
    for name, v in (("frames", frames), ("dropped", dropped), ("faces", faces),
                    ("tracks", tracks)):
        if not isinstance(v, int) or v < 0:
            raise ConfigError(f"counter {name} must be a non-negative integer, got {v!r}")
    get_deployment(session, deployment_id)
    _bump(session, deployment_id, camera_id, as_utc(now) if now else datetime.now(UTC),
          frames=frames, dropped=dropped, faces=faces, tracks=tracks)


def get_counters(session: Session, deployment_id: int) -> list[CountersPublic]:
    """Totals first (``camera_id`` None), then one entry per camera."""
    rows = session.scalars(select(DeploymentCounter).where(
        DeploymentCounter.deployment_id == deployment_id,
    ).order_by(DeploymentCounter.camera_id).execution_options(populate_existing=True)).all()
    total = CountersPublic(deployment_id=deployment_id, camera_id=None,
                           **{f: sum(getattr(r, f) for r in rows) for f in _COUNTERS})
    return [total] + [CountersPublic(deployment_id=deployment_id, camera_id=r.camera_id,
                                     **{f: getattr(r, f) for f in _COUNTERS}) for r in rows]


def record_alert(session: Session, deployment_id: int, camera_id: str, track_id: str,
                 subject_id: int, score: float, probe_jpeg: bytes, at: datetime,
                 keyring: Keyring | None = None) -> Alert:
    """Record a possible match from the scanner (actor ``system``). Refused unless the
    deployment may scan this camera at ``at`` and the subject is in its approved snapshot."""
    at = as_utc(at)
    kr = keyring_of(session, keyring)
    audit.lock_head(session)  # head before counters, always (see audit.lock_head)
    dep = get_deployment(session, deployment_id)
    why = scan_refusal(dep, camera_id, at)
    if why is not None:
        raise StateError(f"alert refused for deployment {deployment_id}: {why}")
    if not probe_jpeg or len(probe_jpeg) > MAX_PROBE_BYTES:
        raise ConfigError(f"probe image must be 1..{MAX_PROBE_BYTES} bytes")
    if not 0.0 <= float(score) <= 1.0 + 1e-6:
        raise ConfigError(f"score {score} is not a cosine similarity in [0, 1]")
    snap = get_snapshot(session, deployment_id)
    member = session.scalar(select(SnapshotSubject).where(
        SnapshotSubject.snapshot_id == snap.id, SnapshotSubject.subject_id == subject_id))
    if member is None:
        raise StateError(f"subject {subject_id} is not in deployment {deployment_id}'s "
                         "approved snapshot")
    live_subject = session.get(Subject, subject_id)
    alert = Alert(deployment_id=dep.id, camera_id=camera_id, track_id=str(track_id),
                  subject_id=subject_id if live_subject is not None else None,
                  subject_reference=member.reference, subject_name=member.name,
                  category=member.category, score=float(score), snapshot_id=snap.id,
                  probe_sha256=hashlib.sha256(probe_jpeg).hexdigest(), probe_blob=None,
                  created_at=at, status=AlertStatus.PENDING)
    session.add(alert)
    session.flush()
    alert.probe_blob = kr.encrypt(probe_jpeg, aad_for("alerts", alert.id, "probe_blob"))
    _bump(session, dep.id, camera_id, at, alerts=1)
    session.flush()
    audit.append(session, actor=audit.SYSTEM, action="alert", now=at, target=f"alert:{alert.id}",
                 details={"deployment_id": dep.id, "camera_id": camera_id,
                          "track_id": alert.track_id, "subject_reference": member.reference,
                          "score": round(alert.score, 6), "snapshot_id": snap.id,
                          "snapshot_hash": snap.content_hash,
                          "probe_sha256": alert.probe_sha256})
    return alert


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id} (it may have been purged by retention)")
    return alert


def decide_status(decisions: list[tuple[int, Outcome]], two_person: bool) -> AlertStatus:
    """Pure: an alert's status from its (user id, outcome) decisions in order."""
    if not decisions:
        return AlertStatus.PENDING
    if not two_person:
        return AlertStatus(decisions[0][1].value)
    by_user: dict[int, Outcome] = {}
    for user_id, outcome in decisions:
        by_user.setdefault(user_id, outcome)
    votes: dict[Outcome, int] = {}
    for outcome in by_user.values():
        votes[outcome] = votes.get(outcome, 0) + 1
        if votes[outcome] >= 2:
            return AlertStatus(outcome.value)
    return AlertStatus.PENDING if len(by_user) < 2 else AlertStatus.DISPUTED


def adjudicate(session: Session, actor: User, alert_id: int, outcome: Outcome | str,
               now: datetime, note: str | None = None) -> Alert:
    """Record a person's decision on an alert; with two-person verification the outcome
    stands once two different users agree. The final entry names everyone who verified."""
    now = as_utc(now)
    require(session, actor, Action.ALERT_ADJUDICATE, now=now, target=f"alert:{alert_id}")
    try:
        outcome = Outcome(outcome)
    except ValueError:
        raise ConfigError(f"unknown outcome {outcome!r}: use one of "
                          f"{', '.join(o.value for o in Outcome)}") from None
    audit.lock_head(session)  # head before counters, always (see audit.lock_head)
    alert = get_alert(session, alert_id)
    if alert.status in FINAL:
        raise StateError(f"alert {alert_id} is already decided ({alert.status.value})")
    dep = get_deployment(session, alert.deployment_id)
    if any(a.user_id == actor.id for a in alert.adjudications):
        raise StateError(f"{actor.username} has already decided alert {alert_id}; "
                         "two-person verification needs a different second user")
    adj = Adjudication(alert_id=alert.id, user_id=actor.id, outcome=outcome,
                       note=note or None, created_at=now)
    alert.adjudications.append(adj)
    session.flush()
    decisions = [(a.user_id, a.outcome) for a in alert.adjudications]
    alert.status = decide_status(decisions, dep.two_person_verification)
    verifiers: list[str] = []
    if alert.status in FINAL:
        alert.decided_at = now
        _bump(session, dep.id, alert.camera_id, now, **{alert.status.value: 1})
        ids = [u for u, o in decisions if o.value == alert.status.value]
        verifiers = [u.username for u in session.scalars(select(User).where(User.id.in_(ids)))]
    session.flush()
    audit.append(session, actor=actor.username, action="adjudicate", now=now,
                 target=f"alert:{alert.id}", details={
                     "outcome": outcome, "status": alert.status,
                     "two_person": dep.two_person_verification,
                     "verified_by": sorted(verifiers), "has_note": bool(note)})
    return alert


def hold_alert(session: Session, actor: User, alert_id: int, reason: str,
               now: datetime) -> Alert:
    """Keep an alert past the retention period for a stated reason (e.g. a prosecution)."""
    now = as_utc(now)
    require(session, actor, Action.ALERT_HOLD, now=now, target=f"alert:{alert_id}")
    if not reason.strip():
        raise ConfigError("a hold needs a stated reason")
    alert = get_alert(session, alert_id)
    alert.hold_reason, alert.held_by_id, alert.held_at = reason.strip(), actor.id, now
    session.flush()
    audit.append(session, actor=actor.username, action="alert_hold", now=now,
                 target=f"alert:{alert.id}", details={"reason": alert.hold_reason})
    return alert


def release_hold(session: Session, actor: User, alert_id: int, now: datetime) -> Alert:
    now = as_utc(now)
    require(session, actor, Action.ALERT_HOLD, now=now, target=f"alert:{alert_id}")
    alert = get_alert(session, alert_id)
    alert.hold_reason = alert.held_by_id = alert.held_at = None
    session.flush()
    audit.append(session, actor=actor.username, action="alert_release", now=now,
                 target=f"alert:{alert.id}")
    return alert


def list_alerts(session: Session, actor: User, now: datetime, *,
                deployment_id: int | None = None, status: AlertStatus | None = None,
                limit: int = 1000) -> list[Alert]:
    require(session, actor, Action.ALERT_VIEW, now=now)
    q = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if deployment_id is not None:
        q = q.where(Alert.deployment_id == deployment_id)
    if status is not None:
        q = q.where(Alert.status == status)
    return list(session.scalars(q))


def alert_probe_image(session: Session, actor: User, alert_id: int, now: datetime,
                      keyring: Keyring | None = None) -> bytes:
    """The probe image (decrypted) of an alert; viewing is audited."""
    now = as_utc(now)
    require(session, actor, Action.ALERT_IMAGE, now=now, target=f"alert:{alert_id}")
    alert = get_alert(session, alert_id)
    if alert.probe_blob is None:
        raise NotFound(f"alert {alert_id} has no probe image")
    data = keyring_of(session, keyring).decrypt(alert.probe_blob,
                                                aad_for("alerts", alert.id, "probe_blob"))
    audit.append(session, actor=actor.username, action="view_image", now=now,
                 target=f"alert:{alert.id}", details={"sha256": alert.probe_sha256})
    return data
