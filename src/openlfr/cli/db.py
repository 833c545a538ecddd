"""``openlfr db upgrade | downgrade``: create the schema or migrate it."""

from __future__ import annotations

from typing import Annotated

import typer

from openlfr.cli.governed import settings
from openlfr.errors import ConfigError
from openlfr.store import downgrade, upgrade
from openlfr.store.db import head_revision

__all__ = ["app"]

db_app = typer.Typer(no_args_is_help=True, help="Create or migrate the database.")
app = typer.Typer()
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="Target revision.")] = "head"
               ) -> None:
    """Create the schema or migrate it to the current version."""
    upgrade(settings().resolved_database_url, revision)
    typer.echo(f"database at revision {head_revision() if revision == 'head' else revision}",
               err=True)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision; 'base' "
                                                         "removes every OpenLFR table.")],
                 yes: Annotated[bool, typer.Option("--yes", help="Confirm.")] = False) -> None:
    """Migrate the schema down (destroys data in dropped tables)."""
    if not yes:
        raise ConfigError(f"downgrading to {revision} may destroy data: add --yes to confirm")
    downgrade(settings().resolved_database_url, revision)
    typer.echo(f"database at revision {revision}", err=True)
