"""The audit log: search (actor, action, target, time) with paging, export (JSON Lines or
CSV, each export itself audited) and verification of the hash chain.

:func:`record_access` is how reading routes (exports, reports) put their reading on record:
a reading session cannot write, so the entry goes in one short write transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator, StringConstraints
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from openlfr.api.deps import CanExportAudit, CanVerifyAudit, Db, Principal, ReadDb
from openlfr.api.guard import GuardedRoute
from openlfr.api.paging import Before, Limit, next_page, page
from openlfr.api.schemas import AuditEntryPublic, AuditList, AuditVerifyPublic, QueryTime
from openlfr.governance import audit as chain
from openlfr.store.db import session_scope
from openlfr.store.models import AuditEntry

router = APIRouter(route_class=GuardedRoute, prefix="/api/audit", tags=["audit"])

#: Entries read per query while exporting (the log can be long).
EXPORT_BATCH = 1000
CSV_COLUMNS = ["seq", "at", "actor", "action", "target", "details", "alg", "prev_hash", "hash"]

def _blank(value: Any) -> Any:
    """An empty form field is no filter (the console's search form sends every field)."""
    return None if value == "" else value


_Word = Annotated[Annotated[str, StringConstraints(
    max_length=64, pattern=r"^[A-Za-z0-9_.:@-]+$")] | None, BeforeValidator(_blank)]
_Target = Annotated[Annotated[str, StringConstraints(
    max_length=65, pattern=r"^[A-Za-z0-9_.:@-]+\*?$")] | None, BeforeValidator(_blank)]
_Time = Annotated[QueryTime | None, BeforeValidator(_blank)]


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a search or an export covers; every field optional. ``target`` matches
    exactly, or as a prefix when it ends with ``*`` (``deployment:*``); ``since``/``until``
    bound the entry's time (inclusive, exclusive; UTC when no zone is given)."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, q: Select[Any]) -> Select[Any]:
        if self.actor:
            q = q.where(AuditEntry.actor == self.actor)
        if self.action:
            q = q.where(AuditEntry.action == self.action)
        if self.target and self.target.endswith("*"):
            prefix = self.target[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            q = q.where(AuditEntry.target.like(prefix + "%", escape="\\"))
        elif self.target:
            q = q.where(AuditEntry.target == self.target)
        if self.since:
            q = q.where(AuditEntry.at >= self.since)
        if self.until:
            q = q.where(AuditEntry.at < self.until)
        return q

    def as_details(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _filter(actor: _Word = None, action: _Word = None, target: _Target = None,
            since: _Time = None, until: _Time = None) -> AuditFilter:
    return AuditFilter(actor, action, target, since and _aware(since), until and _aware(until))


Filter = Annotated[AuditFilter, Depends(_filter)]


def audit_page(db: Session, *, limit: int, before: int | None = None,
               where: AuditFilter | None = None) -> AuditList:
    """Newest first: at most ``limit`` entries matching ``where`` (older than ``before``),
    and how many match in all."""
    where = where or AuditFilter()
    q = where.apply(select(AuditEntry)).order_by(AuditEntry.seq.desc()).limit(limit)
    if before is not None:
        q = q.where(AuditEntry.seq < before)
    rows = db.scalars(q).all()
    total = db.scalar(where.apply(select(func.count()).select_from(AuditEntry))) or 0
    return AuditList(items=[AuditEntryPublic.model_validate(r) for r in rows], total=total)


def matching(db: Session, where: AuditFilter) -> Iterator[AuditEntry]:
    """Every entry matching ``where``, in chain order, read in batches."""
    q = where.apply(select(AuditEntry)).order_by(AuditEntry.seq).limit(EXPORT_BATCH)
    rows = db.scalars(q).all()
    while rows:
        yield from rows
        rows = db.scalars(q.where(AuditEntry.seq > rows[-1].seq)).all()


def record_access(db: Session, me: Principal, action: str, *, target: str | None = None,
                  details: dict[str, Any] | None = None) -> None:
    """Put a reading (an export, a report viewed or downloaded) on the audit record now."""
    entry = {"actor": me.username, "action": action, "now": datetime.now(UTC),
             "target": target, "details": details or {}}
    writer = db.info.get("write_sessions") if db.info.get("read_only") else None
    if writer is not None:
        with session_scope(writer) as w:
            chain.append(w, **entry)
    else:
        chain.append(db, **entry)
        db.commit()


@router.get("", response_model=AuditList)
def list_entries(request: Request, response: Response, db: ReadDb, me: CanExportAudit,
                 where: Filter, limit: Limit = 100, before: Before = None) -> AuditList:
    """Newest first, filtered by actor, action, target (``kind:*`` for a prefix) and time
    (``since``, ``until``); ``total`` counts every match. Page back with ``before=<seq>``
    (the ``X-Next-Before`` header, also in ``Link``). Entries hold references and hashes,
    never images or templates."""
    found = audit_page(db, limit=limit + 1, before=before, where=where)
    items, cursor = page(found.items, limit, lambda e: e.seq)
    next_page(request, response, "before", cursor)
    return AuditList(items=items, total=found.total)


def _jsonl(rows: list[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield chain.canonical_json(row | {"details": json.loads(row["details"])}) + "\n"


def _csv(rows: list[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    out.writeheader()
    for row in rows:
        out.writerow(row)
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()


EXPORTS = {"jsonl": ("application/x-ndjson", _jsonl), "csv": ("text/csv", _csv)}


def _export(db: Session, me: Principal, where: AuditFilter, fmt: str) -> StreamingResponse:
    rows = [e.payload() | {"hash": e.hash} for e in matching(db, where)]
    record_access(db, me, "audit_export", details={
        "format": fmt, "entries": len(rows), "filter": where.as_details(),
        "through_seq": rows[-1]["seq"] if rows else None})
    media, lines = EXPORTS[fmt]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%MZ")
    return StreamingResponse(lines(rows), media_type=media, headers={
        "Content-Disposition": f'attachment; filename="openlfr-audit-{stamp}.{fmt}"',
        "Cache-Control": "no-store"})


@router.get("/export.jsonl", response_class=StreamingResponse, response_model=None,
            responses={200: {"content": {"application/x-ndjson": {}}}})
def export_jsonl(db: ReadDb, me: CanExportAudit, where: Filter) -> StreamingResponse:
    """The matching entries in chain order, one canonical JSON object a line (as
    ``openlfr audit export``). The export is itself audited (``audit_export``)."""
    return _export(db, me, where, "jsonl")


@router.get("/export.csv", response_class=StreamingResponse, response_model=None,
            responses={200: {"content": {"text/csv": {}}}})
def export_csv(db: ReadDb, me: CanExportAudit, where: Filter) -> StreamingResponse:
    """The matching entries in chain order as CSV (details as their JSON text). Audited."""
    return _export(db, me, where, "csv")


def verify_chain(db: Db) -> AuditVerifyPublic:
    report = chain.verify(db)
    first = report.problems[0] if report.problems else None
    return AuditVerifyPublic(ok=report.ok, entries=report.entries,
                             problem=first.message if first else None)


@router.get("/verify", response_model=AuditVerifyPublic)
def verify(db: ReadDb, me: CanVerifyAudit) -> AuditVerifyPublic:
    """Recompute the whole chain: any edited, inserted or removed entry is reported."""
    return verify_chain(db)
