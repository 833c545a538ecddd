"""Users, roles and API tokens: ``openlfr user add|list|token|revoke-token|disable``.

The commands register on :data:`openlfr.governance.cli.user_app` when imported (by
:func:`openlfr.governance.cli.register`)."""

from __future__ import annotations

import sys
from datetime import timedelta
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
    _validation,
    user_app,
)

__all__: list[str] = []


@user_app.command("add")
def user_add(username: str,
             role: Annotated[list[str], typer.Option("--role", "-r", help="Role (repeat for "
                                                     "several): authorising_officer, "
                                                     "watchlist_manager, operator, "
                                                     "engagement_officer, auditor, admin.")],
             display_name: Annotated[str, typer.Option(help="Full name.")] = "",
             password_stdin: Annotated[bool, typer.Option(
                 "--password-stdin", help="Read a password from stdin (for console/API "
                 "login).")] = False,
             as_user: AsUser = None, as_json: Json = False) -> None:
    """Add a user. The first user needs no --as (bootstrap an admin)."""
    from pydantic import ValidationError

    from openlfr.governance import auth
    from openlfr.governance.schemas import UserCreate, UserPublic

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        data = UserCreate(username=username, display_name=display_name, roles=role,
                          password=password)
    except ValidationError as exc:
        raise ConfigError(_validation(exc)) from None
    with _store(need_key=False) as store, store.session() as s:
        actor = _actor(s, as_user) if as_user else None
        user = auth.create_user(s, actor, data, now=_now())
        out = _dump(UserPublic.model_validate(user))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"user {out['username']} ({', '.join(out['roles'])}) created")


@user_app.command("list")
def user_list(as_user: AsUser = None, as_json: Json = False) -> None:
    """List users and their roles."""
    from openlfr.governance import auth
    from openlfr.governance.schemas import UserPublic

    with _store(need_key=False) as store, store.session() as s:
        users = [_dump(UserPublic.model_validate(u))
                 for u in auth.list_users(s, _actor(s, as_user), now=_now())]
    if as_json:
        _emit({"users": users})
        return
    _table([[u["username"], ",".join(u["roles"]), "disabled" if u["disabled"] else ""]
            for u in users], ["user", "roles", ""])


@user_app.command("token")
def user_token(username: Annotated[str | None, typer.Argument(help="Whose token (default: "
                                                               "the acting user).")] = None,
               name: Annotated[str, typer.Option(help="A label for the token.")] = "",
               expires_days: Annotated[float | None, typer.Option(help="Expire after this "
                                                                  "many days.")] = None,
               as_user: AsUser = None) -> None:
    """Issue an API token. It is printed once; only its hash is stored."""
    from openlfr.governance import auth

    now = _now()
    with _store(need_key=False) as store, store.session() as s:
        _, token = auth.issue_token(s, _actor(s, as_user), username, name, now=now,
                                    expires_at=now + timedelta(days=expires_days)
                                    if expires_days else None)
    typer.echo(token)


@user_app.command("revoke-token")
def user_revoke_token(token_id: int, as_user: AsUser = None) -> None:
    """Revoke an API token by id."""
    from openlfr.governance import auth

    with _store(need_key=False) as store, store.session() as s:
        auth.revoke_token(s, _actor(s, as_user), token_id, now=_now())
    typer.echo(f"token {token_id} revoked", err=True)


@user_app.command("disable")
def user_disable(username: str, as_user: AsUser = None) -> None:
    """Disable a user and revoke their tokens (users are never deleted)."""
    from openlfr.governance import auth

    with _store(need_key=False) as store, store.session() as s:
        auth.disable_user(s, _actor(s, as_user), username, now=_now())
    typer.echo(f"user {username} disabled", err=True)
