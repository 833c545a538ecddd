"""``openlfr audit verify | export``: the tamper-evident audit log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli.governed import acting_user, governed_store, now
from openlfr.cli.options import AsUser, Json, emit
from openlfr.governance import audit
from openlfr.governance.auth import Action, require

__all__ = ["app"]

audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
app = typer.Typer()
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(as_user: AsUser = None, as_json: Json = False) -> None:
    """Recompute the hash chain; exit 1 if it does not hold, saying where."""
    with governed_store(need_key=False) as store, store.session() as s:
        actor = require(s, acting_user(s, as_user), Action.AUDIT_VERIFY, now=now())
        report = audit.verify(s)
        audit.append(s, actor=actor.username, action="audit_verify", now=now(),
                     details={"ok": report.ok, "entries": report.entries,
                              "first_bad_seq": report.first_bad_seq})
    emit(report.to_dict(), as_json,
         [f"audit chain ok: {report.entries} entries, head {report.head_hash}"] if report.ok
         else [f"audit chain BROKEN ({len(report.problems)} problem(s)):",
               *(f"  entry {p.seq}: {p.kind}: {p.message}" for p in report.problems)])
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(out: Annotated[Path | None, typer.Option("--out", help="JSONL file "
                                                          "(default: stdout).")] = None,
                 as_user: AsUser = None) -> None:
    """Write the audit log as JSON lines (each entry with its hash)."""
    with governed_store(need_key=False) as store, store.session() as s:
        actor = require(s, acting_user(s, as_user), Action.AUDIT_EXPORT, now=now())
        if out is None:
            n = audit.export(s, sys.stdout)
        else:
            with out.open("w", encoding="utf-8") as f:
                n = audit.export(s, f)
        audit.append(s, actor=actor.username, action="export", now=now(), target="audit_log",
                     details={"entries": n, "to": "stdout" if out is None else out.name})
    if out is not None:
        typer.echo(f"{n} entries written to {out}", err=True)
