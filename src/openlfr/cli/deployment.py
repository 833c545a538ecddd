"""``openlfr deployment create | authorise | start | stop | review | cancel | list | show``
and, from :mod:`~openlfr.cli.compliance` and :mod:`~openlfr.cli.drafts`, ``assess``,
``notice``, ``external-authorisation`` and ``update``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import select

from openlfr.cli.compliance import assess_command, assessment_lines, ext_app, notice_command
from openlfr.cli.drafts import dep_update, parse_camera, parse_override
from openlfr.cli.governed import acting_user, governed_store, now, public
from openlfr.cli.options import AsUser, Json, Table, emit, invalid_input, parse_time
from openlfr.configio import read_yaml_mapping
from openlfr.errors import ConfigError
from openlfr.governance import deployments as D
from openlfr.governance.alerts import get_counters
from openlfr.governance.auth import Action, allowed, require
from openlfr.governance.facts import assess
from openlfr.governance.schemas import (
    DeploymentCreate,
    DeploymentPublic,
    SnapshotPublic,
    redact_url,
)
from openlfr.store.models import DeploymentStatus, Snapshot

__all__ = ["app"]

dep_app = typer.Typer(no_args_is_help=True, help="Deployments: authorise, start, stop, "
                      "review (draft -> authorised -> active -> ended -> reviewed).")
app = typer.Typer()
app.add_typer(dep_app, name="deployment")


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
    at = now()
    fields: dict[str, Any] = {}
    if file is not None:
        fields.update(read_yaml_mapping(file, "deployment fields"))
    given = {"name": name, "purpose": purpose, "legal_basis": legal_basis,
             "location": location, "dpia_reference": dpia, "signage_confirmed": signage,
             "authorising_officer": officer, "threshold": threshold, "embedder_key": embedder,
             "kind": kind, "two_person_verification": two_person,
             "window_start": parse_time(start, at) if start else None,
             "window_end": parse_time(end, at) if end else None,
             "cameras": [parse_camera(c) for c in camera] if camera else None,
             "categories": category or None, "sinks": sink or None,
             "authorising_officer_rank": rank, "watchlist_criteria": criteria,
             "fria_reference": fria, "notification_reference": notification,
             "two_person_exception": two_person_exception, "urgent": True if urgent else None,
             "urgent_reason": urgent,
             "overrides": dict(parse_override(o) for o in override) if override else None}
    fields.update({k: v for k, v in given.items() if v is not None})
    for k in ("window_start", "window_end"):
        if isinstance(fields.get(k), str):
            fields[k] = parse_time(fields[k], at)
    if fields.get("signage_confirmed") is None:
        fields["signage_confirmed"] = False
    try:
        data = DeploymentCreate(**fields)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    # camera credentials are stored encrypted: a URL with a password needs the key
    secret = any(redact_url(c.source_url) != c.source_url for c in data.cameras)
    with governed_store(need_key=secret) as store, store.session() as s:
        dep = D.create_deployment(s, acting_user(s, as_user), data, at)
        out = public(DeploymentPublic, dep)
    emit(out, as_json, [f"deployment {out['id']} created (draft)"])


def _transition(op: str, deployment_id: int, as_user: str | None, as_json: bool,
                **kw: Any) -> None:
    with governed_store(need_key=False) as store, store.session() as s:
        dep = getattr(D, op)(s, acting_user(s, as_user), deployment_id, now(), **kw)
        out = public(DeploymentPublic, dep)
    emit(out, as_json, [f"deployment {deployment_id} is {out['status']}"])


@dep_app.command("authorise")
def dep_authorise(deployment_id: int, as_user: AsUser = None, as_json: Json = False) -> None:
    """draft -> authorised (by the named authorising officer), once every rule of the
    profile holds; shows the expected false alert rate for the snapshot's size."""
    with governed_store(need_key=False) as store, store.session() as s:
        dep = D.authorise(s, acting_user(s, as_user), deployment_id, now())
        out = public(DeploymentPublic, dep)
        out["assessment"] = assess(s, dep, now()).to_dict()
    emit(out, as_json, [*assessment_lines(out["assessment"]),
                        f"deployment {deployment_id} is {out['status']}"])


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
    try:
        st = DeploymentStatus(status) if status else None
    except ValueError:
        raise ConfigError(f"unknown status {status!r}: one of "
                          f"{', '.join(s.value for s in DeploymentStatus)}") from None
    with governed_store(need_key=False) as store, store.session() as s:
        deps = [public(DeploymentPublic, d) for d in
                D.list_deployments(s, acting_user(s, as_user), status=st, now=now())]
    emit({"deployments": deps}, as_json, Table(
        ["id", "status", "kind", "name", "from (UTC)", "to (UTC)"],
        [[str(d["id"]), d["status"], d["kind"], d["name"], d["window_start"][:16],
          d["window_end"][:16]] for d in deps]))


def _show_value(key: str, value: Any) -> Any:
    if key == "cameras":
        return ", ".join(f"{c['camera_id']}={c['source_url']}" for c in value)
    if isinstance(value, dict):
        return ", ".join(f"{a}={b}" for a, b in value.items() if a not in ("deployment_id",))
    return value


@dep_app.command("show")
def dep_show(deployment_id: int, as_user: AsUser = None, as_json: Json = False) -> None:
    """Show a deployment, its snapshot and (with the counters.view permission) its
    counters."""
    with governed_store(need_key=False) as store, store.session() as s:
        actor = acting_user(s, as_user)
        require(s, actor, Action.DEPLOYMENT_VIEW, now=now(),
                target=f"deployment:{deployment_id}")
        dep = D.get_deployment(s, deployment_id)
        snap = s.scalar(select(Snapshot).where(Snapshot.deployment_id == dep.id))
        out = public(DeploymentPublic, dep)
        out["snapshot"] = public(SnapshotPublic, snap) if snap else None
        if allowed(actor.roles, Action.COUNTERS_VIEW):
            out["counters"] = get_counters(s, dep.id)[0].model_dump(mode="json")
    emit(out, as_json, [f"{k:<24} {_show_value(k, v)}" for k, v in out.items()])


dep_app.command("assess")(assess_command)
dep_app.command("notice")(notice_command)
dep_app.add_typer(ext_app, name="external-authorisation")
dep_app.command("update")(dep_update)
