"""``openlfr deployment update ID``: edit a draft (the fields given change, the rest stay),
and reading the ``--camera`` and ``--override`` values that create and update share.

Changing the categories, the watchlist criteria or the embedder discards the draft's
watchlist snapshot (audited): make and approve a new one."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ValidationError
from typer import Option as Opt
from typer import echo

from openlfr.cli.governed import acting_user, governed_store, now, public
from openlfr.cli.options import AsUser, Json, emit, invalid_input, parse_time
from openlfr.errors import ConfigError
from openlfr.governance import deployments as D
from openlfr.governance.schemas import DeploymentPublic, DeploymentUpdate, redact_url

__all__ = ["dep_update", "update_fields", "parse_camera", "parse_override"]

Str = str | None


def parse_camera(text: str) -> dict[str, str]:
    """``--camera ID=SOURCE_URL``."""
    cam, sep, url = text.partition("=")
    if not sep or not cam or not url:
        raise ConfigError(f"--camera {text!r}: use ID=SOURCE_URL (e.g. cam1=rtsp://host/s1)")
    return {"camera_id": cam, "source_url": url}


def parse_override(text: str) -> tuple[str, dict[str, Any]]:
    """``--override RULE=VALUE:REASON``."""
    rule, _, rest = text.partition("=")
    value, _, reason = rest.partition(":")
    try:
        return rule, {"value": float(value), "reason": reason}
    except ValueError:
        raise ConfigError(f"--override {text!r}: use RULE=VALUE:REASON (e.g. "
                          "watchlist_size=3000:Gold commander's decision 12)") from None


def update_fields(given: dict[str, Any], clear: list[str]) -> dict[str, Any]:
    """Pure: the PATCH body from the options given (None: not given) and the fields to
    clear (an explicit null: only optional fields accept one, the schema says which)."""
    fields = {k: v for k, v in given.items() if v is not None and v != []}
    for name in clear:
        if name in fields:
            raise ConfigError(f"--clear {name} and a value for it: choose one")
        fields[name] = None
    if not fields:
        raise ConfigError("nothing to change: give at least one option (see --help)")
    return fields


def dep_update(
    deployment_id: int,
    name: Annotated[Str, Opt(help="Short name.")] = None,
    purpose: Annotated[Str, Opt(help="The policing purpose.")] = None,
    legal_basis: Annotated[Str, Opt(help="The legal basis relied on.")] = None,
    location: Annotated[Str, Opt(help="Where.")] = None,
    start: Annotated[Str, Opt(help="Window start (ISO 8601 with zone, 'now', '+1h').")] = None,
    end: Annotated[Str, Opt(help="Window end (same forms).")] = None,
    camera: Annotated[list[str] | None, Opt(help="ID=SOURCE_URL (repeat): replaces the "
                                            "cameras.")] = None,
    category: Annotated[list[str] | None, Opt(help="Watchlist category (repeat): replaces "
                                              "them; discards the snapshot.")] = None,
    dpia: Annotated[Str, Opt(help="DPIA reference.")] = None,
    signage: Annotated[bool | None, Opt("--signage-confirmed/--no-signage",
                                        help="Public signage is in place.")] = None,
    officer: Annotated[Str, Opt(help="Authorising officer's username.")] = None,
    threshold: Annotated[float | None, Opt(help="Similarity threshold.")] = None,
    embedder: Annotated[Str, Opt(help="Embedder key; discards the snapshot.")] = None,
    rank: Annotated[Str, Opt(help="The authorising officer's rank.")] = None,
    criteria: Annotated[Str, Opt(help="Watchlist criteria; discards the snapshot.")] = None,
    fria: Annotated[Str, Opt(help="FRIA reference.")] = None,
    notification: Annotated[Str, Opt(help="Art. 5(4) notification reference.")] = None,
    override: Annotated[list[str] | None, Opt(help="RULE=VALUE:REASON (repeat): replaces "
                                              "the overrides.")] = None,
    clear: Annotated[list[str] | None, Opt(help="An optional field to clear (repeat), e.g. "
                                           "fria_reference.")] = None,
    as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Edit a draft deployment (audited). Only a draft: an authorised one is frozen."""
    at = now()
    fields = update_fields({
        "name": name, "purpose": purpose, "legal_basis": legal_basis, "location": location,
        "window_start": parse_time(start, at) if start else None,
        "window_end": parse_time(end, at) if end else None,
        "cameras": [parse_camera(c) for c in camera or []], "categories": category or [],
        "dpia_reference": dpia, "signage_confirmed": signage, "authorising_officer": officer,
        "threshold": threshold, "embedder_key": embedder, "authorising_officer_rank": rank,
        "watchlist_criteria": criteria, "fria_reference": fria,
        "notification_reference": notification,
        "overrides": dict(parse_override(o) for o in override) if override else None},
        clear or [])
    try:
        data = DeploymentUpdate.model_validate(fields)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    secret = any(redact_url(c.source_url) != c.source_url for c in data.cameras or [])
    with governed_store(need_key=secret) as store, store.session() as s:
        dep = D.update_draft(s, acting_user(s, as_user), deployment_id, data, at)
        out = public(DeploymentPublic, dep)
    if as_json:
        emit(out, as_json)
        return
    echo(f"deployment {deployment_id} updated ({', '.join(sorted(fields))})")
    if out["snapshot_hash"] is None and set(fields) & D.SNAPSHOT_FIELDS:
        echo("its watchlist snapshot, if any, was discarded: make and approve a new one")
