"""``openlfr retention run``: purge what the retention policy says is due."""

from __future__ import annotations

from typing import Annotated

import typer

from openlfr.cli.governed import acting_user, governed_store, now
from openlfr.cli.options import AsUser, Json, emit
from openlfr.governance.retention import run_retention

__all__ = ["app"]

retention_app = typer.Typer(no_args_is_help=True, help="Retention: purge what the policy says.")
app = typer.Typer()
app.add_typer(retention_app, name="retention")


@retention_app.command("run")
def retention_run(dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would "
                                                        "be purged; change nothing.")] = False,
                  as_user: AsUser = None, as_json: Json = False) -> None:
    """Purge alerts, snapshots and expired subjects that the policy says are due."""
    with governed_store(need_key=False) as store, store.session() as s:
        result = run_retention(s, store.policy, now(), acting_user(s, as_user), dry_run=dry_run)
        out = result.to_dict() | {"policy": store.policy.model_dump()}
    verb = "would purge" if dry_run else "purged"
    emit(out, as_json, [f"{verb}: {out['alerts_purged']} alerts, {out['snapshots_deleted']} "
                        f"snapshots, {out['subjects_removed']} expired subjects"])
