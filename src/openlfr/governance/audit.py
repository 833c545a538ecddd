"""Tamper-evident audit log: an append-only hash chain over canonical JSON.

Each entry's hash covers its sequence number, time, actor, action, target, details (canonical
JSON: sorted keys, no whitespace), algorithm and the previous entry's hash; optionally keyed
(HMAC-SHA256 with ``OPENLFR_AUDIT_KEY``). :func:`verify` recomputes the chain and reports
where an entry was edited, deleted, inserted or reordered, and whether the tail was cut off
(the ``audit_head`` row holds the last sequence number and hash).

Appends are serialised: each locks the head row (``SELECT ... FOR UPDATE`` on PostgreSQL;
on SQLite every transaction is ``BEGIN IMMEDIATE``, see :mod:`openlfr.store.db`).

The log records references and hashes, never images, templates or secrets.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import StateError
from openlfr.store.models import AuditEntry, AuditHead
from openlfr.store.types import as_utc

__all__ = ["append", "lock_head", "verify", "export", "iter_entries", "canonical_json",
           "entry_hash", "VerifyReport", "Problem", "GENESIS", "SYSTEM"]

GENESIS = "0" * 64
SYSTEM = "system"
ALG_PLAIN = "sha256"
ALG_HMAC = "hmac-sha256"


def _default(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return as_utc(obj).isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return sorted(obj) if isinstance(obj, (set, frozenset)) else list(obj)
    if isinstance(obj, bytes):
        raise TypeError("bytes in an audit entry: record a hash or reference, not the data")
    raise TypeError(f"cannot put {type(obj).__name__} in an audit entry")


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: the same input always gives the same string."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False, default=_default)


def entry_hash(payload: dict[str, Any], alg: str, key: bytes | None) -> str:
    data = canonical_json(payload).encode()
    if alg == ALG_HMAC:
        if key is None:
            raise StateError("this audit entry is keyed (HMAC): set OPENLFR_AUDIT_KEY to verify")
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def _audit_key(session: Session, key: bytes | None) -> bytes | None:
    return key if key is not None else session.info.get("audit_key")


def lock_head(session: Session) -> AuditHead:
    """Lock the chain head for the rest of the transaction (``SELECT ... FOR UPDATE``).

    Services that write other contended rows (counters) and then audit call this first, so
    every transaction takes the head before those rows: no lock-order deadlock on PostgreSQL.
    """
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if head is None:
        raise StateError("the audit chain head is missing: the database was not created by "
                         "`openlfr db upgrade`, or the audit_head row was deleted")
    return head


def append(session: Session, *, actor: str, action: str, now: datetime,
           target: str | None = None, details: dict[str, Any] | None = None,
           key: bytes | None = None) -> AuditEntry:
    """Append one entry in the session's transaction (committed with the action it records).

    ``actor`` is a username or ``"system"``; ``target`` a reference like ``"deployment:3"``.
    The HMAC key defaults to ``session.info["audit_key"]`` (set by ``open_store``).
    """
    key = _audit_key(session, key)
    details_text = canonical_json(details or {})
    head = lock_head(session)
    at = as_utc(now)
    entry = AuditEntry(seq=head.seq + 1, at=at, actor=actor, action=action, target=target,
                       details=details_text, alg=ALG_HMAC if key else ALG_PLAIN,
                       prev_hash=head.hash, hash="")
    entry.hash = entry_hash(entry.payload(), entry.alg, key)
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Problem:
    seq: int | None
    kind: str  # edited | broken_link | gap | truncated | unverifiable | downgrade
    message: str


@dataclass
class VerifyReport:
    ok: bool
    entries: int
    head_seq: int | None
    head_hash: str | None
    keyed: bool
    problems: list[Problem] = field(default_factory=list)

    @property
    def first_bad_seq(self) -> int | None:
        return self.problems[0].seq if self.problems else None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "head_seq": self.head_seq,
                "head_hash": self.head_hash, "keyed": self.keyed,
                "first_bad_seq": self.first_bad_seq,
                "problems": [{"seq": p.seq, "kind": p.kind, "message": p.message}
                             for p in self.problems]}


def iter_entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    """Entries in chain order, read in batches (the log can be long). Every row, whatever
    its ``seq``: a forged row numbered 0 or below is read (and fails verification)."""
    q = select(AuditEntry).order_by(AuditEntry.seq).limit(batch)
    rows = session.execute(q).scalars().all()
    while rows:
        yield from rows
        rows = session.execute(q.where(AuditEntry.seq > rows[-1].seq)).scalars().all()


def verify(session: Session, key: bytes | None = None, max_problems: int = 100) -> VerifyReport:
    """Recompute the whole chain; report every place where it does not hold."""
    key = _audit_key(session, key)
    problems: list[Problem] = []

    def bad(seq: int | None, kind: str, message: str) -> None:
        if len(problems) < max_problems:
            problems.append(Problem(seq, kind, message))

    # Retention may have purged the oldest entries (after the six-month floor): the chain
    # then starts after the last one purged, which a later audit_purge entry vouches for.
    start = session.get(AuditHead, 1, populate_existing=True)
    base_seq, base_hash = (start.base_seq, start.base_hash) if start else (0, GENESIS)
    prev_hash, expected_seq, count, seen_hmac = base_hash, base_seq + 1, 0, False
    vouched = base_seq == 0
    for e in iter_entries(session):
        count += 1
        if not vouched and e.action == "audit_purge":
            d = json.loads(e.details)
            vouched = d.get("through_seq") == base_seq and d.get("through_hash") == base_hash
        if e.seq != expected_seq:
            missing = e.seq - expected_seq
            bad(e.seq, "gap", f"entry {e.seq} follows entry {expected_seq - 1}: {missing} "
                f"entr{'y' if missing == 1 else 'ies'} missing (deleted)")
        if e.prev_hash != prev_hash:
            bad(e.seq, "broken_link", f"entry {e.seq} does not link to the entry before it "
                "(an entry was inserted, deleted or reordered here)")
        if e.alg == ALG_HMAC:
            seen_hmac = True
            if key is None:
                bad(e.seq, "unverifiable", f"entry {e.seq} is keyed (HMAC): set "
                    "OPENLFR_AUDIT_KEY to verify it")
            elif not hmac.compare_digest(entry_hash(e.payload(), e.alg, key), e.hash):
                bad(e.seq, "edited", f"entry {e.seq} ({e.action}) was altered, or the audit "
                    "key is wrong")
        elif e.alg == ALG_PLAIN:
            if key is not None and seen_hmac:
                bad(e.seq, "downgrade", f"entry {e.seq} is unkeyed after keyed entries")
            if entry_hash(e.payload(), e.alg, None) != e.hash:
                bad(e.seq, "edited", f"entry {e.seq} ({e.action}) was altered")
        else:
            bad(e.seq, "edited", f"entry {e.seq} has unknown algorithm {e.alg!r}")
        prev_hash, expected_seq = e.hash, e.seq + 1
    if not vouched:
        bad(base_seq + 1, "truncated", f"entries up to {base_seq} are gone but no "
            "audit_purge entry records their purge")
    head = session.get(AuditHead, 1, populate_existing=True)
    if head is None:
        bad(None, "truncated", "the audit chain head row is missing")
    elif head.seq != expected_seq - 1 or head.hash != prev_hash:
        bad(head.seq, "truncated", f"the chain head records entry {head.seq} but the log ends "
            f"at entry {expected_seq - 1}: entries were removed from the end, or the head "
            "was altered")
    return VerifyReport(ok=not problems, entries=count,
                        head_seq=head.seq if head else None,
                        head_hash=head.hash if head else None,
                        keyed=key is not None, problems=problems)


def export(session: Session, out: TextIO) -> int:
    """Write the log as JSON lines (each entry with its hash); returns the count."""
    n = 0
    for e in iter_entries(session):
        row = e.payload() | {"hash": e.hash, "details": json.loads(e.details)}
        out.write(canonical_json(row) + "\n")
        n += 1
    return n
