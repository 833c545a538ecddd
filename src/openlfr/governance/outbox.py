"""The sink outbox: policy (pure) and the store side of delivering it.

:func:`openlfr.governance.alerts.record_alert_event` writes one ``alert_deliveries`` row
per sink in the alert's own transaction, so an alert that is stored is delivered, at least
once, whatever happens to the process afterwards. A worker
(:class:`openlfr.alerts.outbox_worker.OutboxDelivery`) works the rows off in short
transactions:

1. :func:`claim_due` takes due ``pending`` rows of one sink and moves their
   ``next_attempt_at`` a lease ahead (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so another
   worker leaves them alone while they are sent and a worker that dies mid-send has them
   retried after the lease;
2. it sends, holding no transaction;
3. :func:`mark_delivered`, :func:`mark_retry` or :func:`mark_failed` record the outcome
   (``attempts`` counts the attempts that reached an outcome).

:class:`RetryPolicy` says when to retry (exponential backoff, capped) and when to give up
(after ``max_attempts``, or when the row is older than ``max_age``). Given-up rows stay in
the table (``failed``) for the console and ``/metrics`` (:func:`delivery_stats`,
:func:`failed_deliveries`) until retention purges their alert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from openlfr.alerts.model import AlertEvent
from openlfr.errors import ConfigError
from openlfr.governance.crypto import Keyring, aad_for
from openlfr.governance.watchlist import keyring_of
from openlfr.store.models import Alert, AlertDelivery, DeliveryStatus, Deployment, DeploymentKind
from openlfr.store.types import as_utc

__all__ = ["RetryPolicy", "Claim", "FailedDelivery", "claim_due", "alert_for_sink",
           "release", "mark_delivered", "mark_retry", "mark_failed", "delivery_stats",
           "failed_deliveries", "next_due", "short_error", "PROBE_BLOB_OVERHEAD"]

# Blob layout of openlfr.governance.crypto: magic (3) | key id (4) | nonce (12) | ct | tag (16)
PROBE_BLOB_OVERHEAD = 3 + 4 + 12 + 16
MAX_ERROR_CHARS = 300
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed delivery and when to give up (pure)."""

    max_attempts: int | None = None  # None: no limit, only max_age
    max_age: timedelta = timedelta(hours=24)
    backoff_s: float = 0.25
    backoff_max_s: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")
        if self.max_age <= timedelta(0):
            raise ConfigError("max_age must be positive")
        if not 0 < self.backoff_s <= self.backoff_max_s:
            raise ConfigError("backoff must satisfy 0 < backoff_s <= backoff_max_s")

    def delay_s(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt (1, 2, ...)."""
        return min(self.backoff_max_s, self.backoff_s * 2.0 ** min(max(attempts - 1, 0), 30))

    def gives_up(self, attempts: int, created_at: datetime, now: datetime) -> bool:
        """After ``attempts`` failed attempts, is this delivery given up?"""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return now - created_at >= self.max_age


def short_error(exc: BaseException | str) -> str:
    """A short one-line error text with no password-bearing URL (``scheme://***@``)."""
    text = exc if isinstance(exc, str) else (f"{type(exc).__name__}: {exc}".rstrip(": ")
                                             if str(exc) else type(exc).__name__)
    text = _URL_USERINFO.sub(r"\1***@", " ".join(text.split()))
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class Claim:
    """A delivery taken for sending (detached from any session)."""

    id: int
    alert_id: int
    sink: str
    attempts: int  # attempts before this one
    created_at: datetime


@dataclass(frozen=True)
class FailedDelivery:
    id: int
    alert_id: int
    alert_uid: str
    sink: str
    attempts: int
    last_error: str | None
    created_at: datetime
    failed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "alert_id": self.alert_id, "alert_uid": self.alert_uid,
                "sink": self.sink, "attempts": self.attempts, "last_error": self.last_error,
                "created_at": self.created_at.isoformat(),
                "failed_at": self.failed_at.isoformat()}


def _due(sink: str, now: datetime) -> Any:
    return select(AlertDelivery).where(AlertDelivery.status == DeliveryStatus.PENDING,
                                       AlertDelivery.sink == sink,
                                       AlertDelivery.next_attempt_at <= now)


def claim_due(session: Session, sink: str, now: datetime, *, limit: int = 50,
              lease: timedelta = timedelta(seconds=60)) -> list[Claim]:
    """Take up to ``limit`` due pending deliveries of ``sink``, oldest first, for
    ``lease`` (commit right after, then send)."""
    now = as_utc(now)
    q = (_due(sink, now).order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
         .limit(limit).with_for_update(skip_locked=True))
    rows = session.scalars(q.execution_options(populate_existing=True)).all()
    for r in rows:
        r.next_attempt_at = now + lease
    session.flush()
    return [Claim(r.id, r.alert_id, r.sink, r.attempts, as_utc(r.created_at)) for r in rows]


def next_due(session: Session, sinks: list[str]) -> datetime | None:
    """When the earliest pending delivery of ``sinks`` is due (None: nothing pending)."""
    if not sinks:
        return None
    at = session.scalar(select(func.min(AlertDelivery.next_attempt_at)).where(
        AlertDelivery.status == DeliveryStatus.PENDING, AlertDelivery.sink.in_(sinks)))
    return as_utc(at) if at is not None else None


def alert_for_sink(session: Session, alert_id: int, *, include_probe: bool,
                   keyring: Keyring | None = None) -> AlertEvent | None:
    """The stored alert as the camera raised it, for a sink: ``alert_id`` is its uid; the
    probe is decrypted only when ``include_probe``, else referenced (sha256 and size). None
    when the alert is gone (retention purged it)."""
    row = session.get(Alert, alert_id, populate_existing=True)
    if row is None:
        return None
    dep = session.get(Deployment, row.deployment_id)
    probe: bytes | None = None
    if include_probe and row.probe_blob is not None:
        probe = keyring_of(session, keyring).decrypt(row.probe_blob,
                                                     aad_for("alerts", row.id, "probe_blob"))
    size = len(row.probe_blob) - PROBE_BLOB_OVERHEAD if row.probe_blob is not None else 0
    track: Any = int(row.track_id) if row.track_id.lstrip("-").isdigit() else row.track_id
    return AlertEvent(
        camera_id=row.camera_id, time=as_utc(row.created_at), track_id=track,
        subject_id=str(row.subject_id) if row.subject_id is not None else row.subject_reference,
        label=row.subject_name, score=float(row.score),
        threshold=float(dep.threshold) if dep is not None else 0.0,
        probe_jpeg=probe, probe_digest=row.probe_sha256, probe_size=max(size, 0),
        frame_index=row.frame_index if row.frame_index is not None else -1,
        media_time_s=row.media_time_s, category=getattr(row.category, "value", row.category),
        watchlist_image_ref=(f"snapshot:{row.deployment_id}/subject:{row.subject_id}"
                             if row.subject_id is not None else None),
        deployment_id=row.deployment_id,
        evaluation=dep is not None and dep.kind == DeploymentKind.EVALUATION,
        alert_id=row.uid)


def _set(session: Session, delivery_id: int, **values: Any) -> bool:
    """Update a pending row; False if it is gone or no longer pending."""
    stmt = (update(AlertDelivery)
            .where(AlertDelivery.id == delivery_id,
                   AlertDelivery.status == DeliveryStatus.PENDING)
            .values(**values).execution_options(synchronize_session=False))
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def release(session: Session, claims: list[Claim], at: datetime) -> None:
    """Hand back claimed deliveries that were not attempted: due again at ``at``, with no
    attempt counted (e.g. the rest of a batch after the sink failed)."""
    for c in claims:
        _set(session, c.id, next_attempt_at=as_utc(at))


def mark_delivered(session: Session, claim: Claim, now: datetime) -> bool:
    now = as_utc(now)
    return _set(session, claim.id, status=DeliveryStatus.DELIVERED,
                attempts=claim.attempts + 1, delivered_at=now, next_attempt_at=now)


def mark_retry(session: Session, claim: Claim, error: BaseException | str, at: datetime
               ) -> bool:
    """One more failed attempt; due again at ``at``."""
    return _set(session, claim.id, attempts=claim.attempts + 1, last_error=short_error(error),
                next_attempt_at=as_utc(at))


def mark_failed(session: Session, claim: Claim, error: BaseException | str, now: datetime
                ) -> bool:
    """Given up (``next_attempt_at`` becomes the time it was given up)."""
    return _set(session, claim.id, status=DeliveryStatus.FAILED,
                attempts=claim.attempts + 1, last_error=short_error(error),
                next_attempt_at=as_utc(now))


def delivery_stats(session: Session) -> dict[str, dict[str, int]]:
    """Per sink name in the table: ``pending``, ``delivered``, ``failed`` row counts and
    ``retries`` (failed attempts that were, or will be, tried again)."""
    rows = session.execute(
        select(AlertDelivery.sink, AlertDelivery.status, func.count(),
               func.coalesce(func.sum(AlertDelivery.attempts), 0))
        .group_by(AlertDelivery.sink, AlertDelivery.status)).all()
    out: dict[str, dict[str, int]] = {}
    for sink, status, n, attempts in rows:
        d = out.setdefault(sink, {"pending": 0, "delivered": 0, "failed": 0, "retries": 0})
        status = DeliveryStatus(status)
        d[status.value] += int(n)
        # every attempt of a pending row failed and is retried; a delivered or failed row's
        # last attempt was not followed by a retry.
        d["retries"] += int(attempts) - (0 if status is DeliveryStatus.PENDING else int(n))
    return out


def failed_deliveries(session: Session, limit: int = 100) -> list[FailedDelivery]:
    """The given-up deliveries, most recent first."""
    rows = session.execute(
        select(AlertDelivery, Alert.uid).join(Alert, Alert.id == AlertDelivery.alert_id)
        .where(AlertDelivery.status == DeliveryStatus.FAILED)
        .order_by(AlertDelivery.next_attempt_at.desc(), AlertDelivery.id.desc())
        .limit(limit)).all()
    return [FailedDelivery(d.id, d.alert_id, uid, d.sink, d.attempts, d.last_error,
                           as_utc(d.created_at), as_utc(d.next_attempt_at))
            for d, uid in rows]
