"""Alerts (possible matches), their adjudication by people, and aggregate counters.

An alert is recorded only if it was raised while its deployment was active, inside its
window, on one of its cameras (judged at the time it was raised, so an alert the bus delivers
after a stop is still kept), for a subject of the approved snapshot; recording is idempotent
on the camera's alert id (``uid``) and writes the alert's sink outbox rows in the same
transaction (:mod:`openlfr.governance.outbox`). The probe image is encrypted.

Outcomes: ``confirmed``, ``rejected`` (false alert), ``not_engaged``. With two-person
verification (EU AI Act Art. 14(5)) the outcome stands only when two different
users agree; the second cannot be the first. The counters and camera progress live in
:mod:`openlfr.governance.counters` (re-exported here).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from openlfr.alerts.model import AlertEvent
from openlfr.errors import ConfigError, NotFound, StateError
from openlfr.governance import audit
from openlfr.governance.auth import Action, require
from openlfr.governance.counters import (
    UID,
    ResumePoint,
    add_counters,
    add_run_counters,
    bump,
    get_counters,
    get_progress,
    get_resume_point,
    save_progress,
)
from openlfr.governance.crypto import Keyring, aad_for
from openlfr.governance.deployments import get_deployment
from openlfr.governance.watchlist import get_snapshot, keyring_of
from openlfr.store.models import (
    Adjudication,
    Alert,
    AlertDelivery,
    AlertStatus,
    DeliveryStatus,
    Deployment,
    Outcome,
    SnapshotSubject,
    Subject,
    User,
)
from openlfr.store.types import as_utc

__all__ = ["record_alert", "record_alert_event", "alert_refusal", "add_run_counters",
           "save_progress", "get_progress", "get_resume_point", "ResumePoint", "adjudicate",
           "decide_status", "hold_alert",
           "release_hold", "list_alerts", "get_alert", "alert_probe_image", "add_counters",
           "get_counters", "FINAL"]

FINAL = frozenset({AlertStatus.CONFIRMED, AlertStatus.REJECTED, AlertStatus.NOT_ENGAGED})
MAX_PROBE_BYTES = 10 * 1024 * 1024
def alert_refusal(dep: Deployment, camera_id: str, at: datetime) -> str | None:
    """Pure: why an alert raised at ``at`` by ``camera_id`` may not be recorded, or None.

    Judged at the time the alert was *raised*, not when it reaches the store (the bus may
    deliver it seconds after a stop): the deployment was active then (started at or before
    ``at`` and not yet ended), ``at`` is inside the window, and the camera is one of its own.
    """
    if dep.started_at is None:
        return f"deployment is {dep.status.value} and was never started"
    if at < as_utc(dep.started_at):
        return (f"alert raised at {at.isoformat()}, before the deployment started "
                f"({as_utc(dep.started_at).isoformat()})")
    if dep.ended_at is not None and at >= as_utc(dep.ended_at):
        return (f"deployment is {dep.status.value}: alert raised at {at.isoformat()}, after "
                f"it ended ({as_utc(dep.ended_at).isoformat()})")
    if at < as_utc(dep.window_start):
        return f"before the window (opens {as_utc(dep.window_start).isoformat()})"
    if at >= as_utc(dep.window_end):
        return f"after the window (closed {as_utc(dep.window_end).isoformat()})"
    if camera_id not in dep.camera_ids:
        return f"camera {camera_id!r} is not part of this deployment"
    return None


def _unique_names(*groups: Iterable[str]) -> list[str]:
    out: list[str] = []
    for group in groups:
        for name in group:
            name = str(name).strip()
            if not name or len(name) > 200:
                raise ConfigError(f"invalid sink name {name[:40]!r} (1..200 characters)")
            if name not in out:
                out.append(name)
    return out


def _by_uid(session: Session, uid: str) -> Alert | None:
    return session.scalar(select(Alert).where(Alert.uid == uid))


def record_alert_event(session: Session, event: AlertEvent, *, sinks: Sequence[str] = (),
                       keyring: Keyring | None = None, now: datetime | None = None
                       ) -> tuple[Alert, bool]:
    """Record a possible match raised by a camera (actor ``system``), idempotently.

    Returns ``(row, created)``. An alert whose ``alert_id`` is already stored returns that
    row with ``created`` False and writes nothing (no audit entry, no counter), also when a
    concurrent writer inserts it first. Otherwise: the encrypted probe, the deployment's
    ``alerts`` counter +1, an ``alert`` audit entry, and one pending ``alert_deliveries``
    row per sink (``sinks`` named by the server plus the deployment's own, deduplicated),
    due at ``now`` (default: the alert's time).

    Refused with :class:`StateError` when :func:`alert_refusal` says so or the subject is
    not in the deployment's approved snapshot; :class:`ConfigError` for a malformed event
    (id, score, probe size); :class:`NotFound` for an unknown deployment or a snapshot
    already deleted by retention. All are :class:`openlfr.errors.OpenLFRError`: retrying
    cannot help.
    """
    uid = event.alert_id
    if not isinstance(uid, str) or not UID.fullmatch(uid):
        raise ConfigError(f"alert id {str(uid)[:40]!r} is not 1..32 letters, digits, - or _")
    existing = _by_uid(session, uid)
    if existing is not None:
        return existing, False
    if event.deployment_id is None:
        raise StateError(f"alert {uid} names no deployment")
    at = as_utc(event.time)
    now = as_utc(now) if now is not None else at
    probe = event.probe_jpeg
    if not probe or len(probe) > MAX_PROBE_BYTES:
        raise ConfigError(f"probe image must be 1..{MAX_PROBE_BYTES} bytes")
    if not 0.0 <= float(event.score) <= 1.0 + 1e-6:
        raise ConfigError(f"score {event.score} is not a cosine similarity in [0, 1]")
    try:
        subject_id = int(event.subject_id)
    except (TypeError, ValueError):
        raise ConfigError(f"subject id {event.subject_id!r} is not an integer") from None
    kr = keyring_of(session, keyring)
    audit.lock_head(session)  # head before counters, always (see audit.lock_head)
    dep = get_deployment(session, event.deployment_id)
    why = alert_refusal(dep, event.camera_id, at)
    if why is not None:
        raise StateError(f"alert refused for deployment {dep.id}: {why}")
    snap = get_snapshot(session, dep.id)
    member = session.scalar(select(SnapshotSubject).where(
        SnapshotSubject.snapshot_id == snap.id, SnapshotSubject.subject_id == subject_id))
    if member is None:
        raise StateError(f"subject {subject_id} is not in deployment {dep.id}'s "
                         "approved snapshot")
    names = _unique_names(sinks, dep.sinks or ())
    live_subject = session.get(Subject, subject_id)
    alert = Alert(uid=uid, deployment_id=dep.id, camera_id=event.camera_id,
                  track_id=str(event.track_id), frame_index=_frame_index(event),
                  media_time_s=event.media_time_s,
                  subject_id=subject_id if live_subject is not None else None,
                  subject_reference=member.reference, subject_name=member.name,
                  category=member.category, score=float(event.score), snapshot_id=snap.id,
                  probe_sha256=hashlib.sha256(probe).hexdigest(), probe_blob=None,
                  created_at=at, status=AlertStatus.PENDING)
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:  # a concurrent writer recorded the same alert first
        existing = _by_uid(session, uid)
        if existing is None:
            raise
        return existing, False
    alert.probe_blob = kr.encrypt(probe, aad_for("alerts", alert.id, "probe_blob"))
    for name in names:
        session.add(AlertDelivery(alert_id=alert.id, sink=name,
                                  status=DeliveryStatus.PENDING, attempts=0,
                                  next_attempt_at=now, created_at=now))
    bump(session, dep.id, alert.camera_id, at, alerts=1)
    session.flush()
    audit.append(session, actor=audit.SYSTEM, action="alert", now=at, target=f"alert:{alert.id}",
                 details={"uid": uid, "deployment_id": dep.id, "camera_id": alert.camera_id,
                          "track_id": alert.track_id, "subject_reference": member.reference,
                          "score": round(alert.score, 6), "snapshot_id": snap.id,
                          "snapshot_hash": snap.content_hash,
                          "probe_sha256": alert.probe_sha256})
    return alert, True


def _frame_index(event: AlertEvent) -> int | None:
    """The event's frame index; None for the dataclass default (-1, unknown)."""
    i = event.frame_index
    return int(i) if i is not None and i >= 0 else None


def record_alert(session: Session, deployment_id: int, camera_id: str, track_id: str,
                 subject_id: int, score: float, probe_jpeg: bytes, at: datetime,
                 keyring: Keyring | None = None) -> Alert:
    """Record a possible match (actor ``system``) from positional fields: a new alert id
    each call (see :func:`record_alert_event`, which this calls, for the checks)."""
    event = AlertEvent(camera_id=camera_id, time=as_utc(at),
                       track_id=track_id,  # type: ignore[arg-type]  # stored as a string
                       subject_id=str(subject_id), label="", score=float(score),
                       threshold=0.0, probe_jpeg=probe_jpeg, deployment_id=deployment_id)
    return record_alert_event(session, event, keyring=keyring)[0]


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
               now: datetime, note: str | None = None, reason: str | None = None) -> Alert:
    """Record a person's decision on an alert; with two-person verification the outcome
    stands once two different users agree. The final entry names everyone who verified.
    ``reason`` (why a false alert was rejected: a short phrase, audited) is only for
    ``rejected``; it is kept at the head of the note."""
    now = as_utc(now)
    require(session, actor, Action.ALERT_ADJUDICATE, now=now, target=f"alert:{alert_id}")
    try:
        outcome = Outcome(outcome)
    except ValueError:
        raise ConfigError(f"unknown outcome {outcome!r}: use one of "
                          f"{', '.join(o.value for o in Outcome)}") from None
    reason = (reason or "").strip() or None
    if reason is not None and outcome is not Outcome.REJECTED:
        raise ConfigError("a reason is given only when an alert is rejected (a false alert)")
    if reason is not None:
        note = f"Reason: {reason}" + (f"\n{note}" if note else "")
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
        bump(session, dep.id, alert.camera_id, now, **{alert.status.value: 1})
        ids = [u for u, o in decisions if o.value == alert.status.value]
        verifiers = [u.username for u in session.scalars(select(User).where(User.id.in_(ids)))]
    session.flush()
    audit.append(session, actor=actor.username, action="adjudicate", now=now,
                 target=f"alert:{alert.id}", details={
                     "outcome": outcome, "status": alert.status,
                     "two_person": dep.two_person_verification,
                     "verified_by": sorted(verifiers), "has_note": bool(note),
                     **({"reason": reason} if reason else {})})
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
                limit: int = 1000, before: int | None = None) -> list[Alert]:
    """Newest first, at most ``limit``; ``before`` (an alert id) pages back."""
    require(session, actor, Action.ALERT_VIEW, now=now)
    # a page never carries images: the probe stays in the store until someone asks for it
    q = select(Alert).options(defer(Alert.probe_blob)).order_by(Alert.id.desc()).limit(limit)
    if before is not None:
        q = q.where(Alert.id < before)
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
