"""Keys and credentials: ``openlfr key rotate`` (re-encrypt everything encrypted at rest
under a new key) and ``openlfr user reset-password`` (an admin's reset, a one-time password
printed once)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openlfr.governance.cli import AsUser, _actor, _now, _store
from openlfr.governance.cli import key_app as _key_app
from openlfr.governance.cli import user_app as _user_app

__all__ = ["register"]


def key_rotate(
    new_key_file: Annotated[Path, typer.Option(help="File holding the new key (base64, mode "
                                               "0600; `openlfr key generate > FILE`).")],
    as_user: AsUser = None,
) -> None:
    """Re-encrypt every value encrypted at rest (watchlist images and templates, snapshot
    copies, alert probe images, camera URLs) under the key in NEW_KEY_FILE, in one
    transaction. The current key comes from OPENLFR_KEY / OPENLFR_KEY_FILE as usual. Stop
    the server first; afterwards point OPENLFR_KEY_FILE at the new file and start it."""
    from openlfr.governance.crypto import _read_key_file
    from openlfr.governance.keys import rotate_key

    new_key = _read_key_file(new_key_file)
    with _store(need_key=True) as store, store.session() as s:
        assert store.keyring is not None  # need_key=True
        counts = rotate_key(s, _actor(s, as_user), store.keyring, new_key, _now())
        s.commit()
    total = sum(counts.values())
    for name, n in counts.items():
        typer.echo(f"{name}: {n:,}")
    typer.echo(f"{total:,} values re-encrypted under the key in {new_key_file}; set "
               f"OPENLFR_KEY_FILE={new_key_file} (and drop the old key) before the next start",
               err=True)


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
    import secrets
    import sys

    from openlfr.governance import auth

    password = sys.stdin.readline().rstrip("\n") if password_stdin else \
        secrets.token_urlsafe(12)
    with _store(need_key=False) as store, store.session() as s:
        actor = _actor(s, as_user).username
        auth.set_password(s, _actor(s, actor), username, password, now=_now())
        s.commit()
    if not password_stdin:
        typer.echo(password)
    typer.echo(f"password of {username} reset" + (
        "; it serves once, to choose a new one at the next sign-in"
        if actor != username else ""), err=True)


def register(key_app: typer.Typer = _key_app, user_app: typer.Typer = _user_app) -> None:
    key_app.command("rotate")(key_rotate)
    user_app.command("reset-password")(reset_password)
