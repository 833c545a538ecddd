"""The camera fleet's bookkeeping: camera runs, progress through recorded clips, the
centre leader.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openlfr.store.models_base import Base
from openlfr.store.types import UTCDateTime

__all__ = ["CameraRun", "CameraProgress", "CentreLeader"]


class CameraRun(Base):
    """Cumulative counters of one camera process lifetime (``run_id``), as last applied:
    a counters message adds only its difference to these, so redelivery adds nothing."""

    __tablename__ = "camera_runs"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), unique=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    faces: Mapped[int] = mapped_column(Integer, default=0)
    tracks: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the tracker settings the run's tracks come from (``sha256:`` + 16 hex; revision 0005)
    tracker_fingerprint: Mapped[str | None] = mapped_column(String(32))


class CameraProgress(Base):
    """How far a camera got through a recorded clip (the next frame to analyse), so a
    restarted camera process resumes instead of analysing (and alerting on) it again."""

    __tablename__ = "camera_progress"
    __table_args__ = (UniqueConstraint("deployment_id", "camera_id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    camera_id: Mapped[str] = mapped_column(String(64))
    frame_index: Mapped[int] = mapped_column(Integer, default=0)
    #: the first track id of a run resumed at ``frame_index`` (alert ids of recorded footage
    #: include the track id, so a resumed run numbers its tracks as the stopped one did)
    next_track_id: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    finished: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CentreLeader(Base):
    """The one centre that assigns cameras, when several servers share a database: a single
    row (id 1) holding the leader's id and the end of its term, renewed while it runs."""

    __tablename__ = "centre_leader"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
