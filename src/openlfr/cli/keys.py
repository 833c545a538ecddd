"""``openlfr key generate | rotate``: a new encryption key, and re-encrypting everything
encrypted at rest under a new key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli.governed import acting_user, governed_store, now
from openlfr.cli.options import AsUser
from openlfr.governance.crypto import _read_key_file, generate_key
from openlfr.governance.keys import rotate_key

__all__ = ["app"]

key_app = typer.Typer(no_args_is_help=True, help="Encryption keys.")
app = typer.Typer()
app.add_typer(key_app, name="key")


@key_app.command("generate")
def key_generate() -> None:
    """Print a new encryption key (base64 of 32 random bytes) for OPENLFR_KEY."""
    typer.echo(generate_key())


@key_app.command("rotate")
def key_rotate(
    new_key_file: Annotated[Path, typer.Option(help="File holding the new key (base64, mode "
                                               "0600; `openlfr key generate > FILE`).")],
    as_user: AsUser = None,
) -> None:
    """Re-encrypt every value encrypted at rest (watchlist images and templates, snapshot
    copies, alert probe images, camera URLs) under the key in NEW_KEY_FILE, in one
    transaction. The current key comes from OPENLFR_KEY / OPENLFR_KEY_FILE as usual. Stop
    the server first; afterwards point OPENLFR_KEY_FILE at the new file and start it."""
    new_key = _read_key_file(new_key_file)
    with governed_store(need_key=True) as store, store.session() as s:
        assert store.keyring is not None  # need_key=True
        counts = rotate_key(s, acting_user(s, as_user), store.keyring, new_key, now())
        s.commit()
    total = sum(counts.values())
    for name, n in counts.items():
        typer.echo(f"{name}: {n:,}")
    typer.echo(f"{total:,} values re-encrypted under the key in {new_key_file}; set "
               f"OPENLFR_KEY_FILE={new_key_file} (and drop the old key) before the next start",
               err=True)
