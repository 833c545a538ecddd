"""The console's cookie-signing key, kept across restarts.

The cookie only wraps a revocable session token issued by governance; the key signs it and
derives each session's CSRF token. A key made afresh at every start would sign everyone out
at every restart (and, with several servers behind one proxy, on every request that lands on
another one). So the key is, in order:

1. ``OPENLFR_SESSION_KEY`` (base64 of at least 32 bytes): the same on every server of an
   installation; keep it with the other secrets;
2. ``data_dir/session.key`` (mode 0600), created with a random key on first start.

Rotating it (delete the file, or change the variable) signs everyone out, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from openlfr.errors import ConfigError

__all__ = ["load_session_key", "SESSION_KEY_ENV", "SESSION_KEY_FILE"]

SESSION_KEY_ENV = "OPENLFR_SESSION_KEY"
SESSION_KEY_FILE = "session.key"
MIN_BYTES = 32


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where} is not base64 (make a key with `openlfr key generate`)"
                          ) from None
    if len(key) < MIN_BYTES:
        raise ConfigError(f"{where} decodes to {len(key)} bytes, at least {MIN_BYTES} needed "
                          "(make a key with `openlfr key generate`)")
    return key


def load_session_key(data_dir: Path, environ: dict[str, str] | None = None) -> bytes:
    """The key from the environment, else from (or, the first time, into) the data folder."""
    env = os.environ if environ is None else environ
    if env.get(SESSION_KEY_ENV, "").strip():
        return _decode(env[SESSION_KEY_ENV], SESSION_KEY_ENV)
    path = data_dir / SESSION_KEY_FILE
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server process made it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(base64.b64encode(secrets.token_bytes(MIN_BYTES)).decode() + "\n")
    if stat.S_IMODE(path.stat().st_mode) & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"session key file {path} is readable by other users: run "
                          f"`chmod 600 {path}`")
    return _decode(path.read_text(), f"session key file {path}")
