"""Alerts, their adjudications, the per-camera counters and the sink outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openlfr.store.models_base import (
    AlertStatus,
    Base,
    Category,
    DeliveryStatus,
    NumberedRow,
    Outcome,
    owned_rows,
    parent_key,
    stored_enum,
)
from openlfr.store.types import UTCDateTime

__all__ = ["Alert", "Adjudication", "DeploymentCounter", "AlertDelivery"]


class Alert(NumberedRow, Base):
    """A possible match, for a human to decide. The probe image is encrypted and purged with
    the record after the retention period unless held with a stated reason."""

    __tablename__ = "alerts"

    # The camera's alert id (``Alert.alert_id``, a uuid hex): recording is idempotent on it.
    # Alerts recorded before it existed have ``legacy`` + their zero-padded id.
    uid: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[str] = mapped_column(String(64))
    frame_index: Mapped[int | None] = mapped_column(Integer)
    media_time_s: Mapped[float | None] = mapped_column(Float)
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("subjects.id", ondelete="SET NULL"), index=True)
    subject_reference: Mapped[str] = mapped_column(String(64))
    subject_name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(stored_enum(Category))
    score: Mapped[float] = mapped_column(Float)
    snapshot_id: Mapped[int | None] = mapped_column(Integer)
    probe_sha256: Mapped[str] = mapped_column(String(64))
    probe_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[AlertStatus] = mapped_column(stored_enum(AlertStatus), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    held_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    adjudications: Mapped[list[Adjudication]] = owned_rows("alert", "Adjudication.id",
                                                          lazy="selectin")


class Adjudication(NumberedRow, Base):
    __tablename__ = "adjudications"

    alert_id: Mapped[int] = parent_key("alerts.id")
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[Outcome] = mapped_column(stored_enum(Outcome))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    alert: Mapped[Alert] = relationship(back_populates="adjudications")


class DeploymentCounter(Base):
    """Aggregates per deployment and camera: the only trace of people who do not match.
    Alert tallies are kept here too so reports survive the purge of alert records."""

    __tablename__ = "deployment_counters"
    __table_args__ = (UniqueConstraint("deployment_id", "camera_id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    frames: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    faces: Mapped[int] = mapped_column(Integer, default=0)
    tracks: Mapped[int] = mapped_column(Integer, default=0)
    alerts: Mapped[int] = mapped_column(Integer, default=0)
    confirmed: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    not_engaged: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AlertDelivery(Base):
    """The outbox: one row per (alert, sink), written in the alert's own transaction and
    worked off by :class:`openlfr.alerts.outbox_worker.OutboxDelivery`, at least once.
    Deleted with its alert (retention). ``last_error`` is short and holds no URL password.
    For a ``failed`` row ``next_attempt_at`` is when it was given up."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("alert_id", "sink"),
                      Index(None, "status", "next_attempt_at"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    sink: Mapped[str] = mapped_column(String(200))
    status: Mapped[DeliveryStatus] = mapped_column(stored_enum(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
