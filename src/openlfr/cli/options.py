"""What every command group shares, defined once: the ``--as``, ``--json``, ``--config`` and
``--dev`` options, the detector and embedder choices, reading times and dates (always UTC),
pydantic errors as one message, and :func:`emit`, the one way a command prints its result
(one JSON object with ``--json``, else lines or a table for people).

Convention: with ``--json`` a command prints exactly one JSON object on stdout and nothing
else there; progress and the reason for long work go to stderr.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from openlfr.configio import validation_lines
from openlfr.errors import ConfigError

__all__ = ["AsUser", "Json", "Dev", "acting_user_option", "json_option", "config_option",
           "DetectorChoice", "EmbedderChoice", "parse_time", "parse_day", "invalid_input",
           "Table", "emit"]


def acting_user_option(help: str = "The acting user (their roles are checked and the "
                       "action is audited in their name).") -> Any:
    """``--as USERNAME`` (or ``OPENLFR_AS``): whose roles are checked and in whose name the
    action is audited. The CLI is for local operators who already hold the database and key:
    it does not ask for the password (the API does)."""
    return Annotated[str | None, typer.Option("--as", envvar="OPENLFR_AS", show_envvar=True,
                                              help=help)]


def json_option(help: str = "Print one JSON object.") -> Any:
    """``--json``: print exactly one JSON object on stdout (see :func:`emit`)."""
    return Annotated[bool, typer.Option("--json", help=help)]


def config_option(help: str, *short: str) -> Any:
    """``--config FILE`` (a YAML file; what it holds depends on the command)."""
    return Annotated[Path | None, typer.Option("--config", *short, help=help)]


AsUser = acting_user_option()
Json = json_option()
Dev = Annotated[bool, typer.Option("--dev", help="Development mode: create a local key "
                                   "file if no key is configured (same as OPENLFR_DEV=1).")]


class DetectorChoice(StrEnum):
    scrfd = "scrfd"
    yunet = "yunet"


class EmbedderChoice(StrEnum):
    arcface = "arcface"
    dlib = "dlib"


_REL = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd])$")


def parse_time(text: str, now: datetime) -> datetime:
    """ISO 8601 with a time zone (``2026-03-02T09:00Z``), ``now``, or ``+2h`` / ``+30m`` /
    ``+7d`` from now; the result in UTC."""
    text = text.strip()
    if text == "now":
        return now
    m = _REL.match(text)
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return now + timedelta(**{unit: float(m.group(1))})
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"cannot read time {text!r}: use ISO 8601 with a time zone "
                          "(2026-03-02T09:00Z), 'now' or '+8h'") from None
    if value.tzinfo is None:
        raise ConfigError(f"time {text!r} has no time zone: add Z or an offset like +01:00")
    return value.astimezone(UTC)


def parse_day(text: str, end: bool) -> datetime:
    """A day (``YYYY-MM-DD``, UTC; as the ``end`` of a period it includes that day) or an ISO
    8601 time (UTC when it names no zone)."""
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            t = datetime.combine(d, time(0, 0), tzinfo=UTC)
            return t + timedelta(days=1) if end else t
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"cannot read the date {text!r}: use YYYY-MM-DD or ISO 8601") from exc
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def invalid_input(exc: ValidationError) -> ConfigError:
    """The error to raise for input a schema refused: every problem on one line, never the
    values given."""
    return ConfigError("invalid input: " + "; ".join(validation_lines(exc)))


@dataclass(frozen=True)
class Table:
    """Rows under a header, columns padded to their widest cell."""

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]

    def lines(self) -> list[str]:
        everything = [self.header, *self.rows]
        widths = [max(len(str(r[i])) for r in everything) for i in range(len(self.header))]
        return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                for r in everything]


def emit(result: Any, as_json: bool, human: Iterable[str] | Table = (), *,
         indent: int | None = None) -> None:
    """Print a command's result: with ``--json`` the one JSON object (keys sorted; times and
    paths as text), else the lines (or the table) for people."""
    if as_json:
        typer.echo(json.dumps(result, default=str, sort_keys=True, indent=indent))
        return
    for line in human.lines() if isinstance(human, Table) else human:
        typer.echo(line)
