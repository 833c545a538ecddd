"""Deployments: ``openlfr deployment create|authorise|start|stop|review|cancel|list|show``.

The commands register on :data:`openlfr.governance.cli.dep_app` when imported (by
:func:`openlfr.governance.cli.register`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.errors import ConfigError
from openlfr.governance.cli import (
    AsUser,
    Json,
    _actor,
    _camera,
    _dump,
    _emit,
    _now,
    _override,
    _store,
    _table,
    _validation,
    dep_app,
    parse_time,
)

__all__: list[str] = []


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
