"""``openlfr deployment assess | external-authorisation | notice``: the rule profile's view
of a deployment, the authority's decision (and urgent use), the Art. 5(4) notification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from openlfr.cli.governed import acting_user, governed_store, now, public
from openlfr.cli.options import AsUser, Json, emit, invalid_input, parse_time
from openlfr.governance import deployments as D
from openlfr.governance.auth import Action, require
from openlfr.governance.facts import assess
from openlfr.governance.schemas import DeploymentPublic
from openlfr.governance.urgent import ExternalAuthorisationIn, record_external
from openlfr.reports.notice import build_notice, notice_pdf

__all__ = ["assess_command", "notice_command", "ext_app", "assessment_lines"]

ext_app = typer.Typer(no_args_is_help=True, help="The judicial or independent administrative "
                      "authority's decision (EU AI Act Art. 5(3)); a refusal stops the use "
                      "and deletes its alerts and snapshot.")


def assessment_lines(a: dict[str, Any]) -> list[str]:
    """The assessment as shown at authorisation: the expected false alert rate for the
    snapshot's size, unmet rules and warnings."""
    lines = [f"profile {a['profile']} {a['profile_version']}"]
    if a["predicted_fpir"] is not None:
        lines.append(f"expected false alert rate (FPIR) at threshold {a['threshold']:g} for "
                     f"{a['snapshot_size']} watchlist entries: {a['predicted_fpir']:.3g} per "
                     f"face (about {a['predicted_fpir'] * 10_000:.3g} per 10,000 faces)")
    elif a["fpir_note"]:
        lines.append(f"expected false alert rate: unknown ({a['fpir_note']})")
    if a.get("expected_false_alerts") is not None:
        lines.append(f"expected false alerts from a crowd of {a['expected_crowd']:,} faces: "
                     f"{a['expected_false_alerts']:.2f}")
    lines += [f"UNMET {u['rule']}: {u['message']} ({u['source']})" for u in a["unmet"]]
    lines += [f"warning {w['rule']}: {w['message']}" for w in a["warnings"]]
    return lines


def _require_view(s: Any, as_user: str | None, deployment_id: int) -> Any:
    """The acting user, who may view this deployment."""
    return require(s, acting_user(s, as_user), Action.DEPLOYMENT_VIEW, now=now(),
                   target=f"deployment:{deployment_id}")


def assess_command(deployment_id: int, as_user: AsUser = None, as_json: Json = False,
                   crowd: Annotated[int | None, typer.Option(
                       "--crowd", min=1, max=10**9, help="Faces expected to pass: also show "
                       "the false alerts expected from them.")] = None) -> None:
    """Check a deployment against the installation's rule profile (changes nothing)."""
    with governed_store(need_key=False) as store, store.session() as s:
        _require_view(s, as_user, deployment_id)
        out = assess(s, D.get_deployment(s, deployment_id), now()).to_dict(crowd)
        s.rollback()
    emit(out, as_json, [*assessment_lines(out), "all rules met" if not out["unmet"]
                        else f"{len(out['unmet'])} unmet"])


def _decision(deployment_id: int, authority: str, reference: str, date: str,
              scope: str | None, as_user: str | None, as_json: bool, granted: bool) -> None:
    at = now()
    try:
        data = ExternalAuthorisationIn(authority=authority, reference=reference,
                                       date=parse_time(date, at), scope=scope)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    with governed_store(need_key=False) as store, store.session() as s:
        dep = record_external(s, acting_user(s, as_user), deployment_id, data, at,
                              granted=granted)
        out = public(DeploymentPublic, dep)
    emit(out, as_json, [
        f"deployment {deployment_id}: external authorisation {reference} recorded" if granted
        else f"deployment {deployment_id}: refusal recorded; the use is stopped and its "
             "alerts and snapshot deleted (counters and audit kept)"])


Authority = Annotated[str, typer.Option(help="The judicial or independent administrative "
                                        "authority.")]
Reference = Annotated[str, typer.Option(help="Its reference for the decision.")]
When = Annotated[str, typer.Option(help="Date of the decision (ISO 8601, 'now').")]


@ext_app.command("record")
def ext_record(deployment_id: int, authority: Authority, reference: Reference, date: When,
               scope: Annotated[str, typer.Option(help="What it authorises (place, time, "
                                                  "persons).")],
               as_user: AsUser = None, as_json: Json = False) -> None:
    """Record the authority's grant (within the deadline, for urgent use)."""
    _decision(deployment_id, authority, reference, date, scope, as_user, as_json, True)


@ext_app.command("refuse")
def ext_refuse(deployment_id: int, authority: Authority, reference: Reference, date: When,
               as_user: AsUser = None, as_json: Json = False) -> None:
    """Record the authority's refusal: the use stops at once and its data is deleted."""
    _decision(deployment_id, authority, reference, date, None, as_user, as_json, False)


def notice_command(deployment_id: int,
                   pdf: Annotated[Path | None, typer.Option("--pdf", help="Write the notice "
                                                            "as PDF here instead of JSON to "
                                                            "stdout.")] = None,
                   deployer: Annotated[str | None, typer.Option(help="The deploying "
                                                                "authority's name.")] = None,
                   as_user: AsUser = None) -> None:
    """The EU AI Act Art. 5(4) notification of a deployment (JSON, or --pdf FILE)."""
    with governed_store(need_key=False) as store, store.session() as s:
        actor = _require_view(s, as_user, deployment_id)
        notice = build_notice(s, deployment_id, actor=actor.username, now=now(),
                              deployer=deployer)
    if pdf is None:
        typer.echo(json.dumps(notice, indent=2, sort_keys=True))
        return
    pdf.write_bytes(notice_pdf(notice))
    typer.echo(f"notice of deployment {deployment_id} written to {pdf}", err=True)
