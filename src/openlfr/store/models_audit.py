"""Evidence kept for oversight: the recorded bias evaluations and the audit hash chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openlfr.store.models_base import Base
from openlfr.store.types import UTCDateTime

__all__ = ["BiasEvaluation", "AuditEntry", "AuditHead"]


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
