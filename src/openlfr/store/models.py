"""The OpenLFR store: typed SQLAlchemy 2 models.

Biometric data (watchlist images, templates, alert probe images) is kept only as AES-GCM
ciphertext (``*_blob`` columns, see :mod:`openlfr.governance.crypto`), bound to its row by the
associated data. Nothing about people who do not match is stored: only aggregate counters.

Ids are never reused (``sqlite_autoincrement``), so a reference in the audit log names one
row forever, even after retention deleted it. Schema changes go through Alembic
(``openlfr/store/migrations``); a test checks that the migrations and these models agree.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from openlfr.store.types import UTCDateTime

__all__ = [
    "Base", "Role", "DeploymentKind", "DeploymentStatus", "Category", "AlertStatus", "Outcome",
    "User", "UserRole", "ApiToken", "Deployment", "DeploymentCamera", "Subject", "SubjectImage",
    "Template", "Snapshot", "SnapshotSubject", "SnapshotTemplate", "Alert", "Adjudication",
    "DeploymentCounter", "AuditEntry", "AuditHead", "CentreLeader", "DeliveryStatus",
    "AlertDelivery", "CameraRun", "CameraProgress", "BiasEvaluation",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(enum.StrEnum):
    """The roles of docs/governance.md. ``admin`` manages users and settings and sees no
    biometric data unless also granted another role."""

    AUTHORISING_OFFICER = "authorising_officer"
    WATCHLIST_MANAGER = "watchlist_manager"
    OPERATOR = "operator"
    ENGAGEMENT_OFFICER = "engagement_officer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class DeploymentKind(enum.StrEnum):
    LIVE = "live"
    EVALUATION = "evaluation"


class DeploymentStatus(enum.StrEnum):
    DRAFT = "draft"
    AUTHORISED = "authorised"
    ACTIVE = "active"
    ENDED = "ended"
    REVIEWED = "reviewed"
    CANCELLED = "cancelled"


class Category(enum.StrEnum):
    """Why a person is on a watchlist (College of Policing LFR guidance categories)."""

    WANTED_BY_COURTS = "wanted_by_courts"
    SUSPECTED_OFFENCE = "suspected_offence"
    BAIL_CONDITIONS = "bail_conditions"
    MISSING_PERSON_AT_RISK = "missing_person_at_risk"
    RISK_OF_HARM = "risk_of_harm"
    WITNESS = "witness"
    TEST_SUBJECT = "test_subject"


class AlertStatus(enum.StrEnum):
    PENDING = "pending"
    DISPUTED = "disputed"  # two-person verification: the two decisions differ
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    NOT_ENGAGED = "not_engaged"


class DeliveryStatus(enum.StrEnum):
    """An outbox row: waiting (or retrying), delivered, or given up."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Outcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    NOT_ENGAGED = "not_engaged"


def _enum(cls: type[enum.Enum]) -> Enum:
    # Stored as plain strings (values, not names); no CHECK constraint, so adding a value needs
    # no table rebuild on SQLite. The Python side validates.
    return Enum(cls, native_enum=False, length=32, create_constraint=False,
                values_callable=lambda e: [m.value for m in e])


# --- users -------------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.role_rows)


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    role: Mapped[Role] = mapped_column(_enum(Role), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_rows")


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored. Revocable; optionally expiring."""

    __tablename__ = "api_tokens"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- deployments -------------------------------------------------------------------------


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[DeploymentKind] = mapped_column(_enum(DeploymentKind))
    status: Mapped[DeploymentStatus] = mapped_column(_enum(DeploymentStatus), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    categories: Mapped[list[str]] = mapped_column(JSON)
    dpia_reference: Mapped[str] = mapped_column(String(200))
    signage_confirmed: Mapped[bool] = mapped_column(Boolean)
    authorising_officer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    threshold: Mapped[float] = mapped_column(Float)
    embedder_key: Mapped[str] = mapped_column(String(200))
    two_person_verification: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    authorised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reference database checked (EU AI Act Art. 12(3)(b)): kept after the snapshot itself
    # is deleted.
    snapshot_hash: Mapped[str | None] = mapped_column(String(64))
    # Sinks named in the server config that this deployment's alerts go to, besides the
    # server-wide ones.
    sinks: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    # --- rule profiles (openlfr.governance.profiles; revision 0004) ---
    #: the rule profile it is authorised under (uk-app, eu-ai-act, custom) and its version
    profile: Mapped[str] = mapped_column(String(32), default="custom",
                                         server_default="custom")
    profile_version: Mapped[str | None] = mapped_column(String(32))
    #: per-deployment overrides of profile parameters: rule id -> {"value", "reason", "by",
    #: "at"}; each needs a stated reason and is audited
    profile_overrides: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=text("'{}'"))
    authorising_officer_rank: Mapped[str | None] = mapped_column(String(64))
    watchlist_criteria: Mapped[str | None] = mapped_column(Text)
    fria_reference: Mapped[str | None] = mapped_column(String(200))
    #: the legal ground for not requiring two-person verification (AI Act Art. 14(5) 2nd
    #: subparagraph), when it applies
    two_person_exception: Mapped[str | None] = mapped_column(Text)
    #: notification of the use to the market-surveillance and data-protection authorities
    notification_reference: Mapped[str | None] = mapped_column(String(200))
    #: the external (judicial or independent administrative) authorisation, AI Act Art. 5(3)
    external_authority: Mapped[str | None] = mapped_column(String(200))
    external_reference: Mapped[str | None] = mapped_column(String(200))
    external_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    external_scope: Mapped[str | None] = mapped_column(Text)
    #: granted | refused (None: not yet decided)
    external_decision: Mapped[str | None] = mapped_column(String(16))
    external_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: urgent use: started before the external authorisation, which is due by the deadline
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    urgent_reason: Mapped[str | None] = mapped_column(Text)
    urgent_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when a refused or lapsed urgent use had its alerts and probe images deleted
    urgent_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    cameras: Mapped[list[DeploymentCamera]] = relationship(
        back_populates="deployment", cascade="all, delete-orphan", lazy="selectin",
        order_by="DeploymentCamera.id")

    @property
    def camera_ids(self) -> tuple[str, ...]:
        return tuple(c.camera_id for c in self.cameras)


class DeploymentCamera(Base):
    __tablename__ = "deployment_cameras"
    __table_args__ = (UniqueConstraint("deployment_id", "camera_id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    #: for display: the URL with its password redacted (the plain URL in a row from before
    #: revision 0003 not yet read with the key; see ``source_secret``)
    source_url: Mapped[str] = mapped_column(Text)
    #: the URL itself, encrypted (AES-GCM, ``aad_for("deployment_cameras", id,
    #: "source_secret")``); read it with ``openlfr.governance.deployments.camera_source``
    source_secret: Mapped[bytes | None] = mapped_column(LargeBinary)

    deployment: Mapped[Deployment] = relationship(back_populates="cameras")


# --- watchlist ---------------------------------------------------------------------------


class Subject(Base):
    __tablename__ = "subjects"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(_enum(Category), index=True)
    source: Mapped[str] = mapped_column(Text)
    justification: Mapped[str] = mapped_column(Text)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    review_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expired_reason: Mapped[str | None] = mapped_column(Text)
    #: a child (under 18): not normally on a watchlist; included only with a justification
    under_18: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    under_18_justification: Mapped[str | None] = mapped_column(Text)

    images: Mapped[list[SubjectImage]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True,
        order_by="SubjectImage.id")
    templates: Mapped[list[Template]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", passive_deletes=True,
        order_by="Template.id")


class SubjectImage(Base):
    __tablename__ = "subject_images"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"),
                                            index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    subject: Mapped[Subject] = relationship(back_populates="images")


class Template(Base):
    """One face template (float32 vector), encrypted; keyed by the embedder that made it
    (``name:model_sha256``): templates from different embedders are not comparable."""

    __tablename__ = "templates"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"),
                                            index=True)
    embedder_key: Mapped[str] = mapped_column(String(200), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    subject: Mapped[Subject] = relationship(back_populates="templates")


class Snapshot(Base):
    """The frozen watchlist a deployment checks against (copies, so later edits don't
    change it); deleted by the retention sweeper after the deployment ends."""

    __tablename__ = "snapshots"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    subject_count: Mapped[int] = mapped_column(Integer)
    template_count: Mapped[int] = mapped_column(Integer)

    subjects: Mapped[list[SnapshotSubject]] = relationship(
        back_populates="snapshot", cascade="all, delete-orphan", passive_deletes=True,
        order_by="SnapshotSubject.id")


class SnapshotSubject(Base):
    __tablename__ = "snapshot_subjects"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"),
                                             index=True)
    subject_id: Mapped[int] = mapped_column(Integer)  # no FK: the copy outlives edits
    reference: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(_enum(Category))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    image_blob: Mapped[bytes | None] = mapped_column(LargeBinary)

    snapshot: Mapped[Snapshot] = relationship(back_populates="subjects")
    templates: Mapped[list[SnapshotTemplate]] = relationship(
        back_populates="snapshot_subject", cascade="all, delete-orphan", passive_deletes=True,
        order_by="SnapshotTemplate.id")


class SnapshotTemplate(Base):
    __tablename__ = "snapshot_templates"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_subject_id: Mapped[int] = mapped_column(
        ForeignKey("snapshot_subjects.id", ondelete="CASCADE"), index=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"),
                                             index=True)
    embedder_key: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)

    snapshot_subject: Mapped[SnapshotSubject] = relationship(back_populates="templates")


# --- alerts ------------------------------------------------------------------------------


class Alert(Base):
    """A possible match, for a human to decide. The probe image is encrypted and purged with
    the record after the retention period unless held with a stated reason."""

    __tablename__ = "alerts"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
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
    category: Mapped[Category] = mapped_column(_enum(Category))
    score: Mapped[float] = mapped_column(Float)
    snapshot_id: Mapped[int | None] = mapped_column(Integer)
    probe_sha256: Mapped[str] = mapped_column(String(64))
    probe_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[AlertStatus] = mapped_column(_enum(AlertStatus), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    held_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    adjudications: Mapped[list[Adjudication]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", passive_deletes=True,
        order_by="Adjudication.id", lazy="selectin")


class Adjudication(Base):
    __tablename__ = "adjudications"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"),
                                          index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[Outcome] = mapped_column(_enum(Outcome))
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
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


class BiasEvaluation(Base):
    """A recorded ``openlfr evaluate bias`` result on the user's own labelled data set, for
    one embedder and flip setting over a range of thresholds: live authorisation needs one
    (:mod:`openlfr.governance.profiles`)."""

    __tablename__ = "bias_evaluations"
    __table_args__ = (Index(None, "embedder_key", "flip"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    embedder_key: Mapped[str] = mapped_column(String(200))
    flip: Mapped[bool] = mapped_column(Boolean)
    dataset_name: Mapped[str] = mapped_column(String(200))
    dataset_description: Mapped[str] = mapped_column(Text, default="")
    thresholds_covered_min: Mapped[float] = mapped_column(Float)
    thresholds_covered_max: Mapped[float] = mapped_column(Float)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# --- audit -------------------------------------------------------------------------------


class AuditEntry(Base):
    """One link of the audit hash chain. ``details`` is canonical JSON (sorted keys, no
    whitespace) and holds references and hashes only, never images or templates."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[str] = mapped_column(Text)
    alg: Mapped[str] = mapped_column(String(16))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def payload(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at.isoformat(), "actor": self.actor,
                "action": self.action, "target": self.target, "details": self.details,
                "alg": self.alg, "prev_hash": self.prev_hash}


class AuditHead(Base):
    """The chain head (single row, id 1): locked by every append so appends are serialised.
    ``base_seq``/``base_hash``: the last entry purged by retention (0 and the genesis hash
    while none was); the chain verifies from there."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    base_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    base_hash: Mapped[str] = mapped_column(String(64), default="0" * 64,
                                           server_default="0" * 64)
