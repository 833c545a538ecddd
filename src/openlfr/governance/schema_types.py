"""The building blocks of the governance schemas: strict input, public output, bounded text,
sane dates (no NUL byte reaches the store; no year-25 window reaches a report)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from openlfr.store.types import as_utc

__all__ = ["no_nul", "sane_year", "MIN_YEAR", "MAX_YEAR", "AwareDatetime", "Text", "ShortText",
           "SinkName", "MAX_DEPLOYMENT_SINKS", "MAX_DEPLOYMENT_CAMERAS", "Strict", "Public"]

#: Years a deployment window, an expiry or a review date may fall in (a year-25 window broke
#: the reports; dates past 2100 are typos).
MIN_YEAR, MAX_YEAR = 2000, 2100


def sane_year(value: datetime) -> datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def no_nul(value: Any) -> Any:
    """Refuse NUL bytes anywhere in the input (PostgreSQL cannot store them in text)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text may not contain a NUL character")
    elif isinstance(value, dict):
        for k, v in value.items():
            no_nul(k)
            no_nul(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            no_nul(v)
    return value


AwareDatetime = Annotated[datetime, AfterValidator(as_utc), AfterValidator(sane_year)]
Text = Annotated[str, Field(min_length=1, max_length=10_000)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
#: A sink of the server config file (``sinks:`` there), named by a deployment.
SinkName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MAX_DEPLOYMENT_SINKS = 16
#: Most cameras one deployment names.
MAX_DEPLOYMENT_CAMERAS = 256


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return no_nul(data)


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)
