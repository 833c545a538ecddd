"""The audit log: list and verify the hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import func, select

from openlfr.api.deps import (
    Before,
    CanExportAudit,
    CanVerifyAudit,
    Db,
    GuardedRoute,
    Limit,
    ReadDb,
    next_page,
    page,
)
from openlfr.api.schemas import AuditEntryPublic, AuditList, AuditVerifyPublic
from openlfr.store.models import AuditEntry

router = APIRouter(route_class=GuardedRoute, prefix="/api/audit", tags=["audit"])


def audit_page(db: Db, *, limit: int, before: int | None = None,
               action: str | None = None) -> AuditList:
    q = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if before is not None:
        q = q.where(AuditEntry.seq < before)
    if action:
        q = q.where(AuditEntry.action == action)
    rows = db.scalars(q).all()
    total = db.scalar(select(func.count()).select_from(AuditEntry)) or 0
    return AuditList(items=[AuditEntryPublic.model_validate(r) for r in rows], total=total)


@router.get("", response_model=AuditList)
def list_entries(request: Request, response: Response, db: ReadDb, me: CanExportAudit,
                 limit: Limit = 100, before: Before = None,
                 action: Annotated[str | None, Query(
                     max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] = None) -> AuditList:
    """Newest first; page back with ``before=<seq>`` (the ``X-Next-Before`` header, also in
    ``Link``). Entries hold references and hashes, never images or templates."""
    found = audit_page(db, limit=limit + 1, before=before, action=action)
    items, cursor = page(found.items, limit, lambda e: e.seq)
    next_page(request, response, "before", cursor)
    return AuditList(items=items, total=found.total)


def verify_chain(db: Db) -> AuditVerifyPublic:
    from openlfr.governance import audit

    report = audit.verify(db)
    first = report.problems[0] if report.problems else None
    return AuditVerifyPublic(ok=report.ok, entries=report.entries,
                             problem=first.message if first else None)


@router.get("/verify", response_model=AuditVerifyPublic)
def verify(db: ReadDb, me: CanVerifyAudit) -> AuditVerifyPublic:
    """Recompute the whole chain: any edited, inserted or removed entry is reported."""
    return verify_chain(db)
