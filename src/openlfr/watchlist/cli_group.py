"""The one ``openlfr watchlist`` command group, shared by two areas.

Governance adds ``watchlist subject ...`` and ``watchlist snapshot ...``; the pipeline adds
``watchlist add`` (enrol from images). Each area's ``register(app)`` calls
``group(app)`` and adds its commands to the Typer it returns::

    from openlfr.watchlist.cli_group import group
    wl = group(app)
    @wl.command("add")
    def add(...): ...
"""

from __future__ import annotations

import typer

__all__ = ["group"]

_groups: dict[int, typer.Typer] = {}


def group(app: typer.Typer) -> typer.Typer:
    """The ``watchlist`` sub-app of ``app``, created and attached on first use."""
    sub = _groups.get(id(app))
    if sub is None:
        sub = typer.Typer(name="watchlist", no_args_is_help=True,
                          help="Watchlist subjects (accountable entries), enrolment and the "
                               "frozen snapshots deployments check against.")
        app.add_typer(sub, name="watchlist")
        _groups[id(app)] = sub
    return sub
