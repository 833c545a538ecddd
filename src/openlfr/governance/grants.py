"""Role grants that wait for a second admin (the two-admin rule of :func:`auth.set_roles`).

A grant of a role that sees face images is first recorded as a request (audit action
``user_roles_requested``, with the user's roles before and after) and changes nothing; the
same change made by another admin within :data:`GRANT_REQUEST_TTL`, while the user's roles are
still as they were, applies it. The audit chain is the record of requests: nothing else is
stored, so a request cannot be edited or lost without the chain saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.store.models import AuditEntry, User
from openlfr.store.types import as_utc

__all__ = ["GRANT_REQUEST_TTL", "REQUESTED", "APPLIED", "PendingGrant", "open_request",
           "pending_grants"]

#: A role grant waiting for a second admin lapses after this long.
GRANT_REQUEST_TTL = timedelta(hours=24)
REQUESTED = "user_roles_requested"
APPLIED = "user_roles"


@dataclass(frozen=True)
class PendingGrant:
    """A requested role change that a second admin may apply until ``expires_at``."""

    user_id: int
    username: str
    before: list[str]
    after: list[str]
    granted: list[str]
    requested_by: str
    requested_at: datetime
    expires_at: datetime


def _is_open(entry: AuditEntry | None, before: list[str], now: datetime) -> bool:
    if entry is None or entry.action != REQUESTED:
        return False
    req = json.loads(entry.details)
    return as_utc(entry.at) > now - GRANT_REQUEST_TTL and req.get("before") == before


def open_request(session: Session, user: User, after: list[str],
                 now: datetime) -> AuditEntry | None:
    """The request, still open, to change ``user``'s roles to ``after``; None if there is
    none (none at all, lapsed, a different change, or the roles changed since)."""
    last = session.scalar(
        select(AuditEntry).where(AuditEntry.target == f"user:{user.id}",
                                 AuditEntry.action.in_([REQUESTED, APPLIED]))
        .order_by(AuditEntry.seq.desc()).limit(1))
    before = sorted(r.value for r in user.roles)
    if not _is_open(last, before, now) or last is None:
        return None
    return last if json.loads(last.details).get("after") == after else None


def pending_grants(session: Session, now: datetime) -> list[PendingGrant]:
    """Every open request, oldest first (the caller checks the permission to list users)."""
    recent = session.scalars(
        select(AuditEntry).where(AuditEntry.action.in_([REQUESTED, APPLIED]),
                                 AuditEntry.at > now - GRANT_REQUEST_TTL)
        .order_by(AuditEntry.seq)).all()
    last: dict[str, AuditEntry] = {}
    for entry in recent:  # the latest entry per user decides
        if entry.target:
            last[entry.target] = entry
    out: list[PendingGrant] = []
    for target, entry in last.items():
        user = session.get(User, int(target.split(":", 1)[1]))
        if user is None:
            continue
        before = sorted(r.value for r in user.roles)
        if not _is_open(entry, before, now):
            continue
        req = json.loads(entry.details)
        out.append(PendingGrant(user.id, user.username, before, list(req.get("after", [])),
                                list(req.get("granted", [])), entry.actor, as_utc(entry.at),
                                as_utc(entry.at) + GRANT_REQUEST_TTL))
    return sorted(out, key=lambda g: g.requested_at)
