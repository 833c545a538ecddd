"""Who holds a token, remembered for a second: the fast path of authentication.

Every request names its caller by a bearer token or a console session, and looking that up
(the token, its user, the user's roles) was a quarter of the server's work under load. A
control room's screens ask many times a second with the same few tokens, so the answer is
kept here, keyed by the token's hash, for at most :data:`TTL_S`.

What keeps it honest:

- An entry is only made from a successful lookup in the store, and only a request that
  changes nothing (GET, HEAD) is admitted from it, and only when the cached roles allow
  the route's permission. Everything else (refusals, which are audited; state changes,
  which also need the CSRF check; unknown tokens) takes the full path through the store.
- This process forgets everything the moment one of its own writes commits a change to a
  user, a role or a token (:meth:`CallerCache.watch`): revoking a token, disabling a user,
  a password reset or a role change here is in force for the very next request.
- A change made by another process (``openlfr user ...`` on the command line, another
  server on the same database) is in force here within ``TTL_S``.
- A token's own expiry is checked on every use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from openlfr.store.models import ApiToken, User, UserRole

__all__ = ["Caller", "CallerCache", "TTL_S"]

#: How long another process's change to a user, role or token may go unseen here, seconds.
TTL_S = 1.0

_WATCHED = (User, UserRole, ApiToken)
_FLAG = "openlfr_callers_changed"


@dataclass(frozen=True, slots=True)
class Caller:
    """What a token said about its holder when the store was last asked: enough to admit a
    read, nothing to write with (a route that needs the user's row loads it)."""

    user_id: int
    username: str
    roles: frozenset[Any]
    expires_at: datetime | None  # the token's, None for no expiry


class CallerCache:
    """At most ``max_entries`` callers by token hash, each at most ``ttl_s`` old."""

    def __init__(self, ttl_s: float = TTL_S, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.max_entries, self._clock = ttl_s, max_entries, clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._generation = 0

    @property
    def generation(self) -> int:
        """Take this before reading the store, and give it to :meth:`put`."""
        return self._generation

    def get(self, token_hash: str, now: datetime) -> Caller | None:
        """The caller of an unexpired entry whose token has not expired at ``now``."""
        with self._lock:
            found = self._entries.get(token_hash)
        if found is None or self._clock() - found[0] >= self.ttl_s:
            return None
        caller = found[1]
        if caller.expires_at is not None and caller.expires_at <= now:
            return None
        return caller

    def put(self, token_hash: str, caller: Caller, generation: int) -> None:
        """Remember ``caller``, unless something changed since ``generation`` was taken (an
        answer read across a change is never kept)."""
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[token_hash] = (self._clock(), caller)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def watch(self, factory: sessionmaker[Session]) -> None:
        """Forget everything when a session of ``factory`` commits a change to a user, a
        role or a token."""

        def flushed(session: Session, _context: Any) -> None:
            if any(isinstance(o, _WATCHED)
                   for o in (*session.new, *session.dirty, *session.deleted)):
                session.info[_FLAG] = True

        def committed(session: Session) -> None:
            if session.info.pop(_FLAG, False):
                self.clear()

        event.listen(factory, "after_flush", flushed)
        event.listen(factory, "after_commit", committed)
