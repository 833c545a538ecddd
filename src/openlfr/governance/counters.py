"""Aggregate counters per deployment and camera, and each camera's progress through footage.

Counters hold aggregates only: nothing about faces that did not match. A camera process's
counters are cumulative per run and applied idempotently (:func:`add_run_counters`), so a
message delivered twice counts once. The progress of a camera through recorded footage is
kept so a restart resumes where it stopped, or knows the clip is finished
(:func:`get_resume_point`); a live camera resumes from now.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError, StateError
from openlfr.governance.deployments import get_deployment
from openlfr.governance.schemas import CountersPublic
from openlfr.store.models import CameraProgress, CameraRun, DeploymentCounter
from openlfr.store.types import as_utc

__all__ = ["add_counters", "add_run_counters", "save_progress", "get_progress",
           "get_resume_point", "ResumePoint", "get_counters", "bump", "UID",
           "tracker_settings", "MIXED_TRACKERS"]

#: What :func:`tracker_settings` answers when a deployment's runs used different settings.
MIXED_TRACKERS = "mixed"
#: A camera's alert ids and run ids: 1-32 letters, digits, ``-`` or ``_``.
UID = re.compile(r"[A-Za-z0-9_-]{1,32}")

_COUNTERS = ("frames", "dropped", "faces", "tracks", "alerts", "confirmed", "rejected",
             "not_engaged")


def _upsert(session: Session, stmt: Any, new_row: Callable[[], Any]) -> None:
    """Run the UPDATE ``stmt``; if it matched no row, insert ``new_row()`` (in a savepoint)
    and, should another writer have inserted it first, run the UPDATE again."""
    if session.execute(stmt).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(new_row())
    except IntegrityError:  # another writer created it first
        session.execute(stmt)


def bump(session: Session, deployment_id: int, camera_id: str, now: datetime,
         **deltas: int) -> None:
    """Atomically add to one (deployment, camera) counter row, creating it if needed."""
    values = {k: getattr(DeploymentCounter, k) + v for k, v in deltas.items()}
    stmt = (update(DeploymentCounter)
            .where(DeploymentCounter.deployment_id == deployment_id,
                   DeploymentCounter.camera_id == camera_id)
            .values(updated_at=now, **values).execution_options(synchronize_session=False))
    _upsert(session, stmt, lambda: DeploymentCounter(
        deployment_id=deployment_id, camera_id=camera_id, updated_at=now,
        **dict.fromkeys(_COUNTERS, 0) | deltas))


def add_counters(session: Session, deployment_id: int, camera_id: str, frames: int,
                 dropped: int, faces: int, tracks: int, now: datetime | None = None) -> None:
    """Add per-camera aggregates (the pipeline calls this every few seconds)."""
    _check_counts({"frames": frames, "dropped": dropped, "faces": faces, "tracks": tracks})
    get_deployment(session, deployment_id)
    bump(session, deployment_id, camera_id, as_utc(now) if now else datetime.now(UTC),
          frames=frames, dropped=dropped, faces=faces, tracks=tracks)


_RUN_TOTALS = ("frames", "dropped", "faces", "tracks")


def _check_counts(values: dict[str, object]) -> None:
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(f"counter {name} must be a non-negative integer, got {v!r}")


def add_run_counters(session: Session, deployment_id: int, camera_id: str, run_id: str,
                     seq: int, totals: dict[str, int], now: datetime, *,
                     tracker: str | None = None) -> bool:
    """Apply a camera process's cumulative counters idempotently.

    ``totals`` are the run's totals so far (``frames``, ``dropped``, ``faces``, ``tracks``)
    and ``seq`` its message number; ``tracker`` the fingerprint of the tracker settings its
    tracks come from, kept with the run so reports can say what a track is on them. Only a
    message newer than the last one applied for ``run_id`` changes anything: the deployment
    counters get the difference from the stored totals (never negative). A redelivered or
    older message changes nothing. Returns whether the message was applied."""
    missing = [k for k in _RUN_TOTALS if k not in totals]
    if missing:
        raise ConfigError(f"counter totals lack {', '.join(missing)}")
    values = {k: totals[k] for k in _RUN_TOTALS}
    _check_counts(values | {"seq": seq})
    if not isinstance(run_id, str) or not UID.fullmatch(run_id):
        raise ConfigError(f"run id {str(run_id)[:40]!r} is not 1..32 letters, digits, - or _")
    now = as_utc(now)
    get_deployment(session, deployment_id)
    lookup = select(CameraRun).where(CameraRun.run_id == run_id).with_for_update()
    run = session.scalar(lookup.execution_options(populate_existing=True))
    if run is None:
        try:
            with session.begin_nested():
                session.add(CameraRun(run_id=run_id, deployment_id=deployment_id,
                                      camera_id=camera_id, seq=seq, updated_at=now,
                                      tracker_fingerprint=tracker, **values))
            if any(values.values()):
                bump(session, deployment_id, camera_id, now, **values)
            return True
        except IntegrityError:  # a concurrent writer stored this run first
            run = session.scalars(lookup.execution_options(populate_existing=True)).one()
    if (run.deployment_id, run.camera_id) != (deployment_id, camera_id):
        raise StateError(f"run {run_id} belongs to deployment {run.deployment_id} camera "
                         f"{run.camera_id!r}, not {deployment_id} {camera_id!r}")
    if seq <= run.seq:
        return False
    deltas = {k: max(0, v - getattr(run, k)) for k, v in values.items()}
    for k, v in values.items():
        setattr(run, k, max(v, getattr(run, k)))
    run.seq, run.updated_at = seq, now
    run.tracker_fingerprint = run.tracker_fingerprint or tracker
    if any(deltas.values()):
        bump(session, deployment_id, camera_id, now, **deltas)
    session.flush()
    return True


def save_progress(session: Session, deployment_id: int, camera_id: str, frame_index: int,
                  finished: bool, now: datetime, *, next_track_id: int = 1) -> None:
    """Store how far a camera got through a recorded clip: the next frame to analyse and the
    first track id of a run resumed there. Never moves back: a redelivered older report keeps
    the furthest frame (with its track id), and ``finished`` stays set once set."""
    _check_counts({"frame_index": frame_index, "next_track_id": next_track_id})
    now = as_utc(now)
    get_deployment(session, deployment_id)
    further = CameraProgress.frame_index < frame_index
    stmt = (update(CameraProgress)
            .where(CameraProgress.deployment_id == deployment_id,
                   CameraProgress.camera_id == camera_id)
            .values(frame_index=case((further, frame_index),
                                     else_=CameraProgress.frame_index),
                    next_track_id=case((further, next_track_id),
                                       else_=CameraProgress.next_track_id),
                    finished=or_(CameraProgress.finished, bool(finished)), updated_at=now)
            .execution_options(synchronize_session=False))
    _upsert(session, stmt, lambda: CameraProgress(
        deployment_id=deployment_id, camera_id=camera_id, frame_index=frame_index,
        next_track_id=next_track_id, finished=bool(finished), updated_at=now))


class ResumePoint(NamedTuple):
    frame_index: int  # the next frame to analyse
    next_track_id: int  # the first track id of a run resumed there
    finished: bool  # the clip was scanned to its end


def get_resume_point(session: Session, deployment_id: int, camera_id: str
                     ) -> ResumePoint | None:
    """Where a recorded clip's camera resumes, or None if no progress was ever saved."""
    row = session.execute(select(CameraProgress.frame_index, CameraProgress.next_track_id,
                                 CameraProgress.finished).where(
        CameraProgress.deployment_id == deployment_id,
        CameraProgress.camera_id == camera_id)).first()
    if row is None:
        return None
    return ResumePoint(int(row[0]), int(row[1] or 1), bool(row[2]))


def get_progress(session: Session, deployment_id: int, camera_id: str
                 ) -> tuple[int, bool] | None:
    """``(next frame to analyse, finished)`` of a recorded clip, or None if never saved."""
    point = get_resume_point(session, deployment_id, camera_id)
    return None if point is None else (point.frame_index, point.finished)


def get_counters(session: Session, deployment_id: int) -> list[CountersPublic]:
    """Totals first (``camera_id`` None), then one entry per camera."""
    rows = session.scalars(select(DeploymentCounter).where(
        DeploymentCounter.deployment_id == deployment_id,
    ).order_by(DeploymentCounter.camera_id).execution_options(populate_existing=True)).all()
    total = CountersPublic(deployment_id=deployment_id, camera_id=None,
                           **{f: sum(getattr(r, f) for r in rows) for f in _COUNTERS})
    return [total] + [CountersPublic(deployment_id=deployment_id, camera_id=r.camera_id,
                                     **{f: getattr(r, f) for f in _COUNTERS}) for r in rows]


def tracker_settings(session: Session, deployment_id: int) -> str | None:
    """The tracker settings a deployment's tracks come from: the fingerprint its camera runs
    reported; ``"mixed"`` when runs used different ones; None when none was reported."""
    found = set(session.scalars(
        select(CameraRun.tracker_fingerprint).where(CameraRun.deployment_id == deployment_id,
                                                    CameraRun.tracker_fingerprint.is_not(None))
        .distinct()))
    if not found:
        return None
    return found.pop() if len(found) == 1 else MIXED_TRACKERS
