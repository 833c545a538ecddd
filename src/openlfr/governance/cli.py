"""Governance commands: ``db``, ``key``, ``user``, ``deployment``, ``watchlist subject`` and
``watchlist snapshot``, ``alerts``, ``retention``, ``audit``.

The acting user is named with ``--as USERNAME`` (or ``OPENLFR_AS``). The CLI is for local
operators who already have access to the database and key: it checks that user's role and
audits every action under their name, but it does not ask for their password (the API does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.errors import ConfigError, NotFound

if TYPE_CHECKING:
    import numpy as np
    from sqlalchemy.orm import Session

    from openlfr.governance.runtime import Store
    from openlfr.settings import Settings
    from openlfr.store.models import User

__all__ = ["register", "compute_templates", "parse_time"]

AsUser = Annotated[str | None, typer.Option("--as", envvar="OPENLFR_AS", show_envvar=True,
                                            help="The acting user (their roles are checked "
                                                 "and the action is audited in their name).")]
Dev = Annotated[bool, typer.Option("--dev", help="Development mode: create a local key "
                                   "file if no key is configured (same as OPENLFR_DEV=1).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

db_app = typer.Typer(no_args_is_help=True, help="Create or migrate the database.")
key_app = typer.Typer(no_args_is_help=True, help="Encryption keys.")
user_app = typer.Typer(no_args_is_help=True, help="Users, roles and API tokens.")
dep_app = typer.Typer(no_args_is_help=True, help="Deployments: authorise, start, stop, "
                      "review (draft -> authorised -> active -> ended -> reviewed).")
subject_app = typer.Typer(no_args_is_help=True, help="Watchlist subjects (accountable entries).")
snapshot_app = typer.Typer(no_args_is_help=True, help="The frozen, approved watchlist a "
                           "deployment checks against.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts and their adjudication.")
retention_app = typer.Typer(no_args_is_help=True, help="Retention: purge what the policy says.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")


# --- helpers -----------------------------------------------------------------------------


def _settings() -> Settings:
    from openlfr.settings import Settings

    return Settings()


def _now() -> datetime:
    return datetime.now(UTC)


_REL = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd])$")


def parse_time(text: str, now: datetime) -> datetime:
    """ISO 8601 with a time zone (``2026-03-02T09:00Z``), ``now``, or ``+2h`` / ``+30m`` /
    ``+7d`` from now."""
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


@contextmanager
def _store(*, need_key: bool, dev: bool = False) -> Iterator[Store]:
    from openlfr.governance.runtime import open_store

    store = open_store(_settings(), dev=True if dev else None, need_key=need_key)
    try:
        yield store
    finally:
        store.close()


def _actor(session: Session, username: str | None) -> User:
    from openlfr.governance.auth import get_user

    if not username:
        raise ConfigError("name the acting user with --as USERNAME (or set OPENLFR_AS)")
    try:
        return get_user(session, username)
    except NotFound:
        raise NotFound(f"no user named {username!r}: create one with `openlfr user add`"
                       ) from None


def _emit(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str, sort_keys=True))


def _table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        typer.echo("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")


# --- db / key ----------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="Target revision.")] = "head"
               ) -> None:
    """Create the schema or migrate it to the current version."""
    from openlfr.store import upgrade
    from openlfr.store.db import head_revision

    settings = _settings()
    url = settings.resolved_database_url
    upgrade(url, revision)
    typer.echo(f"database at revision {head_revision() if revision == 'head' else revision}",
               err=True)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision; 'base' "
                                                         "removes every OpenLFR table.")],
                 yes: Annotated[bool, typer.Option("--yes", help="Confirm.")] = False) -> None:
    """Migrate the schema down (destroys data in dropped tables)."""
    from openlfr.store import downgrade

    if not yes:
        raise ConfigError(f"downgrading to {revision} may destroy data: add --yes to confirm")
    downgrade(_settings().resolved_database_url, revision)
    typer.echo(f"database at revision {revision}", err=True)


@key_app.command("generate")
def key_generate() -> None:
    """Print a new encryption key (base64 of 32 random bytes) for OPENLFR_KEY."""
    from openlfr.governance.crypto import generate_key

    typer.echo(generate_key())


# --- helpers shared by the deployment commands (cli_deployments, cli_compliance, cli_drafts)


def _validation(exc: Any) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "input"
        parts.append(f"{loc}: {err['msg']}")
    return "invalid input: " + "; ".join(parts)


def _camera(text: str) -> dict[str, str]:
    cam, sep, url = text.partition("=")
    if not sep or not cam or not url:
        raise ConfigError(f"--camera {text!r}: use ID=SOURCE_URL (e.g. cam1=rtsp://host/s1)")
    return {"camera_id": cam, "source_url": url}


def _override(text: str) -> tuple[str, dict[str, Any]]:
    rule, _, rest = text.partition("=")
    value, _, reason = rest.partition(":")
    try:
        return rule, {"value": float(value), "reason": reason}
    except ValueError:
        raise ConfigError(f"--override {text!r}: use RULE=VALUE:REASON (e.g. "
                          "watchlist_size=3000:Gold commander's decision 12)") from None


# --- watchlist ---------------------------------------------------------------------------


def compute_templates(images: list[bytes], settings: Settings
                      ) -> list[tuple[str, np.ndarray]]:
    """Templates for enrolment images: the one switch-over point to the pipeline's
    ``openlfr.watchlist.enrol.compute_templates(images, settings)``."""
    try:
        from openlfr.watchlist import enrol
    except ImportError:
        raise ConfigError("template computation is not available in this installation "
                          "(openlfr.watchlist.enrol is missing): add --no-templates to enrol "
                          "without templates") from None
    return list(enrol.compute_templates(images, settings))


# --- registration ------------------------------------------------------------------------


def register(app: typer.Typer) -> None:
    # Importing these modules registers their commands on the sub-apps above, before the
    # compliance, drafts and keys commands, so each group's help lists them as before.
    from openlfr.governance import (  # noqa: F401
        cli_audit,
        cli_deployments,
        cli_users,
        cli_watchlist,
    )
    from openlfr.watchlist.cli_group import group

    app.add_typer(db_app, name="db")
    app.add_typer(key_app, name="key")
    app.add_typer(user_app, name="user")
    from openlfr.governance.cli_compliance import register as register_compliance
    from openlfr.governance.cli_drafts import register as register_drafts
    from openlfr.governance.cli_keys import register as register_keys

    register_compliance(dep_app)
    register_drafts(dep_app)
    register_keys(key_app)
    app.add_typer(dep_app, name="deployment")
    wl = group(app)
    wl.add_typer(subject_app, name="subject")
    wl.add_typer(snapshot_app, name="snapshot")
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(retention_app, name="retention")
    app.add_typer(audit_app, name="audit")
