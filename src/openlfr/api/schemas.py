"""API schemas. The store-facing Create / Update / Public schemas are governance's
(:mod:`openlfr.governance.schemas`), re-exported here; this module adds what only the API
needs (lists, login, transitions, adjudication input, audit, counts with intervals).

Public schemas list every field they expose; nothing else leaves the server. They never carry
images, templates, password hashes or token hashes, and camera source URLs lose any password.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from openlfr.governance.schema_types import Strict as _In  # forbids unknown fields and NULs
from openlfr.governance.schemas import (
    AlertPublic,
    CountersPublic,
    DeploymentCreate,
    DeploymentPublic,
    SnapshotPublic,
    SubjectPublic,
    TokenPublic,
    UserCreate,
    UserPublic,
    sane_year,
)
from openlfr.store.models import Outcome, Role

__all__ = [
    "AlertPublic", "CountersPublic", "DeploymentCreate", "DeploymentPublic", "SnapshotPublic",
    "SubjectPublic", "TokenPublic", "UserCreate", "UserPublic",
    "DeploymentDraft", "DeploymentList", "Transition", "ReviewIn", "SubjectList", "ExpireIn",
    "AlertView", "AlertList", "AdjudicationIn", "HoldIn", "AuditEntryPublic", "AuditList",
    "AuditVerifyPublic", "UserUpdate", "UserList", "TokenCreate", "TokenIssued", "LoginIn",
    "MePublic", "CameraLive", "CameraLiveList", "RatePublic", "DeploymentCounts",
    "MAX_DB_ID", "PathId", "QueryId", "QueryTime", "CameraIdPath", "ErrorBody",
    "ValidationIssue", "ClosedModel",
]

# --- bounds shared by every route's path and query parameters ------------------------------

#: Largest id the store holds: its ids are ``Integer`` columns (32-bit on PostgreSQL).
MAX_DB_ID = 2**31 - 1
#: A store id in a path (``/api/alerts/{alert_id}``): 1..2**31-1, else 422.
PathId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="A store id (1 to 2^31-1).")]
#: A store id in a query (``?deployment_id=``), the same bounds.
QueryId = Annotated[int, Query(ge=1, le=MAX_DB_ID, description="A store id (1 to 2^31-1).")]
#: A camera id in a path: as :class:`CameraSpec` accepts it.
CameraIdPath = Annotated[str, Path(min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9_.:-]+$")]
#: A point in time in a query: ISO 8601, in the years 2000..2100.
QueryTime = Annotated[datetime, AfterValidator(sane_year)]


class ClosedModel(BaseModel):
    """An answer's body with its declared fields only: an unknown field is an error. A field
    is documented by its ``description`` or by its attribute docstring."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: a message, or (422 on malformed input) the list of problems."""

    detail: str | list[ValidationIssue]


class DeploymentDraft(DeploymentCreate):
    """What the API accepts: governance's DeploymentCreate, with three fields defaulted.

    ``authorising_officer`` defaults to the caller, ``embedder_key`` and ``threshold`` to the
    running embedder and its recorded threshold."""

    authorising_officer: Annotated[str, Field(min_length=1, max_length=200)] | None = None  # type: ignore[assignment]
    threshold: float | None = Field(None, gt=0.0, lt=1.0)  # type: ignore[assignment]
    embedder_key: Annotated[str, Field(min_length=1, max_length=200)] | None = None  # type: ignore[assignment]


class DeploymentList(BaseModel):
    items: list[DeploymentPublic]


class Transition(_In):
    reason: Annotated[str, Field(max_length=500)] = ""


class ReviewIn(_In):
    note: Annotated[str, Field(min_length=1, max_length=4000)]


class RatePublic(BaseModel):
    successes: int
    total: int
    rate: float | None
    interval_95: tuple[float, float]
    text: str


class DeploymentCounts(BaseModel):
    counters: CountersPublic
    pending: int
    false_alert_rate: RatePublic | None  # None: fewer tracks counted than false alerts
    alert_precision: RatePublic


class SubjectList(BaseModel):
    items: list[SubjectPublic]


class ExpireIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "expired by watchlist manager"


class AlertView(AlertPublic):
    """An alert as the console shows it: with the deployment's threshold beside the score."""

    threshold: float | None = None
    #: the username of each decision's author, in the order of ``adjudications``
    deciders: list[str] = []


class AlertList(BaseModel):
    items: list[AlertView]


class HoldIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class AdjudicationIn(_In):
    outcome: Outcome
    note: Annotated[str, Field(max_length=2000)] | None = None
    #: why a rejected alert was a false alert (only with ``rejected``)
    reason: Annotated[str, Field(max_length=200)] | None = None


# --- audit -------------------------------------------------------------------------------


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor: str
    action: str
    target: str | None
    details: str
    hash: str


class AuditList(BaseModel):
    items: list[AuditEntryPublic]
    total: int


class AuditVerifyPublic(BaseModel):
    ok: bool
    entries: int
    problem: str | None = None


# --- users and sessions ------------------------------------------------------------------


class UserUpdate(_In):
    roles: Annotated[list[Role], Field(max_length=len(Role))] | None = None
    disabled: bool | None = None
    password: Annotated[SecretStr, Field(max_length=1024)] | None = None


class UserList(BaseModel):
    items: list[UserPublic]


class TokenCreate(_In):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    expires_days: float | None = Field(None, gt=0, le=366)


class TokenIssued(BaseModel):
    """Returned once, at creation: the token itself is never stored or shown again."""

    id: int
    name: str
    token: str
    expires_at: datetime | None


class LoginIn(_In):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[SecretStr, Field(max_length=1024)]


class MePublic(BaseModel):
    id: int
    username: str
    roles: list[Role]
    via: Literal["cookie", "token"]


class CameraLive(BaseModel):
    deployment_id: int
    camera_id: str
    running: bool
    url: str | None  # MJPEG live view; None when the camera could not be started
    error: str | None = None  # why it is not running (e.g. the source cannot be opened)


class CameraLiveList(BaseModel):
    items: list[CameraLive]
