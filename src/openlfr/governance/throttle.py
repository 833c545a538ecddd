"""The sign-in throttle, kept in the store: every server process sharing the database
shares the count (several centres behind one proxy count together).

Failed sign-ins are counted per user (from any address) and per address (for any name).
``per_user`` failures on one name within ``window_s`` lock that name for ``lockout_s`` from
every address, the right password included; ``per_ip`` failures from one address lock that
address for every name (a spray across names). Locks expire; failures older than the window
no longer count. A right password clears the name's failures, not the address's (one known
account must not reset a spray's count).

Names (compared case-insensitively, without surrounding blanks) and addresses are stored as
keyed hashes (HMAC-SHA256 with the audit key), never as typed: a name typed at the sign-in
form may be a password typed in the wrong field.

Writes are short transactions of their own (insert a failure, purge what is past, maybe add
a lock; delete a name's failures), separate from the request's. :meth:`LoginThrottle.check`
only reads, through the reading sessions (on SQLite a deferred transaction that never waits
for the write lock), so a sign-in is never held up by another's bookkeeping. Two failures of
one name recorded at the same moment by two PostgreSQL transactions may each miss the
other, so a lock can come one failure late under such a race, never early.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from openlfr.errors import ConfigError
from openlfr.store.db import read_without_lock, session_scope
from openlfr.store.models import SignInFailure, SignInLock

__all__ = ["ThrottlePolicy", "LoginThrottle", "USER", "ADDRESS"]

USER, ADDRESS = "user", "address"
#: the HMAC key of the stored names and addresses when no audit key is configured
_DEFAULT_KEY = b"openlfr sign-in throttle"


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures lock what, and for how long (see the module docstring)."""

    per_user: int = 5
    per_ip: int = 20
    window_s: float = 300.0
    lockout_s: float = 900.0

    def __post_init__(self) -> None:
        if self.per_user < 1 or self.per_ip < 1:
            raise ConfigError("sign-in throttle: per_user and per_ip must be at least 1")
        if self.window_s <= 0 or self.lockout_s <= 0:
            raise ConfigError("sign-in throttle: window_s and lockout_s must be positive")

    def limit(self, scope: str) -> int:
        return self.per_user if scope == USER else self.per_ip


class LoginThrottle:
    """The throttle on the store behind ``sessions`` (writes) and ``read_sessions`` (the
    check; default ``sessions``). ``key``: the HMAC key of stored names and addresses (the
    audit key; every process sharing the database must use the same). ``clock``: seconds
    since the epoch (wall time: processes on several machines compare it)."""

    def __init__(self, sessions: sessionmaker[Session],
                 read_sessions: sessionmaker[Session] | None = None, *,
                 key: bytes | None = None, policy: ThrottlePolicy | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._sessions, self._read = sessions, read_sessions or sessions
        self._key = key or _DEFAULT_KEY
        self.policy = policy or ThrottlePolicy()
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _keys(self, username: str, address: str) -> list[tuple[str, str]]:
        def hashed(scope: str, value: str) -> str:
            return hmac.new(self._key, f"{scope}\x00{value}".encode(), hashlib.sha256).hexdigest()

        return [(USER, hashed(USER, username.strip().lower())),
                (ADDRESS, hashed(ADDRESS, address))]

    def check(self, username: str, address: str) -> tuple[float, str | None]:
        """(seconds until this caller may try again, what is locked: "user" or "address");
        (0, None) when it may try now. Only reads."""
        now = self._now()
        wait, scope = 0.0, None
        with self._read() as s:
            read_without_lock(s)  # also when it is given only writing sessions
            for key_scope, key in self._keys(username, address):
                until = s.scalar(select(func.max(SignInLock.until)).where(
                    SignInLock.scope == key_scope, SignInLock.key == key,
                    SignInLock.until > now))
                if until is not None and (until - now).total_seconds() > wait:
                    wait, scope = (until - now).total_seconds(), key_scope
        return wait, scope

    def wait_s(self, username: str, address: str) -> float:
        """Seconds until this caller may try again (0: now)."""
        return self.check(username, address)[0]

    def failed(self, username: str, address: str) -> None:
        """Count a failed sign-in against the name and the address; lock what reached its
        limit within the window (its failures then start again from none)."""
        now = self._now()
        since = now - timedelta(seconds=self.policy.window_s)
        with session_scope(self._sessions) as s:
            # what is past counts no more: the tables hold only the live window and locks
            s.execute(delete(SignInFailure).where(SignInFailure.at < since))
            s.execute(delete(SignInLock).where(SignInLock.until <= now))
            for scope, key in self._keys(username, address):
                s.add(SignInFailure(scope=scope, key=key, at=now))
                s.flush()
                mine = (SignInFailure.scope == scope, SignInFailure.key == key)
                count = s.scalar(select(func.count()).select_from(SignInFailure).where(*mine))
                if int(count or 0) >= self.policy.limit(scope):
                    until = now + timedelta(seconds=self.policy.lockout_s)
                    s.add(SignInLock(scope=scope, key=key, until=until))
                    s.execute(delete(SignInFailure).where(*mine))

    def succeeded(self, username: str) -> None:
        """A right password clears the name's failures (not the address's)."""
        (scope, key), _ = self._keys(username, "")
        with session_scope(self._sessions) as s:
            s.execute(delete(SignInFailure).where(SignInFailure.scope == scope,
                                                  SignInFailure.key == key))
