"""``openlfr alerts list | adjudicate | hold``: alerts and the decisions on them."""

from __future__ import annotations

from typing import Annotated

import typer

from openlfr.cli.governed import acting_user, governed_store, now, public
from openlfr.cli.options import AsUser, Json, Table, emit
from openlfr.errors import ConfigError
from openlfr.governance import alerts as A
from openlfr.governance.schemas import AlertPublic
from openlfr.store.models import AlertStatus

__all__ = ["app"]

alerts_app = typer.Typer(no_args_is_help=True, help="Alerts and their adjudication.")
app = typer.Typer()
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("list")
def alerts_list(deployment: Annotated[int | None, typer.Option(help="Deployment id.")] = None,
                status: Annotated[str | None, typer.Option(help="pending, disputed, confirmed, "
                                                           "rejected, not_engaged.")] = None,
                as_user: AsUser = None, as_json: Json = False) -> None:
    """List alerts (newest first; no images)."""
    try:
        st = AlertStatus(status) if status else None
    except ValueError:
        raise ConfigError(f"unknown status {status!r}") from None
    with governed_store(need_key=False) as store, store.session() as s:
        rows = [public(AlertPublic, a)
                for a in A.list_alerts(s, acting_user(s, as_user), now(),
                                       deployment_id=deployment, status=st)]
    emit({"alerts": rows}, as_json, Table(
        ["id", "dep", "camera", "at (UTC)", "subject", "score", "status"],
        [[str(a["id"]), str(a["deployment_id"]), a["camera_id"], a["created_at"][:19],
          a["subject_reference"], f"{a['score']:.3f}", a["status"]] for a in rows]))


@alerts_app.command("adjudicate")
def alerts_adjudicate(alert_id: int,
                      outcome: Annotated[str, typer.Argument(help="confirmed, rejected or "
                                                             "not_engaged.")],
                      note: Annotated[str | None, typer.Option()] = None,
                      reason: Annotated[str | None, typer.Option(
                          help="Why it is a false alert (rejected only).")] = None,
                      as_user: AsUser = None, as_json: Json = False) -> None:
    """Record your decision on an alert."""
    with governed_store(need_key=False) as store, store.session() as s:
        alert = A.adjudicate(s, acting_user(s, as_user), alert_id, outcome, now(), note=note,
                             reason=reason)
        out = public(AlertPublic, alert)
    emit(out, as_json, [f"alert {alert_id} is {out['status']}"])


@alerts_app.command("hold")
def alerts_hold(alert_id: int, reason: Annotated[str, typer.Option(help="Why it must be "
                                                                   "kept.")],
                as_user: AsUser = None) -> None:
    """Keep an alert past the retention period, for a stated reason."""
    with governed_store(need_key=False) as store, store.session() as s:
        A.hold_alert(s, acting_user(s, as_user), alert_id, reason, now())
    typer.echo(f"alert {alert_id} held", err=True)
