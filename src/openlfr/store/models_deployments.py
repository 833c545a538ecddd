"""Deployments and their cameras."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openlfr.store.models_base import Base, DeploymentKind, DeploymentStatus, stored_enum
from openlfr.store.types import UTCDateTime

__all__ = ["Deployment", "DeploymentCamera"]


class Deployment(Base):
    __tablename__ = "deployments"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[DeploymentKind] = mapped_column(stored_enum(DeploymentKind))
    status: Mapped[DeploymentStatus] = mapped_column(stored_enum(DeploymentStatus), index=True)
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
