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
import hashlib
import hmac
import os
import secrets
import stat
import time
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


class SessionSigner:
    """HMAC-SHA256 signed console session cookies: ``<payload>.<signature>``.

    The payload names a session token issued by governance at login (revoked at logout), so a
    signed cookie is useless once its session ends; the signature stops tampering and guessing.
    """

    def __init__(self, key: bytes, max_age_s: int = 12 * 3600) -> None:
        if len(key) < MIN_BYTES:
            raise ValueError(f"session key must be at least {MIN_BYTES} bytes")
        self._key = key
        self.max_age_s = max_age_s

    def _sig(self, payload: bytes) -> str:
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def dumps(self, token: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        raw = f"{issued}:{token}".encode()
        payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return f"{payload}.{self._sig(payload.encode())}"

    def loads(self, value: str, now: float | None = None) -> str | None:
        """The token inside a valid, unexpired cookie; None otherwise."""
        try:
            payload, sig = value.rsplit(".", 1)
            if not hmac.compare_digest(sig, self._sig(payload.encode())):
                return None
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
            issued_s, token = raw.split(":", 1)
            age = (now if now is not None else time.time()) - int(issued_s)
        except (ValueError, UnicodeDecodeError):
            return None
        if age < 0 or age > self.max_age_s:
            return None
        return token

    def csrf(self, session_token: str) -> str:
        """The console's anti-CSRF token for one session: a keyed hash of the session token,
        so it is bound to the session, needs no storage and dies with the session."""
        mac = hmac.new(self._key, b"csrf:" + session_token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
