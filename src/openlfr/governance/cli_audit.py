"""Alerts, retention and the audit log: ``openlfr alerts list|adjudicate|hold``,
``openlfr retention run`` and ``openlfr audit verify|export``.

The commands register on :data:`openlfr.governance.cli.alerts_app`,
:data:`~openlfr.governance.cli.retention_app` and :data:`~openlfr.governance.cli.audit_app`
when imported (by :func:`openlfr.governance.cli.register`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from openlfr.errors import ConfigError
from openlfr.governance.cli import (
    AsUser,
    Json,
    _actor,
    _dump,
    _emit,
    _now,
    _store,
    _table,
    alerts_app,
    audit_app,
    retention_app,
)

__all__: list[str] = []


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
