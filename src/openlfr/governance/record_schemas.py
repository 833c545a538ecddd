"""Schemas of the watchlist and of what cameras raise: subjects, snapshots, alerts, their
adjudications and the aggregate counters (re-exported by :mod:`openlfr.governance.schemas`).
Public schemas carry no image and no template."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from openlfr.governance.schema_types import AwareDatetime, ShortText, Text
from openlfr.governance.schema_types import Public as _Public
from openlfr.governance.schema_types import Strict as _Strict
from openlfr.store.models import AlertStatus, Category, Outcome

__all__ = ["SubjectCreate", "SubjectPublic", "SnapshotPublic", "AdjudicationPublic",
           "AlertPublic", "CountersPublic"]

class SubjectCreate(_Strict):
    reference: Annotated[str, Field(min_length=1, max_length=64)]
    name: ShortText
    category: Category
    source: Text = Field(description="Where the entry and its image come from (provenance).")
    justification: Text
    expires_at: AwareDatetime
    review_at: AwareDatetime | None = None
    under_18: bool = Field(False, description="A child: not normally on a watchlist.")
    under_18_justification: Text | None = Field(None, description="Why this child is on "
                                                "it (the profiles refuse one without).")


class SubjectPublic(_Public):
    id: int
    reference: str
    name: str
    category: Category
    source: str
    justification: str
    added_by_id: int
    created_at: datetime
    review_at: datetime | None
    expires_at: datetime
    expired_at: datetime | None
    expired_reason: str | None
    under_18: bool = False
    under_18_justification: str | None = None
    image_count: int = 0
    template_keys: list[str] = []

    @model_validator(mode="before")
    @classmethod
    def _counts(cls, data: Any) -> Any:
        if isinstance(data, dict) or not hasattr(data, "images"):
            return data
        out = {name: getattr(data, name) for name in cls.model_fields
               if name not in ("image_count", "template_keys")}
        return out | {"image_count": len(data.images),
                      "template_keys": sorted({t.embedder_key for t in data.templates})}


class SnapshotPublic(_Public):
    id: int
    deployment_id: int
    created_by_id: int
    created_at: datetime
    approved_by_id: int | None
    approved_at: datetime | None
    content_hash: str
    subject_count: int
    template_count: int


# --- alerts ---


class AdjudicationPublic(_Public):
    id: int
    alert_id: int
    user_id: int
    outcome: Outcome
    note: str | None
    created_at: datetime


class AlertPublic(_Public):
    id: int
    deployment_id: int
    camera_id: str
    track_id: str
    subject_id: int | None
    subject_reference: str
    subject_name: str
    category: Category
    score: float
    snapshot_id: int | None
    probe_sha256: str
    has_probe_image: bool
    created_at: datetime
    status: AlertStatus
    decided_at: datetime | None
    hold_reason: str | None
    adjudications: list[AdjudicationPublic]

    @model_validator(mode="before")
    @classmethod
    def _has_image(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return {name: getattr(data, name) for name in cls.model_fields
                    if name != "has_probe_image"} | {
                "has_probe_image": getattr(data, "probe_blob", None) is not None}
        return data


class CountersPublic(BaseModel):
    deployment_id: int
    camera_id: str | None  # None: all cameras
    frames: int
    dropped: int
    faces: int
    tracks: int
    alerts: int
    confirmed: int
    rejected: int
    not_engaged: int
