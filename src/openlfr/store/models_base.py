"""The store's declarative base, its naming convention and the enums stored in it.

Enums are stored as their values, as plain strings (:func:`stored_enum`).
"""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Enum, ForeignKey, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "NAMING", "stored_enum", "NumberedRow", "owned_rows", "parent_key", "Role",
           "DeploymentKind", "DeploymentStatus", "Category", "AlertStatus", "DeliveryStatus",
           "Outcome"]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class NumberedRow:
    """A table whose integer ids are never reused (``sqlite_autoincrement``), so a reference
    in the audit log names one row forever."""

    __table_args__: Any = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-1)


def owned_rows(back_populates: str, order_by: str, **options: Any) -> Any:
    """The rows a parent owns: they go with it, in the database (``ON DELETE CASCADE``,
    so the ORM need not load them first) and in the session."""
    return relationship(back_populates=back_populates, cascade="all, delete-orphan",
                        passive_deletes=True, order_by=order_by, **options)


def parent_key(target: str) -> Any:
    """An indexed key to the owning row (``"table.id"``); the row goes when its parent does."""
    return mapped_column(ForeignKey(target, ondelete="CASCADE"), index=True)


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


def stored_enum(cls: type[enum.Enum]) -> Enum:
    """The column type of an enum: its values as plain strings."""
    # Stored as plain strings (values, not names); no CHECK constraint, so adding a value needs
    # no table rebuild on SQLite. The Python side validates.
    return Enum(cls, native_enum=False, length=32, create_constraint=False,
                values_callable=lambda e: [m.value for m in e])
