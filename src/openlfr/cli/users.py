"""``openlfr user add | list | token | revoke-token | disable | reset-password``: users,
their roles, API tokens and credentials."""

from __future__ import annotations

import secrets
import sys
from datetime import timedelta
from typing import Annotated

import typer
from pydantic import ValidationError

from openlfr.cli.governed import acting_user, governed_store, now, public
from openlfr.cli.options import AsUser, Json, Table, emit, invalid_input
from openlfr.governance import auth
from openlfr.governance.schemas import UserCreate, UserPublic

__all__ = ["app"]

user_app = typer.Typer(no_args_is_help=True, help="Users, roles and API tokens.")
app = typer.Typer()
app.add_typer(user_app, name="user")


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
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    try:
        data = UserCreate(username=username, display_name=display_name, roles=role,
                          password=password)
    except ValidationError as exc:
        raise invalid_input(exc) from None
    with governed_store(need_key=False) as store, store.session() as s:
        actor = acting_user(s, as_user) if as_user else None
        out = public(UserPublic, auth.create_user(s, actor, data, now=now()))
    emit(out, as_json, [f"user {out['username']} ({', '.join(out['roles'])}) created"])


@user_app.command("list")
def user_list(as_user: AsUser = None, as_json: Json = False) -> None:
    """List users and their roles."""
    with governed_store(need_key=False) as store, store.session() as s:
        users = [public(UserPublic, u)
                 for u in auth.list_users(s, acting_user(s, as_user), now=now())]
    emit({"users": users}, as_json, Table(
        ["user", "roles", ""],
        [[u["username"], ",".join(u["roles"]), "disabled" if u["disabled"] else ""]
         for u in users]))


@user_app.command("token")
def user_token(username: Annotated[str | None, typer.Argument(help="Whose token (default: "
                                                               "the acting user).")] = None,
               name: Annotated[str, typer.Option(help="A label for the token.")] = "",
               expires_days: Annotated[float | None, typer.Option(help="Expire after this "
                                                                  "many days.")] = None,
               as_user: AsUser = None) -> None:
    """Issue an API token. It is printed once; only its hash is stored."""
    at = now()
    with governed_store(need_key=False) as store, store.session() as s:
        _, token = auth.issue_token(s, acting_user(s, as_user), username, name, now=at,
                                    expires_at=at + timedelta(days=expires_days)
                                    if expires_days else None)
    typer.echo(token)


@user_app.command("revoke-token")
def user_revoke_token(token_id: int, as_user: AsUser = None) -> None:
    """Revoke an API token by id."""
    with governed_store(need_key=False) as store, store.session() as s:
        auth.revoke_token(s, acting_user(s, as_user), token_id, now=now())
    typer.echo(f"token {token_id} revoked", err=True)


@user_app.command("disable")
def user_disable(username: str, as_user: AsUser = None) -> None:
    """Disable a user and revoke their tokens (users are never deleted)."""
    with governed_store(need_key=False) as store, store.session() as s:
        auth.disable_user(s, acting_user(s, as_user), username, now=now())
    typer.echo(f"user {username} disabled", err=True)


@user_app.command("reset-password")
def reset_password(
    username: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the new "
                                                 "password from stdin instead of making "
                                                 "one.")] = False,
    as_user: AsUser = None,
) -> None:
    """An admin sets a one-time password for USERNAME (printed once, unless read from
    stdin): their tokens and console sessions are revoked and they choose a new password at
    the next sign-in. Audited (``user_password``). Resetting your own account sets it
    outright."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else \
        secrets.token_urlsafe(12)
    with governed_store(need_key=False) as store, store.session() as s:
        actor = acting_user(s, as_user).username
        auth.set_password(s, acting_user(s, actor), username, password, now=now())
        s.commit()
    if not password_stdin:
        typer.echo(password)
    typer.echo(f"password of {username} reset" + (
        "; it serves once, to choose a new one at the next sign-in"
        if actor != username else ""), err=True)
