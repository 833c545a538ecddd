"""Pydantic schemas, split Create / Update / Public. Public schemas never carry biometric data
(images, templates) or secrets (password hashes, token hashes, camera URL credentials)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from openlfr.governance.record_schemas import (
    AdjudicationPublic,
    AlertPublic,
    CountersPublic,
    SnapshotPublic,
    SubjectCreate,
    SubjectPublic,
)
from openlfr.governance.schema_types import (
    MAX_DEPLOYMENT_CAMERAS,
    MAX_DEPLOYMENT_SINKS,
    MAX_YEAR,
    MIN_YEAR,
    AwareDatetime,
    ShortText,
    SinkName,
    Text,
    no_nul,
    sane_year,
)
from openlfr.governance.schema_types import Public as _Public
from openlfr.governance.schema_types import Strict as _Strict
from openlfr.store.models import Category, DeploymentKind, DeploymentStatus, Role
from openlfr.urls import redact_url  # re-exported: the one definition is in the core

__all__ = ["UserCreate", "UserPublic", "TokenPublic", "CameraSpec", "CameraPublic",
           "DeploymentCreate", "DeploymentUpdate", "DeploymentPublic", "SubjectCreate",
           "SubjectPublic", "SnapshotPublic", "AlertPublic", "AdjudicationPublic",
           "CountersPublic", "RuleOverrideIn", "redact_url",
           "no_nul", "sane_year", "MIN_YEAR", "MAX_YEAR"]

# --- users ---


class UserCreate(_Strict):
    username: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
    display_name: str = Field("", max_length=200)
    roles: list[Role] = Field(min_length=1, max_length=len(Role))
    password: str | None = Field(None, min_length=8, max_length=1024, repr=False)


class UserPublic(_Public):
    id: int
    username: str
    display_name: str
    roles: list[Role]
    disabled: bool
    created_at: datetime

    @field_validator("roles", mode="before")
    @classmethod
    def _sorted(cls, v: Any) -> Any:
        return sorted(v, key=lambda r: str(r))


class TokenPublic(_Public):
    id: int
    user_id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


# --- deployments ---


class CameraSpec(_Strict):
    camera_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    source_url: Annotated[str, Field(min_length=1, max_length=2000)]


class CameraPublic(_Public):
    camera_id: str
    source_url: str

    @field_validator("source_url")
    @classmethod
    def _redact(cls, v: str) -> str:
        return redact_url(v)


#: A rule id of a profile (openlfr/governance/profiles/*.yaml).
RuleId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
MAX_OVERRIDES = 16


class RuleOverrideIn(_Strict):
    """Another value for an overridable rule of the profile (a cap, a limit), with why."""

    value: float = Field(ge=0, le=1e9)
    reason: Text


class _ProfileFields(_Strict):
    """What the rule profiles look at, besides the core deployment fields."""

    authorising_officer_rank: ShortText | None = Field(None, description="e.g. "
                                                       "Superintendent (uk-app).")
    watchlist_criteria: Text | None = Field(None, description="Who may be on this "
                                            "operation's watchlist, and why (uk-app).")
    fria_reference: ShortText | None = Field(None, description="Fundamental-rights impact "
                                             "assessment (AI Act Art. 27).")
    notification_reference: ShortText | None = Field(None, description="The notification "
                                                     "of the market-surveillance and data-"
                                                     "protection authorities (Art. 5(4)).")
    two_person_exception: Text | None = Field(None, description="The legal ground for "
                                              "no two-person verification (Art. 14(5)).")


def _no_repeats(cameras: list[CameraSpec], categories: list[Category]) -> None:
    ids = [c.camera_id for c in cameras]
    if len(set(ids)) != len(ids):
        raise ValueError(f"camera ids must be unique, got {ids}")
    if len(set(categories)) != len(categories):
        raise ValueError("categories must not repeat")


class DeploymentCreate(_ProfileFields):
    name: ShortText
    kind: DeploymentKind = DeploymentKind.LIVE
    purpose: Text
    legal_basis: Text
    location: Text
    window_start: AwareDatetime
    window_end: AwareDatetime
    cameras: list[CameraSpec] = Field(min_length=1, max_length=MAX_DEPLOYMENT_CAMERAS)
    categories: list[Category] = Field(min_length=1, max_length=len(Category))
    dpia_reference: ShortText
    signage_confirmed: bool
    authorising_officer: ShortText  # username
    threshold: float = Field(gt=0.0, lt=1.0, description="Cosine similarity threshold, "
                             "calibrated on data for this embedder (never assumed).")
    embedder_key: ShortText = Field(description="The embedder's name:model_sha256.")
    two_person_verification: bool = False
    sinks: list[SinkName] = Field(
        default_factory=list, max_length=MAX_DEPLOYMENT_SINKS,
        description="Sinks of the server config file this deployment's alerts also go to, "
        "besides the server-wide ones (a name the server does not have stays pending and is "
        "reported as unconfigured).")
    urgent: bool = Field(False, description="Urgent use: it may start before the external "
                         "authorisation, due within the profile's deadline of the start.")
    urgent_reason: Text | None = None
    overrides: dict[RuleId, RuleOverrideIn] = Field(
        default_factory=dict, max_length=MAX_OVERRIDES,
        description="Rule id -> another value, with a stated reason (audited).")

    @field_validator("sinks")
    @classmethod
    def _unique_sinks(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))  # deduplicated, first mention first

    @model_validator(mode="after")
    def _check(self) -> DeploymentCreate:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        _no_repeats(self.cameras, self.categories)
        if self.urgent and not self.urgent_reason:
            raise ValueError("urgent use needs urgent_reason")
        return self


class DeploymentUpdate(_ProfileFields):
    """Changes allowed while a deployment is a draft."""

    name: ShortText | None = None
    purpose: Text | None = None
    legal_basis: Text | None = None
    location: Text | None = None
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    categories: Annotated[list[Category],
                          Field(min_length=1, max_length=len(Category))] | None = None
    dpia_reference: ShortText | None = None
    signage_confirmed: bool | None = None
    threshold: float | None = Field(None, gt=0.0, lt=1.0)
    two_person_verification: bool | None = None
    overrides: Annotated[dict[RuleId, RuleOverrideIn],
                         Field(max_length=MAX_OVERRIDES)] | None = None
    cameras: Annotated[list[CameraSpec],
                       Field(min_length=1, max_length=MAX_DEPLOYMENT_CAMERAS)] | None = None
    embedder_key: ShortText | None = None
    authorising_officer: ShortText | None = None  # username
    sinks: Annotated[list[SinkName], Field(max_length=MAX_DEPLOYMENT_SINKS)] | None = None
    urgent: bool | None = None
    urgent_reason: Text | None = None

    #: Fields that may be cleared with an explicit null (the rest are required on a
    #: deployment: a null there is a mistake, refused with a 422, not a database error).
    NULLABLE: ClassVar[frozenset[str]] = frozenset(_ProfileFields.model_fields) | {
        "urgent_reason"}

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            bad = sorted(k for k, v in data.items() if v is None and k not in cls.NULLABLE)
            if bad:
                raise ValueError(f"{', '.join(bad)} cannot be null: leave a field out to "
                                 "keep its value")
        return data

    @model_validator(mode="after")
    def _check(self) -> DeploymentUpdate:
        _no_repeats(self.cameras or [], self.categories or [])
        if self.sinks is not None:
            self.sinks = list(dict.fromkeys(self.sinks))
        return self


class DeploymentPublic(_Public):
    id: int
    name: str
    kind: DeploymentKind
    status: DeploymentStatus
    purpose: str
    legal_basis: str
    location: str
    window_start: datetime
    window_end: datetime
    cameras: list[CameraPublic]
    categories: list[Category]
    dpia_reference: str
    signage_confirmed: bool
    authorising_officer_id: int
    created_by_id: int
    threshold: float
    embedder_key: str
    two_person_verification: bool
    sinks: list[str] = Field(default_factory=list)
    created_at: datetime
    authorised_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    reviewed_at: datetime | None
    review_note: str | None
    cancelled_at: datetime | None
    snapshot_hash: str | None
    profile: str = "custom"
    profile_version: str | None = None
    profile_overrides: dict[str, Any] = Field(default_factory=dict)
    authorising_officer_rank: str | None = None
    watchlist_criteria: str | None = None
    fria_reference: str | None = None
    notification_reference: str | None = None
    two_person_exception: str | None = None
    external_authority: str | None = None
    external_reference: str | None = None
    external_date: datetime | None = None
    external_scope: str | None = None
    external_decision: str | None = None
    urgent: bool = False
    urgent_reason: str | None = None
    urgent_deadline: datetime | None = None
    urgent_purged_at: datetime | None = None


# --- watchlist ---
