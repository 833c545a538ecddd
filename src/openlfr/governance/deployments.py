"""Deployments: who may scan where, when, why, against which watchlist.

State machine (docs/governance.md)::

    draft -> authorised -> active -> ended -> reviewed
      \\----------\\-> cancelled

Only ``active`` scans, and only inside the time window, on the deployment's cameras
(:func:`may_scan`, :class:`ScanGuard`). ``ended`` at stop or at the window's end, whichever
comes first (:func:`end_expired`, which the server runs periodically). Every transition is
audited; start and end are the "period of each use" of EU AI Act Art. 12(3)(a) and the start
entry names the reference database checked (snapshot id and hash, Art. 12(3)(b)).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openlfr.errors import NotFound, StateError
from openlfr.governance import audit
from openlfr.governance.auth import Action, get_user, require
from openlfr.governance.camera_sources import _seal_camera_source, camera_source, camera_sources
from openlfr.governance.facts import installation_profile, overrides_record, require_rules
from openlfr.governance.profiles import load_profile
from openlfr.governance.scanning import LiveScanGuard, ScanGuard, ScanWindow, may_scan, scan_refusal
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, DeploymentUpdate, redact_url
from openlfr.store.models import Deployment, DeploymentCamera, DeploymentCounter, Snapshot, User
from openlfr.store.models_base import DeploymentStatus, Role
from openlfr.store.types import as_utc

__all__ = ["TRANSITIONS", "check_transition", "may_scan", "scan_refusal", "ScanGuard",
           "LiveScanGuard", "ScanWindow", "camera_source", "camera_sources",
           "create_deployment", "update_draft", "update_deployment", "SNAPSHOT_FIELDS",
           "get_deployment", "list_deployments",
           "authorise", "start", "stop", "review", "cancel", "end_expired"]

S = DeploymentStatus

TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    S.DRAFT: frozenset({S.AUTHORISED, S.CANCELLED}),
    S.AUTHORISED: frozenset({S.ACTIVE, S.CANCELLED}),
    S.ACTIVE: frozenset({S.ENDED}),
    S.ENDED: frozenset({S.REVIEWED}),
    S.REVIEWED: frozenset(),
    S.CANCELLED: frozenset(),
}

_VERB = {S.AUTHORISED: "authorise", S.ACTIVE: "start", S.ENDED: "stop", S.REVIEWED: "review",
         S.CANCELLED: "cancel"}


def check_transition(current: DeploymentStatus, target: DeploymentStatus,
                     deployment_id: int | None = None) -> None:
    """Pure: raise StateError unless ``current -> target`` is a transition of the machine."""
    if target in TRANSITIONS[current]:
        return
    name = f"deployment {deployment_id}" if deployment_id is not None else "a deployment"
    nxt = sorted(TRANSITIONS[current])
    hint = (f"from {current.value} it can only go to {', '.join(s.value for s in nxt)}"
            if nxt else f"{current.value} is final")
    raise StateError(f"cannot {_VERB.get(target, target.value)} {name}: it is "
                     f"{current.value} ({hint})")


# --- services ---


def _ref(dep: Deployment) -> str:
    return f"deployment:{dep.id}"


def get_deployment(session: Session, deployment_id: int, *, lock: bool = False) -> Deployment:
    """``lock=True`` (state changes) reads the row afresh and locks it for the rest of the
    transaction (``FOR UPDATE`` on PostgreSQL), so two changes of one deployment, such as a
    stop and the window-end sweeper, cannot both act on the same old state."""
    dep = session.get(Deployment, deployment_id, with_for_update=True if lock else None,
                      populate_existing=lock)
    if dep is None:
        raise NotFound(f"no deployment {deployment_id} (list them with `openlfr deployment "
                       "list`)")
    return dep


def _claim(session: Session, actor: User, action: Action, deployment_id: int, now: datetime,
           to: DeploymentStatus | None = None) -> Deployment:
    """The deployment ``actor`` acts on, locked, once they may (``action``) and, with ``to``,
    once it may move to that state."""
    require(session, actor, action, now=now, target=f"deployment:{deployment_id}")
    dep = get_deployment(session, deployment_id, lock=True)
    if to is not None:
        check_transition(dep.status, to, dep.id)
    return dep


def list_deployments(session: Session, actor: User, *, status: DeploymentStatus | None = None,
                     now: datetime | None = None) -> list[Deployment]:
    require(session, actor, Action.DEPLOYMENT_VIEW, now=now)
    q = select(Deployment).order_by(Deployment.id)
    if status is not None:
        q = q.where(Deployment.status == status)
    return list(session.scalars(q))


def _authorising_officer(session: Session, username: str) -> User:
    officer = get_user(session, username)
    if Role.AUTHORISING_OFFICER not in officer.roles or officer.disabled:
        raise StateError(f"{username!r} is not an active authorising officer")
    return officer


_PROFILE_FIELDS = {"authorising_officer_rank", "watchlist_criteria", "fria_reference",
                   "notification_reference", "two_person_exception"}


def create_deployment(session: Session, actor: User, data: DeploymentCreate,
                      now: datetime) -> Deployment:
    """A new deployment in ``draft``. Every field the law asks for is required by
    ``DeploymentCreate``; signage must be confirmed before authorisation."""
    now = as_utc(now)
    require(session, actor, Action.DEPLOYMENT_CREATE, now=now)
    officer = _authorising_officer(session, data.authorising_officer)
    profile = installation_profile(session)
    overrides = overrides_record(profile, data.overrides, actor.username, now)
    if data.urgent and not load_profile(profile).urgent_use.allowed:
        raise StateError(f"profile {profile} allows no urgent use: record the authorisation "
                         "first")
    dep = Deployment(
        name=data.name, kind=data.kind, status=S.DRAFT, purpose=data.purpose,
        legal_basis=data.legal_basis, location=data.location, window_start=data.window_start,
        window_end=data.window_end, categories=[c.value for c in data.categories],
        dpia_reference=data.dpia_reference, signage_confirmed=data.signage_confirmed,
        authorising_officer_id=officer.id, created_by_id=actor.id, threshold=data.threshold,
        embedder_key=data.embedder_key, two_person_verification=data.two_person_verification,
        sinks=list(data.sinks), created_at=now, profile=profile, profile_overrides=overrides,
        urgent=data.urgent, urgent_reason=data.urgent_reason,
        **data.model_dump(include=_PROFILE_FIELDS),
        cameras=[DeploymentCamera(camera_id=c.camera_id, source_url=redact_url(c.source_url))
                 for c in data.cameras])
    session.add(dep)
    session.flush()
    for cam, spec in zip(dep.cameras, data.cameras, strict=True):
        _seal_camera_source(session, cam, spec.source_url)
    audit.append(session, actor=actor.username, action="deployment_create", now=now,
                 target=_ref(dep), details={
                     "name": dep.name, "kind": dep.kind, "location": dep.location,
                     "window_start": dep.window_start, "window_end": dep.window_end,
                     "cameras": list(dep.camera_ids), "categories": dep.categories,
                     "dpia_reference": dep.dpia_reference, "threshold": dep.threshold,
                     "embedder_key": dep.embedder_key,
                     "authorising_officer": officer.username,
                     "two_person_verification": dep.two_person_verification,
                     "sinks": list(dep.sinks), "profile": profile, "overrides": overrides,
                     "urgent": dep.urgent} | data.model_dump(include=_PROFILE_FIELDS))
    return dep


#: Fields the watchlist snapshot is made from: changing one discards the draft's snapshot.
SNAPSHOT_FIELDS = frozenset({"categories", "watchlist_criteria", "embedder_key"})


def update_draft(session: Session, actor: User, deployment_id: int,
                 data: DeploymentUpdate, now: datetime) -> Deployment:
    """Edit a draft (an authorised deployment is frozen: cancel and create a new one).

    Only the fields given change; the audit entry names them (values of the profile fields
    and overrides too; camera URLs redacted). Changing what the watchlist snapshot is made
    from (:data:`SNAPSHOT_FIELDS`) discards the draft's snapshot, with its own audit entry:
    make and approve a new one."""
    now = as_utc(now)
    dep = _claim(session, actor, Action.DEPLOYMENT_CREATE, deployment_id, now)
    if dep.status != S.DRAFT:
        raise StateError(f"deployment {dep.id} is {dep.status.value}: only a draft can be "
                         "edited")
    changes = data.model_dump(exclude_unset=True)
    old = {f: getattr(dep, f) for f in SNAPSHOT_FIELDS}
    for field, value in changes.items():
        if field == "categories":
            value = [c.value for c in data.categories or []]
        elif field == "overrides":
            field, value = "profile_overrides", overrides_record(
                dep.profile, data.overrides or {}, actor.username, now)
        elif field == "authorising_officer":
            field, value = "authorising_officer_id", _authorising_officer(session, value).id
        elif field == "cameras":
            _replace_cameras(session, dep, data.cameras or [])
            continue
        setattr(dep, field, value)
    if dep.window_end <= dep.window_start:
        raise StateError("window_end must be after window_start")
    if dep.urgent and not dep.urgent_reason:
        raise StateError("urgent use needs urgent_reason")
    if dep.urgent and not load_profile(dep.profile).urgent_use.allowed:
        raise StateError(f"profile {dep.profile} allows no urgent use")
    session.flush()
    audit.append(session, actor=actor.username, action="deployment_update", now=now,
                 target=_ref(dep), details={
                     "changed": sorted(changes), "overrides": dep.profile_overrides,
                     "cameras": list(dep.camera_ids)} | data.model_dump(
                         include=_PROFILE_FIELDS & set(changes)))
    moved = sorted(f for f in SNAPSHOT_FIELDS if f in changes and getattr(dep, f) != old[f])
    snap = session.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id))
    if moved and snap is not None:
        session.delete(snap)
        dep.snapshot_hash = None
        session.flush()
        audit.append(session, actor=actor.username, action="snapshot_discard", now=now,
                     target=f"snapshot:{snap.id}", details={
                         "deployment_id": dep.id, "content_hash": snap.content_hash,
                         "reason": f"the draft's {', '.join(moved)} changed"})
    return dep


update_deployment = update_draft  # the earlier name


def _replace_cameras(session: Session, dep: Deployment, specs: list[CameraSpec]) -> None:
    """The draft's cameras become ``specs``. A camera given back with its displayed
    (redacted) URL keeps its stored URL, credentials included."""
    kept = {c.camera_id: camera_source(session, c) for c in dep.cameras
            if any(s.camera_id == c.camera_id and s.source_url == c.source_url for s in specs)}
    dep.cameras.clear()  # delete-orphan: the rows go
    session.flush()
    for spec in specs:
        url = kept.get(spec.camera_id, spec.source_url)
        cam = DeploymentCamera(camera_id=spec.camera_id, source_url=redact_url(url))
        dep.cameras.append(cam)
        session.flush()
        _seal_camera_source(session, cam, url)


def authorise(session: Session, actor: User, deployment_id: int, now: datetime) -> Deployment:
    """draft -> authorised, by the authorising officer named on the deployment."""
    now = as_utc(now)
    dep = _claim(session, actor, Action.DEPLOYMENT_AUTHORISE, deployment_id, now, S.AUTHORISED)
    if actor.id != dep.authorising_officer_id:
        raise StateError(f"deployment {dep.id} names another authorising officer: only they "
                         "can authorise it")
    if not dep.signage_confirmed:
        raise StateError(f"deployment {dep.id}: signage is not confirmed; the public must be "
                         "told before scanning (update the draft once signs are up)")
    if dep.window_end <= now:
        raise StateError(f"deployment {dep.id}: its window ended at "
                         f"{dep.window_end.isoformat()}")
    dep.profile = installation_profile(session)  # the installation's rules as they are now
    assessment = require_rules(session, dep, now, "authorise")
    dep.status, dep.authorised_at = S.AUTHORISED, now
    dep.profile_version = assessment.profile.version
    session.flush()
    audit.append(session, actor=actor.username, action="deployment_authorise", now=now,
                 target=_ref(dep), details={"legal_basis": dep.legal_basis,
                                            "dpia_reference": dep.dpia_reference,
                                            "assessment": assessment.to_dict()})
    return dep


def start(session: Session, actor: User, deployment_id: int, now: datetime) -> Deployment:
    """authorised -> active: inside the window, with an approved watchlist snapshot."""
    now = as_utc(now)
    dep = _claim(session, actor, Action.DEPLOYMENT_START, deployment_id, now, S.ACTIVE)
    if now < dep.window_start:
        raise StateError(f"deployment {dep.id} cannot start before its window opens "
                         f"({dep.window_start.isoformat()})")
    if now >= dep.window_end:
        raise StateError(f"deployment {dep.id}: its window closed at "
                         f"{dep.window_end.isoformat()}")
    snap = session.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id))
    if snap is None or snap.approved_at is None:
        raise StateError(f"deployment {dep.id} has no approved watchlist snapshot: create one "
                         "(`openlfr watchlist snapshot create`) and have the authorising "
                         "officer approve it")
    require_rules(session, dep, now, "start")
    urgent_use = load_profile(dep.profile).urgent_use
    if dep.urgent and dep.external_decision is None:  # allowed: require_rules checked it
        dep.urgent_deadline = now + timedelta(hours=urgent_use.deadline_hours)
    dep.status, dep.started_at = S.ACTIVE, now
    session.flush()
    audit.append(session, actor=actor.username, action="deployment_start", now=now,
                 target=_ref(dep), details={
                     "kind": dep.kind, "cameras": list(dep.camera_ids),
                     "snapshot_id": snap.id, "snapshot_hash": snap.content_hash,
                     "snapshot_subjects": snap.subject_count, "threshold": dep.threshold,
                     "embedder_key": dep.embedder_key, "urgent": dep.urgent,
                     "urgent_deadline": dep.urgent_deadline})
    return dep


def _end(session: Session, dep: Deployment, actor: str, now: datetime, reason: str,
         ended: datetime | None = None) -> None:
    check_transition(dep.status, S.ENDED, dep.id)
    # The use ends at the window's end even if the sweeper notices later.
    ended = min(now, dep.window_end) if ended is None else ended
    dep.status, dep.ended_at, dep.end_reason = S.ENDED, ended, reason
    session.flush()
    audit.append(session, actor=actor, action="deployment_end", now=now, target=_ref(dep),
                 details={"ended_at": ended, "reason": reason, "started_at": dep.started_at})


def stop(session: Session, actor: User, deployment_id: int, now: datetime,
         reason: str = "stopped") -> Deployment:
    """active -> ended."""
    now = as_utc(now)
    dep = _claim(session, actor, Action.DEPLOYMENT_STOP, deployment_id, now)
    _end(session, dep, actor.username, now, reason)
    return dep


def _last_analysed(session: Session, dep: Deployment) -> datetime:
    """When a deployment whose window closed last analysed a frame, as far as the store
    knows: the latest counter update of its cameras, capped at the window's end (and never
    before its start). The server may have been down at the window's end, and the sweeper
    noticed later: that is not when scanning ended. With no counters at all (no camera ever
    reported), the window's end."""
    last = session.scalar(select(func.max(DeploymentCounter.updated_at)).where(
        DeploymentCounter.deployment_id == dep.id))
    if last is None:
        return dep.window_end
    start = dep.started_at or dep.window_start
    return max(start, min(as_utc(last), dep.window_end))


def end_expired(session: Session, now: datetime) -> list[int]:
    """End every active deployment whose window has closed; cancel authorised ones whose
    window closed without a start. Returns the ids changed. Run by the server on a timer."""
    now = as_utc(now)
    changed: list[int] = []
    rows = session.scalars(select(Deployment).where(
        Deployment.status.in_([S.ACTIVE, S.AUTHORISED]),
        Deployment.window_end <= now).order_by(Deployment.id).with_for_update())
    for dep in rows:
        if dep.status == S.ACTIVE:
            _end(session, dep, audit.SYSTEM, now, "window_end", _last_analysed(session, dep))
        else:
            dep.status, dep.cancelled_at = S.CANCELLED, now
            dep.end_reason = "window closed without a start"
            session.flush()
            audit.append(session, actor=audit.SYSTEM, action="deployment_cancel", now=now,
                         target=_ref(dep), details={"reason": dep.end_reason})
        changed.append(dep.id)
    return changed


def review(session: Session, actor: User, deployment_id: int, now: datetime,
           note: str = "") -> Deployment:
    """ended -> reviewed (post-deployment review, with a note)."""
    now = as_utc(now)
    dep = _claim(session, actor, Action.DEPLOYMENT_REVIEW, deployment_id, now, S.REVIEWED)
    dep.status, dep.reviewed_at, dep.review_note = S.REVIEWED, now, note or None
    session.flush()
    audit.append(session, actor=actor.username, action="deployment_review", now=now,
                 target=_ref(dep), details={"note_chars": len(note)})
    return dep


def cancel(session: Session, actor: User, deployment_id: int, now: datetime,
           reason: str = "") -> Deployment:
    """draft or authorised -> cancelled (an active deployment is stopped instead)."""
    now = as_utc(now)
    dep = _claim(session, actor, Action.DEPLOYMENT_CANCEL, deployment_id, now, S.CANCELLED)
    dep.status, dep.cancelled_at, dep.end_reason = S.CANCELLED, now, reason or "cancelled"
    session.flush()
    audit.append(session, actor=actor.username, action="deployment_cancel", now=now,
                 target=_ref(dep), details={"reason": dep.end_reason})
    return dep
