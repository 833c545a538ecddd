"""Who may do what: the actions, the role table and the one place that checks.

Deny by default: an action is allowed only if :data:`PERMISSIONS` lists one of the actor's
roles for it. :func:`require` is the one place that checks, and a refusal is written to the
audit log and committed before ``PermissionDenied`` is raised (the refused operation's own
changes are rolled back first, so nothing of it persists). The table is documented, role by
role, in docs/governance.md, and a test walks every route against it.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import PermissionDenied
from openlfr.governance import audit
from openlfr.store.db import session_scope
from openlfr.store.models import Deployment, DeploymentStatus, Role, Snapshot, SnapshotSubject, User
from openlfr.store.types import as_utc

__all__ = ["Action", "PERMISSIONS", "BIOMETRIC_ROLES", "SCOPED_IMAGE_ROLES", "allowed",
           "require", "refuse", "require_image_scope"]

R = Role

class Action(enum.StrEnum):
    USER_MANAGE = "user.manage"
    USER_LIST = "user.list"
    DEPLOYMENT_VIEW = "deployment.view"
    DEPLOYMENT_CREATE = "deployment.create"
    DEPLOYMENT_AUTHORISE = "deployment.authorise"
    DEPLOYMENT_START = "deployment.start"
    DEPLOYMENT_STOP = "deployment.stop"
    DEPLOYMENT_CANCEL = "deployment.cancel"
    DEPLOYMENT_REVIEW = "deployment.review"
    SUBJECT_ADD = "subject.add"
    SUBJECT_LIST = "subject.list"
    SUBJECT_EXPIRE = "subject.expire"
    SUBJECT_IMAGE = "subject.image"  # see a watchlist image
    SNAPSHOT_CREATE = "snapshot.create"
    SNAPSHOT_APPROVE = "snapshot.approve"
    ALERT_VIEW = "alert.view"
    ALERT_IMAGE = "alert.image"  # see a probe image
    ALERT_ADJUDICATE = "alert.adjudicate"
    ALERT_HOLD = "alert.hold"
    COUNTERS_VIEW = "counters.view"
    RETENTION_RUN = "retention.run"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_EXPORT = "audit.export"
    REPORT_VIEW = "report.view"
    EVALUATION_RUN = "evaluation.run"
    NODES_VIEW = "nodes.view"  # camera nodes' health: operational figures only


# Role -> actions, read as: who may do what. Admin sees no biometric data (no *.image,
# no subject list, no alerts), and an admin account may not hold a role that does
# (:data:`BIOMETRIC_ROLES`). The auditor only reads: every action listed for it changes
# nothing (docs/governance.md has the table; tests/api/test_permissions.py walks it).
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.USER_MANAGE: frozenset({R.ADMIN}),
    Action.USER_LIST: frozenset({R.ADMIN, R.AUDITOR}),
    Action.DEPLOYMENT_VIEW: frozenset({R.AUTHORISING_OFFICER, R.WATCHLIST_MANAGER, R.OPERATOR,
                                       R.ENGAGEMENT_OFFICER, R.AUDITOR, R.ADMIN}),
    Action.DEPLOYMENT_CREATE: frozenset({R.AUTHORISING_OFFICER}),
    Action.DEPLOYMENT_AUTHORISE: frozenset({R.AUTHORISING_OFFICER}),
    Action.DEPLOYMENT_START: frozenset({R.AUTHORISING_OFFICER, R.OPERATOR}),
    Action.DEPLOYMENT_STOP: frozenset({R.AUTHORISING_OFFICER, R.OPERATOR}),
    Action.DEPLOYMENT_CANCEL: frozenset({R.AUTHORISING_OFFICER}),
    Action.DEPLOYMENT_REVIEW: frozenset({R.AUTHORISING_OFFICER}),
    Action.SUBJECT_ADD: frozenset({R.WATCHLIST_MANAGER}),
    Action.SUBJECT_LIST: frozenset({R.WATCHLIST_MANAGER, R.AUTHORISING_OFFICER, R.AUDITOR}),
    Action.SUBJECT_EXPIRE: frozenset({R.WATCHLIST_MANAGER, R.AUTHORISING_OFFICER}),
    Action.SUBJECT_IMAGE: frozenset({R.WATCHLIST_MANAGER, R.AUTHORISING_OFFICER, R.OPERATOR,
                                     R.ENGAGEMENT_OFFICER}),
    Action.SNAPSHOT_CREATE: frozenset({R.WATCHLIST_MANAGER, R.AUTHORISING_OFFICER}),
    Action.SNAPSHOT_APPROVE: frozenset({R.AUTHORISING_OFFICER}),
    Action.ALERT_VIEW: frozenset({R.OPERATOR, R.ENGAGEMENT_OFFICER, R.AUTHORISING_OFFICER,
                                  R.AUDITOR}),
    Action.ALERT_IMAGE: frozenset({R.OPERATOR, R.ENGAGEMENT_OFFICER, R.AUTHORISING_OFFICER}),
    Action.ALERT_ADJUDICATE: frozenset({R.OPERATOR, R.ENGAGEMENT_OFFICER}),
    Action.ALERT_HOLD: frozenset({R.AUTHORISING_OFFICER}),
    Action.COUNTERS_VIEW: frozenset({R.OPERATOR, R.AUTHORISING_OFFICER, R.AUDITOR, R.ADMIN}),
    Action.RETENTION_RUN: frozenset({R.ADMIN}),
    Action.AUDIT_VERIFY: frozenset({R.AUDITOR, R.ADMIN}),
    Action.AUDIT_EXPORT: frozenset({R.AUDITOR}),
    Action.REPORT_VIEW: frozenset({R.AUDITOR, R.AUTHORISING_OFFICER, R.ADMIN}),
    Action.EVALUATION_RUN: frozenset({R.AUTHORISING_OFFICER, R.AUDITOR, R.ADMIN}),
    Action.NODES_VIEW: frozenset({R.OPERATOR, R.AUTHORISING_OFFICER, R.AUDITOR, R.ADMIN}),
}

#: Roles whose holders see face images (probe or watchlist). Granting one needs a second
#: admin (:func:`set_roles`), and none may be held together with ``admin``.
BIOMETRIC_ROLES: frozenset[Role] = frozenset(
    r for a in (Action.ALERT_IMAGE, Action.SUBJECT_IMAGE) for r in PERMISSIONS[a])

#: Roles whose sight of images is limited to the subjects and alerts of deployments that are
#: running (:func:`require_image_scope`); the others with image rights manage the watchlist.
SCOPED_IMAGE_ROLES: frozenset[Role] = frozenset({R.OPERATOR, R.ENGAGEMENT_OFFICER})


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else datetime.now(UTC)


def allowed(roles: frozenset[Role] | set[Role], action: Action | str) -> bool:
    """Pure: may a holder of ``roles`` do ``action``? Unknown actions are denied."""
    try:
        act = Action(action)
    except ValueError:
        return False
    return bool(PERMISSIONS.get(act, frozenset()) & set(roles))


def require(session: Session, actor: User | None, action: Action | str, *,
            now: datetime | None = None, target: str | None = None) -> User:
    """Return ``actor`` if it may do ``action``; otherwise audit the refusal and raise.

    The refused operation's uncommitted changes are rolled back; the ``permission_denied``
    entry is committed so the refusal is on record whatever the caller does next.
    """
    if actor is not None and not actor.disabled and allowed(actor.roles, action):
        return actor
    roles = sorted(r.value for r in actor.roles) if actor is not None else []
    why = ("no authenticated user" if actor is None else
           "the account is disabled" if actor.disabled else
           f"roles {roles or '(none)'} do not include any of "
           f"{sorted(r.value for r in PERMISSIONS.get(Action(action), frozenset()))}"
           if action in Action._value2member_map_ else f"unknown action {action!r}")
    refuse(session, actor, action, why, now=now, target=target)


def refuse(session: Session, actor: User | None, action: Action | str, why: str, *,
           now: datetime | None = None, target: str | None = None,
           audit_action: str = "permission_denied") -> NoReturn:
    """Roll back, audit the refusal (committed, on a reading session too) and raise."""
    name = actor.username if actor is not None else "anonymous"
    roles = sorted(r.value for r in actor.roles) if actor is not None else []
    session.rollback()
    entry = {"actor": name, "action": audit_action, "now": _now(now), "target": target,
             "details": {"action": str(action), "roles": roles, "reason": why}}
    writer = session.info.get("write_sessions") if session.info.get("read_only") else None
    if writer is not None:  # a reading session cannot write: one short write transaction
        with session_scope(writer) as w:
            audit.append(w, **entry)
    else:
        audit.append(session, **entry)
        session.commit()
    raise PermissionDenied(f"{name} may not {action}: {why}")


def require_image_scope(session: Session, actor: User, action: Action, *,
                        deployment_id: int | None = None, subject_id: int | None = None,
                        now: datetime | None = None, target: str | None = None) -> None:
    """Operators and engagement officers see images only of what they work on: an alert of
    a running (``active``) deployment, or a subject in the snapshot of one (the store names
    no crew per deployment, so every running deployment counts). Other roles with the image
    permission are not limited; a refusal is audited like any other."""
    granting = PERMISSIONS[action] & actor.roles
    if not granting or granting - SCOPED_IMAGE_ROLES:
        return
    q = select(Deployment.id).where(Deployment.status == DeploymentStatus.ACTIVE)
    if deployment_id is not None:
        q = q.where(Deployment.id == deployment_id)
    if subject_id is not None:
        q = (q.join(Snapshot, Snapshot.deployment_id == Deployment.id)
             .join(SnapshotSubject, SnapshotSubject.snapshot_id == Snapshot.id)
             .where(SnapshotSubject.subject_id == subject_id))
    if session.scalar(q.limit(1)) is None:
        what = (f"subject {subject_id} is in no running deployment's snapshot"
                if subject_id is not None and deployment_id is None else
                f"deployment {deployment_id} is not running" if subject_id is None else
                f"subject {subject_id} is not in running deployment {deployment_id}'s "
                "snapshot")
        refuse(session, actor, action, f"outside the deployment scope: {what}", now=now,
               target=target)
