"""Governance commands: ``db``, ``key``, ``user``, ``deployment``, ``watchlist subject`` and
``watchlist snapshot``, ``alerts``, ``retention``, ``audit``.

The acting user is named with ``--as USERNAME`` (or ``OPENLFR_AS``). The CLI is for local
operators who already have access to the database and key: it checks that user's role and
audits every action under their name, but it does not ask for their password (the API does).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openlfr.errors import ConfigError, ImageError, NotFound

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


# --- users -------------------------------------------------------------------------------


@user_app.command("add")
def user_add(username: str,
             role: Annotated[list[str], typer.Option("--role", "-r", help="Role (repeat for "
                                                     "several): authorising_officer, "
                                                     "watchlist_manager, operator, "
                                                     "engagement_officer, auditor, admin.")],
             display_name: Annotated[str, typer.Option(help="Full name.")] = "",
             password_stdin: Annotated[bool, typer.Option(
                 "--password-stdin", help="Read a password from stdin (for console/API "
                 "login).")] = False,
             as_user: AsUser = None, as_json: Json = False) -> None:
    """Add a user. The first user needs no --as (bootstrap an admin)."""
    from pydantic import ValidationError

    from openlfr.governance import auth
    from openlfr.governance.schemas import UserCreate, UserPublic

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        data = UserCreate(username=username, display_name=display_name, roles=role,
                          password=password)
    except ValidationError as exc:
        raise ConfigError(_validation(exc)) from None
    with _store(need_key=False) as store, store.session() as s:
        actor = _actor(s, as_user) if as_user else None
        user = auth.create_user(s, actor, data, now=_now())
        out = _dump(UserPublic.model_validate(user))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"user {out['username']} ({', '.join(out['roles'])}) created")


@user_app.command("list")
def user_list(as_user: AsUser = None, as_json: Json = False) -> None:
    """List users and their roles."""
    from openlfr.governance import auth
    from openlfr.governance.schemas import UserPublic

    with _store(need_key=False) as store, store.session() as s:
        users = [_dump(UserPublic.model_validate(u))
                 for u in auth.list_users(s, _actor(s, as_user), now=_now())]
    if as_json:
        _emit({"users": users})
        return
    _table([[u["username"], ",".join(u["roles"]), "disabled" if u["disabled"] else ""]
            for u in users], ["user", "roles", ""])


@user_app.command("token")
def user_token(username: Annotated[str | None, typer.Argument(help="Whose token (default: "
                                                               "the acting user).")] = None,
               name: Annotated[str, typer.Option(help="A label for the token.")] = "",
               expires_days: Annotated[float | None, typer.Option(help="Expire after this "
                                                                  "many days.")] = None,
               as_user: AsUser = None) -> None:
    """Issue an API token. It is printed once; only its hash is stored."""
    from openlfr.governance import auth

    now = _now()
    with _store(need_key=False) as store, store.session() as s:
        _, token = auth.issue_token(s, _actor(s, as_user), username, name, now=now,
                                    expires_at=now + timedelta(days=expires_days)
                                    if expires_days else None)
    typer.echo(token)


@user_app.command("revoke-token")
def user_revoke_token(token_id: int, as_user: AsUser = None) -> None:
    """Revoke an API token by id."""
    from openlfr.governance import auth

    with _store(need_key=False) as store, store.session() as s:
        auth.revoke_token(s, _actor(s, as_user), token_id, now=_now())
    typer.echo(f"token {token_id} revoked", err=True)


@user_app.command("disable")
def user_disable(username: str, as_user: AsUser = None) -> None:
    """Disable a user and revoke their tokens (users are never deleted)."""
    from openlfr.governance import auth

    with _store(need_key=False) as store, store.session() as s:
        auth.disable_user(s, _actor(s, as_user), username, now=_now())
    typer.echo(f"user {username} disabled", err=True)


# --- deployments -------------------------------------------------------------------------


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


@dep_app.command("create")
def dep_create(
    name: Annotated[str | None, typer.Option(help="Short name.")] = None,
    purpose: Annotated[str | None, typer.Option(help="Why (the policing purpose).")] = None,
    legal_basis: Annotated[str | None, typer.Option(help="The legal basis relied on.")] = None,
    location: Annotated[str | None, typer.Option(help="Where.")] = None,
    start: Annotated[str | None, typer.Option(help="Window start (ISO 8601 with zone, 'now', "
                                              "'+1h').")] = None,
    end: Annotated[str | None, typer.Option(help="Window end.")] = None,
    camera: Annotated[list[str] | None, typer.Option(help="ID=SOURCE_URL (repeat).")] = None,
    category: Annotated[list[str] | None, typer.Option(help="Watchlist category (repeat).")
                        ] = None,
    dpia: Annotated[str | None, typer.Option(help="DPIA reference.")] = None,
    signage: Annotated[bool | None, typer.Option("--signage-confirmed/--no-signage",
                                                 help="Public signage is in place.")] = None,
    officer: Annotated[str | None, typer.Option(help="Authorising officer's username.")
                       ] = None,
    threshold: Annotated[float | None, typer.Option(help="Similarity threshold (calibrated "
                                                    "for the embedder).")] = None,
    embedder: Annotated[str | None, typer.Option(help="Embedder key name:model_sha256.")
                        ] = None,
    kind: Annotated[str | None, typer.Option(help="live or evaluation.")] = None,
    two_person: Annotated[bool | None, typer.Option("--two-person/--one-person",
                                                    help="Two-person verification of "
                                                    "alerts.")] = None,
    sink: Annotated[list[str] | None, typer.Option(help="A sink of the server config file "
                                                   "this deployment's alerts also go to "
                                                   "(repeat).")] = None,
    rank: Annotated[str | None, typer.Option(help="The authorising officer's rank.")] = None,
    criteria: Annotated[str | None, typer.Option(help="Watchlist criteria.")] = None,
    fria: Annotated[str | None, typer.Option(help="FRIA reference (AI Act Art. 27).")] = None,
    notification: Annotated[str | None, typer.Option(help="Reference of the notification "
                                                     "of the authorities (Art. 5(4)).")] = None,
    two_person_exception: Annotated[str | None, typer.Option(help="Legal ground for no "
                                                             "two-person check.")] = None,
    urgent: Annotated[str | None, typer.Option(help="Urgent use, with its reason (where the "
                                               "profile allows it).")] = None,
    override: Annotated[list[str] | None, typer.Option(help="RULE=VALUE:REASON, another "
                                                       "value for a rule (repeat).")] = None,
    file: Annotated[Path | None, typer.Option(help="YAML/JSON file with the fields; options "
                                              "override it.")] = None,
    as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Create a deployment (draft) with every field the law asks for (and the rule
    profile's: docs/compliance.md)."""
    from pydantic import ValidationError

    from openlfr.configio import read_yaml_mapping
    from openlfr.governance import deployments as D
    from openlfr.governance.schemas import DeploymentCreate, DeploymentPublic

    now = _now()
    fields: dict[str, Any] = {}
    if file is not None:
        fields.update(read_yaml_mapping(file, "deployment fields"))
    given = {"name": name, "purpose": purpose, "legal_basis": legal_basis,
             "location": location, "dpia_reference": dpia, "signage_confirmed": signage,
             "authorising_officer": officer, "threshold": threshold, "embedder_key": embedder,
             "kind": kind, "two_person_verification": two_person,
             "window_start": parse_time(start, now) if start else None,
             "window_end": parse_time(end, now) if end else None,
             "cameras": [_camera(c) for c in camera] if camera else None,
             "categories": category or None, "sinks": sink or None,
             "authorising_officer_rank": rank, "watchlist_criteria": criteria,
             "fria_reference": fria, "notification_reference": notification,
             "two_person_exception": two_person_exception, "urgent": True if urgent else None,
             "urgent_reason": urgent,
             "overrides": dict(_override(o) for o in override) if override else None}
    fields.update({k: v for k, v in given.items() if v is not None})
    for k in ("window_start", "window_end"):
        if isinstance(fields.get(k), str):
            fields[k] = parse_time(fields[k], now)
    if fields.get("signage_confirmed") is None:
        fields["signage_confirmed"] = False
    try:
        data = DeploymentCreate(**fields)
    except ValidationError as exc:
        raise ConfigError(_validation(exc)) from None
    from openlfr.governance.schemas import redact_url

    # camera credentials are stored encrypted: a URL with a password needs the key
    secret = any(redact_url(c.source_url) != c.source_url for c in data.cameras)
    with _store(need_key=secret) as store, store.session() as s:
        dep = D.create_deployment(s, _actor(s, as_user), data, now)
        out = _dump(DeploymentPublic.model_validate(dep))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"deployment {out['id']} created (draft)")


def _transition(op: str, deployment_id: int, as_user: str | None, as_json: bool,
                **kw: Any) -> None:
    from openlfr.governance import deployments as D
    from openlfr.governance.schemas import DeploymentPublic

    with _store(need_key=False) as store, store.session() as s:
        dep = getattr(D, op)(s, _actor(s, as_user), deployment_id, _now(), **kw)
        out = _dump(DeploymentPublic.model_validate(dep))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"deployment {deployment_id} is {out['status']}")


@dep_app.command("authorise")
def dep_authorise(deployment_id: int, as_user: AsUser = None, as_json: Json = False) -> None:
    """draft -> authorised (by the named authorising officer), once every rule of the
    profile holds; shows the expected false alert rate for the snapshot's size."""
    from openlfr.governance import deployments as D
    from openlfr.governance.cli_compliance import print_assessment
    from openlfr.governance.facts import assess
    from openlfr.governance.schemas import DeploymentPublic

    with _store(need_key=False) as store, store.session() as s:
        dep = D.authorise(s, _actor(s, as_user), deployment_id, _now())
        out = _dump(DeploymentPublic.model_validate(dep))
        out["assessment"] = assess(s, dep, _now()).to_dict()
    if as_json:
        _emit(out)
    else:
        print_assessment(out["assessment"])
        typer.echo(f"deployment {deployment_id} is {out['status']}")


@dep_app.command("start")
def dep_start(deployment_id: int, as_user: AsUser = None, as_json: Json = False) -> None:
    """authorised -> active (inside the window, with an approved snapshot)."""
    _transition("start", deployment_id, as_user, as_json)


@dep_app.command("stop")
def dep_stop(deployment_id: int, reason: Annotated[str, typer.Option()] = "stopped",
             as_user: AsUser = None, as_json: Json = False) -> None:
    """active -> ended."""
    _transition("stop", deployment_id, as_user, as_json, reason=reason)


@dep_app.command("review")
def dep_review(deployment_id: int, note: Annotated[str, typer.Option()] = "",
               as_user: AsUser = None, as_json: Json = False) -> None:
    """ended -> reviewed."""
    _transition("review", deployment_id, as_user, as_json, note=note)


@dep_app.command("cancel")
def dep_cancel(deployment_id: int, reason: Annotated[str, typer.Option()] = "",
               as_user: AsUser = None, as_json: Json = False) -> None:
    """draft or authorised -> cancelled."""
    _transition("cancel", deployment_id, as_user, as_json, reason=reason)


@dep_app.command("list")
def dep_list(status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
             as_user: AsUser = None, as_json: Json = False) -> None:
    """List deployments."""
    from openlfr.governance import deployments as D
    from openlfr.governance.schemas import DeploymentPublic
    from openlfr.store.models import DeploymentStatus

    try:
        st = DeploymentStatus(status) if status else None
    except ValueError:
        raise ConfigError(f"unknown status {status!r}: one of "
                          f"{', '.join(s.value for s in DeploymentStatus)}") from None
    with _store(need_key=False) as store, store.session() as s:
        deps = [_dump(DeploymentPublic.model_validate(d))
                for d in D.list_deployments(s, _actor(s, as_user), status=st, now=_now())]
    if as_json:
        _emit({"deployments": deps})
        return
    _table([[str(d["id"]), d["status"], d["kind"], d["name"], d["window_start"][:16],
             d["window_end"][:16]] for d in deps],
           ["id", "status", "kind", "name", "from (UTC)", "to (UTC)"])


@dep_app.command("show")
def dep_show(deployment_id: int, as_user: AsUser = None, as_json: Json = False) -> None:
    """Show a deployment, its snapshot and (with the counters.view permission) its
    counters."""
    from sqlalchemy import select

    from openlfr.governance import deployments as D
    from openlfr.governance.alerts import get_counters
    from openlfr.governance.auth import Action, allowed, require
    from openlfr.governance.schemas import DeploymentPublic, SnapshotPublic
    from openlfr.store.models import Snapshot

    with _store(need_key=False) as store, store.session() as s:
        actor = _actor(s, as_user)
        require(s, actor, Action.DEPLOYMENT_VIEW, now=_now(),
                target=f"deployment:{deployment_id}")
        dep = D.get_deployment(s, deployment_id)
        snap = s.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id))
        out = _dump(DeploymentPublic.model_validate(dep))
        out["snapshot"] = _dump(SnapshotPublic.model_validate(snap)) if snap else None
        if allowed(actor.roles, Action.COUNTERS_VIEW):
            out["counters"] = _dump(get_counters(s, dep.id)[0])
    if as_json:
        _emit(out)
        return
    for k, v in out.items():
        if k == "cameras":
            v = ", ".join(f"{c['camera_id']}={c['source_url']}" for c in v)
        elif isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items() if a not in ("deployment_id",))
        typer.echo(f"{k:<24} {v}")


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


@subject_app.command("add")
def subject_add(
    reference: Annotated[str, typer.Argument(help="Your reference for the entry.")],
    image: Annotated[list[Path], typer.Option(help="Image file (repeat); the last is the "
                                              "most recent.")],
    name: Annotated[str, typer.Option(help="Name of the person.")],
    category: Annotated[str, typer.Option(help="wanted_by_courts, suspected_offence, "
                                          "bail_conditions, missing_person_at_risk, "
                                          "risk_of_harm, witness, test_subject.")],
    source: Annotated[str, typer.Option(help="Source / provenance of entry and image.")],
    justification: Annotated[str, typer.Option(help="Why this person is on the list.")],
    expires: Annotated[str, typer.Option(help="Expiry (ISO 8601 or '+30d').")],
    review: Annotated[str | None, typer.Option(help="Review date.")] = None,
    under_18: Annotated[str | None, typer.Option("--under-18", help="A child: the recorded "
                                                 "justification for including them.")] = None,
    no_templates: Annotated[bool, typer.Option("--no-templates", help="Store the entry and "
                                               "images without computing templates.")] = False,
    as_user: AsUser = None, dev: Dev = False, as_json: Json = False,
) -> None:
    """Enrol a watchlist subject (images and templates stored encrypted)."""
    from pydantic import ValidationError

    from openlfr.governance import watchlist as W
    from openlfr.governance.schemas import SubjectCreate, SubjectPublic

    now = _now()
    try:
        data = SubjectCreate(reference=reference, name=name, category=category, source=source,
                             justification=justification, expires_at=parse_time(expires, now),
                             review_at=parse_time(review, now) if review else None,
                             under_18=under_18 is not None, under_18_justification=under_18)
    except ValidationError as exc:
        raise ConfigError(_validation(exc)) from None
    blobs = []
    for p in image:
        try:
            blobs.append(p.read_bytes())
        except OSError as exc:
            raise ImageError(f"cannot read image {p}: {exc.strerror}") from None
    with _store(need_key=True, dev=dev) as store:
        templates = [] if no_templates else compute_templates(blobs, _settings())
        with store.session() as s:
            subj = W.add_subject(s, _actor(s, as_user), data, blobs, templates, now)
            out = _dump(SubjectPublic.model_validate(subj))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"subject {out['id']} ({reference}) enrolled with {len(blobs)} image(s), "
                   f"{len(templates)} template(s)")


def _subject_out(subj: Any) -> dict[str, Any]:
    from openlfr.governance.schemas import SubjectPublic

    return _dump(SubjectPublic.model_validate(subj))


@subject_app.command("list")
def subject_list(all_: Annotated[bool, typer.Option("--all", help="Include expired.")] = False,
                 as_user: AsUser = None, as_json: Json = False) -> None:
    """List watchlist subjects (no images)."""
    from openlfr.governance import watchlist as W

    with _store(need_key=False) as store, store.session() as s:
        rows = [_subject_out(x) for x in W.list_subjects(s, _actor(s, as_user), _now(),
                                                          include_expired=all_)]
    if as_json:
        _emit({"subjects": rows})
        return
    _table([[str(r["id"]), r["reference"], r["name"], r["category"], r["expires_at"][:10],
             "expired" if r["expired_at"] else ""] for r in rows],
           ["id", "reference", "name", "category", "expires", ""])


@subject_app.command("expire")
def subject_expire(subject_id: int, reason: Annotated[str, typer.Option()] = "",
                   as_user: AsUser = None) -> None:
    """Take a subject off the watchlist now (removed by the next retention sweep)."""
    from openlfr.governance import watchlist as W

    with _store(need_key=False) as store, store.session() as s:
        W.expire_subject(s, _actor(s, as_user), subject_id, _now(), reason=reason)
    typer.echo(f"subject {subject_id} expired", err=True)


@subject_app.command("delete")
def subject_delete(subject_id: int,
                   reason: Annotated[str, typer.Option(help="Why (audited).")],
                   as_user: AsUser = None) -> None:
    """Remove a subject and its images and templates now (e.g. entered in error)."""
    from openlfr.governance import watchlist as W

    with _store(need_key=False) as store, store.session() as s:
        W.delete_subject(s, _actor(s, as_user), subject_id, _now(), reason)
    typer.echo(f"subject {subject_id} deleted", err=True)


@snapshot_app.command("create")
def snapshot_create(deployment_id: int, as_user: AsUser = None, dev: Dev = False,
                    as_json: Json = False) -> None:
    """Freeze the subjects meeting the deployment's criteria."""
    from openlfr.governance import watchlist as W
    from openlfr.governance.schemas import SnapshotPublic

    with _store(need_key=True, dev=dev) as store, store.session() as s:
        snap = W.create_snapshot(s, _actor(s, as_user), deployment_id, _now())
        out = _dump(SnapshotPublic.model_validate(snap))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"snapshot {out['id']}: {out['subject_count']} subjects, "
                   f"{out['template_count']} templates, sha256 {out['content_hash']} "
                   "(needs approval by the authorising officer)")


@snapshot_app.command("approve")
def snapshot_approve(deployment_id: int, as_user: AsUser = None, as_json: Json = False
                     ) -> None:
    """The authorising officer approves the deployment's snapshot."""
    from openlfr.governance import watchlist as W
    from openlfr.governance.schemas import SnapshotPublic

    with _store(need_key=False) as store, store.session() as s:
        snap = W.approve_snapshot(s, _actor(s, as_user), deployment_id, _now())
        out = _dump(SnapshotPublic.model_validate(snap))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"snapshot {out['id']} approved")


# --- alerts ------------------------------------------------------------------------------


@alerts_app.command("list")
def alerts_list(deployment: Annotated[int | None, typer.Option(help="Deployment id.")] = None,
                status: Annotated[str | None, typer.Option(help="pending, disputed, confirmed, "
                                                           "rejected, not_engaged.")] = None,
                as_user: AsUser = None, as_json: Json = False) -> None:
    """List alerts (newest first; no images)."""
    from openlfr.governance import alerts as A
    from openlfr.governance.schemas import AlertPublic
    from openlfr.store.models import AlertStatus

    try:
        st = AlertStatus(status) if status else None
    except ValueError:
        raise ConfigError(f"unknown status {status!r}") from None
    with _store(need_key=False) as store, store.session() as s:
        rows = [_dump(AlertPublic.model_validate(a))
                for a in A.list_alerts(s, _actor(s, as_user), _now(),
                                       deployment_id=deployment, status=st)]
    if as_json:
        _emit({"alerts": rows})
        return
    _table([[str(a["id"]), str(a["deployment_id"]), a["camera_id"], a["created_at"][:19],
             a["subject_reference"], f"{a['score']:.3f}", a["status"]] for a in rows],
           ["id", "dep", "camera", "at (UTC)", "subject", "score", "status"])


@alerts_app.command("adjudicate")
def alerts_adjudicate(alert_id: int,
                      outcome: Annotated[str, typer.Argument(help="confirmed, rejected or "
                                                             "not_engaged.")],
                      note: Annotated[str | None, typer.Option()] = None,
                      reason: Annotated[str | None, typer.Option(
                          help="Why it is a false alert (rejected only).")] = None,
                      as_user: AsUser = None, as_json: Json = False) -> None:
    """Record your decision on an alert."""
    from openlfr.governance import alerts as A
    from openlfr.governance.schemas import AlertPublic

    with _store(need_key=False) as store, store.session() as s:
        alert = A.adjudicate(s, _actor(s, as_user), alert_id, outcome, _now(), note=note,
                             reason=reason)
        out = _dump(AlertPublic.model_validate(alert))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"alert {alert_id} is {out['status']}")


@alerts_app.command("hold")
def alerts_hold(alert_id: int, reason: Annotated[str, typer.Option(help="Why it must be "
                                                                   "kept.")],
                as_user: AsUser = None) -> None:
    """Keep an alert past the retention period, for a stated reason."""
    from openlfr.governance import alerts as A

    with _store(need_key=False) as store, store.session() as s:
        A.hold_alert(s, _actor(s, as_user), alert_id, reason, _now())
    typer.echo(f"alert {alert_id} held", err=True)


# --- retention / audit -------------------------------------------------------------------


@retention_app.command("run")
def retention_run(dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would "
                                                        "be purged; change nothing.")] = False,
                  as_user: AsUser = None, as_json: Json = False) -> None:
    """Purge alerts, snapshots and expired subjects that the policy says are due."""
    from openlfr.governance.retention import run_retention

    with _store(need_key=False) as store, store.session() as s:
        result = run_retention(s, store.policy, _now(), _actor(s, as_user), dry_run=dry_run)
        out = result.to_dict() | {"policy": store.policy.model_dump()}
    if as_json:
        _emit(out)
    else:
        verb = "would purge" if dry_run else "purged"
        typer.echo(f"{verb}: {out['alerts_purged']} alerts, {out['snapshots_deleted']} "
                   f"snapshots, {out['subjects_removed']} expired subjects")


@audit_app.command("verify")
def audit_verify(as_user: AsUser = None, as_json: Json = False) -> None:
    """Recompute the hash chain; exit 1 if it does not hold, saying where."""
    from openlfr.governance import audit
    from openlfr.governance.auth import Action, require

    with _store(need_key=False) as store, store.session() as s:
        actor = _actor(s, as_user)
        require(s, actor, Action.AUDIT_VERIFY, now=_now())
        report = audit.verify(s)
        out = report.to_dict()
        audit.append(s, actor=actor.username, action="audit_verify", now=_now(),
                     details={"ok": report.ok, "entries": report.entries,
                              "first_bad_seq": report.first_bad_seq})
    if as_json:
        _emit(out)
    else:
        if report.ok:
            typer.echo(f"audit chain ok: {report.entries} entries, head {report.head_hash}")
        else:
            typer.echo(f"audit chain BROKEN ({len(report.problems)} problem(s)):")
            for p in report.problems:
                typer.echo(f"  entry {p.seq}: {p.kind}: {p.message}")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(out: Annotated[Path | None, typer.Option("--out", help="JSONL file "
                                                          "(default: stdout).")] = None,
                 as_user: AsUser = None) -> None:
    """Write the audit log as JSON lines (each entry with its hash)."""
    from openlfr.governance import audit
    from openlfr.governance.auth import Action, require

    with _store(need_key=False) as store, store.session() as s:
        actor = _actor(s, as_user)
        require(s, actor, Action.AUDIT_EXPORT, now=_now())
        if out is None:
            n = audit.export(s, sys.stdout)
        else:
            with out.open("w", encoding="utf-8") as f:
                n = audit.export(s, f)
        audit.append(s, actor=actor.username, action="export", now=_now(), target="audit_log",
                     details={"entries": n, "to": "stdout" if out is None else out.name})
    if out is not None:
        typer.echo(f"{n} entries written to {out}", err=True)


def register(app: typer.Typer) -> None:
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
