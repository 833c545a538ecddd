"""Build report figures from the store (read only; needs no encryption key).

Where each figure comes from:

* counts (frames, dropped, faces, tracks, alerts and their final outcomes): the per-camera
  ``deployment_counters`` rows, summed. They survive the purge of alert records, so a report
  made a year later still has every count;
* timeline, disputed and pending alerts: the ``alerts`` rows still on record;
* watchlist size and categories: the deployment's snapshot while it exists; after the
  snapshot is deleted (24 h after the end), the size from the audit entry that recorded its
  approval and the deployment's category criteria (without per-category counts).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select
from sqlalchemy.engine import make_url

from openlfr.errors import ConfigError, NotFound
from openlfr.governance.alerts import get_counters
from openlfr.governance.counters import tracker_settings
from openlfr.governance.runtime import open_store
from openlfr.pipeline.sources import FileSourceConfig, FolderSourceConfig, source_config
from openlfr.reports._alerts import officer_label
from openlfr.reports._figures import AlertPoint, DeploymentFigures
from openlfr.settings import Settings
from openlfr.store.models import (
    Adjudication,
    Alert,
    AlertStatus,
    AuditEntry,
    Deployment,
    Snapshot,
    SnapshotSubject,
    User,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from openlfr.store.models import Deployment

__all__ = ["load_deployment_figures", "deployment_ids_in_period", "open_session"]

def _deployment_id(deployment_id: object) -> int:
    try:
        return int(str(deployment_id))
    except ValueError:
        raise NotFound(f"no deployment {deployment_id!r}: deployment ids are numbers") from None


def _watchlist(session: Session, dep: object) -> tuple[int | None, dict[str, int | None]]:
    dep_id: int = dep.id  # type: ignore[attr-defined]
    snap = session.scalar(select(Snapshot).where(Snapshot.deployment_id == dep_id))
    if snap is not None:
        rows = session.execute(
            select(SnapshotSubject.category, func.count())
            .where(SnapshotSubject.snapshot_id == snap.id)
            .group_by(SnapshotSubject.category)).all()
        return snap.subject_count, {str(getattr(c, "value", c)): n for c, n in rows}
    size: int | None = None
    # The snapshot is gone: its approval entry in the audit chain recorded the size.
    for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "snapshot_approve",
                                     AuditEntry.details.like(f'%"deployment_id":{dep_id},%'))
            .order_by(AuditEntry.seq.desc())):
        details = json.loads(entry.details)
        if details.get("deployment_id") == dep_id and isinstance(details.get("subjects"), int):
            size = details["subjects"]
            break
    categories: list[str] = list(dep.categories or [])  # type: ignore[attr-defined]
    return size, {str(c): None for c in categories}


def load_deployment_figures(session: Session, deployment_id: object) -> DeploymentFigures:
    """:class:`DeploymentFigures` for one deployment (raises NotFound if there is none)."""
    dep_id = _deployment_id(deployment_id)
    dep = session.get(Deployment, dep_id)
    if dep is None:
        raise NotFound(f"no deployment {dep_id}")
    counters = get_counters(session, dep_id)[0]
    timeline = _alert_points(session, dep_id)
    on_record = Counter(a.outcome for a in timeline)
    # Counters count every event; records may have been purged. Neither may undercount.
    confirmed = max(counters.confirmed, on_record["confirmed"])
    rejected = max(counters.rejected, on_record["rejected"])
    not_engaged = max(counters.not_engaged, on_record["not_engaged"])
    decided = confirmed + rejected + not_engaged
    alerts = max(counters.alerts, len(timeline), decided)
    disputed = min(on_record["disputed"], alerts - decided)
    size, categories = _watchlist(session, dep)
    cameras = dep.camera_ids
    extra = {
        "legal_basis": dep.legal_basis,
        "dpia_reference": dep.dpia_reference,
        "cameras": f"{len(cameras)} ({', '.join(cameras)})",
        "two_person_verification": "yes" if dep.two_person_verification else "no",
        "snapshot_hash": dep.snapshot_hash or "-",
    }
    extra["rule_profile"] = " ".join(filter(None, (dep.profile, dep.profile_version)))
    if dep.external_authority or dep.external_decision:
        extra["external_authorisation"] = _external(dep)
    if dep.urgent:
        extra["urgent_use"] = _urgent(dep)
    if dep.end_reason:
        extra["end_reason"] = dep.end_reason
    return DeploymentFigures(
        deployment_id=str(dep.id), name=dep.name, purpose=dep.purpose, place=dep.location,
        kind=getattr(dep.kind, "value", str(dep.kind)),  # type: ignore[arg-type]
        window_start=dep.window_start, window_end=dep.window_end,
        frames_analysed=counters.frames, frames_dropped=counters.dropped,
        faces_detected=counters.faces, tracks=counters.tracks,
        watchlist_size=size, watchlist_categories=categories,
        threshold=dep.threshold, model=dep.embedder_key,
        alerts=alerts, confirmed=confirmed, rejected=rejected, not_engaged=not_engaged,
        disputed=disputed, timeline=timeline,
        state=getattr(dep.status, "value", str(dep.status)),
        started_at=dep.started_at, ended_at=dep.ended_at, extra=extra,
        tracker_fingerprint=tracker_settings(session, dep.id),
        authorising_officer=_names(session, [dep.authorising_officer_id]).get(
            dep.authorising_officer_id), authorised_at=dep.authorised_at,
        paced=any(_paced(c.source_url) for c in dep.cameras))


def _paced(source_url: str) -> bool:
    """Does this camera deliver frames at its own pace (a live camera, a looping clip),
    rather than every frame of recorded footage in turn?"""
    try:
        cfg = source_config(source_url)
    except ConfigError:
        return True  # not a file we know: a stream
    if isinstance(cfg, FileSourceConfig):
        return cfg.loop
    return not isinstance(cfg, FolderSourceConfig)


def _names(session: Session, user_ids: Iterable[int]) -> dict[int, str]:
    ids = set(user_ids)
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.username, User.display_name)
                           .where(User.id.in_(ids))).all()
    return {i: officer_label(u, d or "") for i, u, d in rows}


def _alert_points(session: Session, dep_id: int) -> tuple[AlertPoint, ...]:
    """The alerts on record, each with who decided it and their note (no images, no names
    of watchlisted people)."""
    alerts = session.execute(
        select(Alert.id, Alert.created_at, Alert.status, Alert.camera_id, Alert.category,
               Alert.score).where(Alert.deployment_id == dep_id)
        .order_by(Alert.created_at, Alert.id)).all()
    decisions: dict[int, list[tuple[int, str | None]]] = {}
    for alert_id, user_id, note in session.execute(
            select(Adjudication.alert_id, Adjudication.user_id, Adjudication.note)
            .join(Alert, Alert.id == Adjudication.alert_id)
            .where(Alert.deployment_id == dep_id).order_by(Adjudication.id)):
        decisions.setdefault(alert_id, []).append((user_id, note))
    names = _names(session, [u for ds in decisions.values() for u, _ in ds])
    return tuple(AlertPoint(
        at, AlertStatus(status).value, camera=camera, category=str(getattr(cat, "value", cat)),
        score=score,
        decided_by=", ".join(names.get(u, f"user {u}") for u, _ in decisions.get(i, [])) or None,
        note="; ".join(n for _, n in decisions.get(i, []) if n) or None)
        for i, at, status, camera, cat, score in alerts)


def _external(dep: Deployment) -> str:
    """Who authorised (or refused) the use outside the force, and the reference."""
    who = ", ".join(filter(None, (dep.external_authority, dep.external_reference))) or "-"
    decision = dep.external_decision or "not yet decided"
    when = f" on {dep.external_date:%Y-%m-%d}" if dep.external_date else ""
    return f"{decision}{when} ({who})"


def _urgent(dep: Deployment) -> str:
    """Urgent use marked in the report: why, the deadline, and what became of it."""
    out = f"yes: {dep.urgent_reason or 'no reason recorded'}"
    if dep.urgent_deadline:
        out += f"; external authorisation due by {dep.urgent_deadline:%Y-%m-%d %H:%M} UTC"
    if dep.urgent_purged_at:
        out += (f"; refused or lapsed: alerts and probe images deleted on "
                f"{dep.urgent_purged_at:%Y-%m-%d %H:%M} UTC (counters and audit kept)")
    return out


def deployment_ids_in_period(session: Session, start: datetime, end: datetime) -> list[int]:
    """Deployments that ran (were started) with an authorised window overlapping
    [start, end), oldest first."""
    return list(session.scalars(
        select(Deployment.id)
        .where(Deployment.started_at.is_not(None),
               Deployment.window_start < end,
               or_(Deployment.window_end >= start, Deployment.window_end.is_(None)))
        .order_by(Deployment.window_start, Deployment.id)))


@contextmanager
def open_session() -> Iterator[Session]:
    """A read session on the configured store (``OPENLFR_DATABASE_URL`` or the data dir).

    Reports need no encryption key: they read counts and times, never biometric data.
    """
    settings = Settings()
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).expanduser().exists():  # a report must not create a store
            raise ConfigError(f"no OpenLFR store at {url.database}: set OPENLFR_DATABASE_URL "
                              "or OPENLFR_DATA_DIR, or create one with `openlfr db upgrade`")
    store = open_store(settings, need_key=False)
    try:
        with store.session() as session:
            yield session
    finally:
        store.close()
