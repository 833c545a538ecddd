"""The watchlist (subjects, their images and templates) and the snapshots deployments
check against.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openlfr.store.models_base import (
    Base,
    Category,
    NumberedRow,
    owned_rows,
    parent_key,
    stored_enum,
)
from openlfr.store.types import UTCDateTime

__all__ = ["Subject", "SubjectImage", "Template", "Snapshot", "SnapshotSubject", "SnapshotTemplate"]


class Subject(NumberedRow, Base):
    __tablename__ = "subjects"

    reference: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(stored_enum(Category), index=True)
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

    images: Mapped[list[SubjectImage]] = owned_rows("subject", "SubjectImage.id")
    templates: Mapped[list[Template]] = owned_rows("subject", "Template.id")


class SubjectImage(NumberedRow, Base):
    __tablename__ = "subject_images"

    subject_id: Mapped[int] = parent_key("subjects.id")
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    subject: Mapped[Subject] = relationship(back_populates="images")


class Template(NumberedRow, Base):
    """One face template (float32 vector), encrypted; keyed by the embedder that made it
    (``name:model_sha256``): templates from different embedders are not comparable."""

    __tablename__ = "templates"

    subject_id: Mapped[int] = parent_key("subjects.id")
    embedder_key: Mapped[str] = mapped_column(String(200), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    subject: Mapped[Subject] = relationship(back_populates="templates")


class Snapshot(NumberedRow, Base):
    """The frozen watchlist a deployment checks against (copies, so later edits don't
    change it); deleted by the retention sweeper after the deployment ends."""

    __tablename__ = "snapshots"

    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    content_hash: Mapped[str] = mapped_column(String(64))
    subject_count: Mapped[int] = mapped_column(Integer)
    template_count: Mapped[int] = mapped_column(Integer)

    subjects: Mapped[list[SnapshotSubject]] = owned_rows("snapshot", "SnapshotSubject.id")


class SnapshotSubject(NumberedRow, Base):
    __tablename__ = "snapshot_subjects"

    snapshot_id: Mapped[int] = parent_key("snapshots.id")
    subject_id: Mapped[int] = mapped_column(Integer)  # no FK: the copy outlives edits
    reference: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[Category] = mapped_column(stored_enum(Category))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    image_blob: Mapped[bytes | None] = mapped_column(LargeBinary)

    snapshot: Mapped[Snapshot] = relationship(back_populates="subjects")
    templates: Mapped[list[SnapshotTemplate]] = owned_rows("snapshot_subject",
                                                           "SnapshotTemplate.id")


class SnapshotTemplate(NumberedRow, Base):
    __tablename__ = "snapshot_templates"

    snapshot_subject_id: Mapped[int] = parent_key("snapshot_subjects.id")
    snapshot_id: Mapped[int] = parent_key("snapshots.id")
    embedder_key: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)

    snapshot_subject: Mapped[SnapshotSubject] = relationship(back_populates="templates")
