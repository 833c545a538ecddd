"""The sign-in throttle in the store, on SQLite and PostgreSQL: per user across addresses,
per address across names, locks that expire, the window, a success clearing the name's
count; two throttles on one database (two server processes) share the count; names and
addresses are stored only as keyed hashes."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from openlfr.errors import ConfigError
from openlfr.governance.throttle import LoginThrottle, ThrottlePolicy
from openlfr.store import make_engine
from openlfr.store.db import make_session_factory
from openlfr.store.models import SignInFailure, SignInLock

from .conftest import DB

POLICY = ThrottlePolicy(per_user=3, per_ip=5, window_s=60, lockout_s=600)


def throttle(db: DB, t: list[float], **kw: object) -> LoginThrottle:
    return LoginThrottle(db.sessions, policy=POLICY, clock=lambda: t[0], **kw)  # type: ignore[arg-type]


def test_the_rules_of_the_throttle(db: DB) -> None:
    t = [0.0]
    th = throttle(db, t)
    a, b, c = "10.0.0.1", "10.0.0.2", "10.0.0.3"
    # per user, across addresses: three failures from three places lock the name everywhere
    for address in (a, b, c):
        assert th.check("Bob", address) == (0, None)
        th.failed("bob", address)
    fresh = "10.9.9.9"
    assert th.check("BOB ", fresh) == (600, "user")  # names compare case-insensitively
    assert th.check("alice", fresh) == (0, None)  # others are not affected
    t[0] = 599
    assert th.wait_s("bob", fresh) == 1  # failures do not extend it; it expires
    t[0] = 600
    assert th.check("bob", fresh) == (0, None)
    # per address, across users: a spray over names locks the address for every name
    for name in ("u1", "u2", "u3", "u4", "u5"):
        assert th.wait_s(name, a) == 0
        th.failed(name, a)
    assert th.check("someone-else", a) == (600, "address")
    assert th.check("u1", b) == (0, None)
    t[0] = 1200
    assert th.check("u1", a) == (0, None)
    # failures spread wider than the window do not add up; a success clears the name's
    th.failed("carol", b)
    t[0] = 1300
    th.failed("carol", b)
    th.failed("carol", b)
    assert th.wait_s("carol", b) == 0
    th.succeeded("carol")
    th.failed("carol", b)
    th.failed("carol", b)
    assert th.wait_s("carol", b) == 0


def test_two_processes_on_one_database_share_the_count(db: DB) -> None:
    t = [5000.0]
    other_engine = make_engine(db.url)  # the second process: its own engine and pool
    try:
        here = throttle(db, t)
        there = LoginThrottle(make_session_factory(other_engine), policy=POLICY,
                              clock=lambda: t[0])
        here.failed("dave", "192.0.2.1")
        there.failed("dave", "192.0.2.2")
        assert here.check("dave", "192.0.2.3") == (0, None)
        there.failed("dave", "192.0.2.3")  # the third failure, counted with the other two
        assert here.check("dave", "198.51.100.1") == (600, "user")
        assert there.check("dave", "198.51.100.1") == (600, "user")
        t[0] += 600
        assert here.check("dave", "198.51.100.1") == (0, None)
    finally:
        other_engine.dispose()


def test_only_keyed_hashes_are_stored_and_the_past_is_purged(db: DB) -> None:
    t = [9000.0]
    th = throttle(db, t, key=b"k" * 32)
    for _ in range(3):
        th.failed("Erin.Secret-Password", "203.0.113.5")
    with db.sessions() as s:
        rows = [(r.scope, r.key) for r in s.scalars(select(SignInFailure))]
        locks = [(r.scope, r.key) for r in s.scalars(select(SignInLock))]
    assert [scope for scope, _ in locks] == ["user"]
    assert {scope for scope, _ in rows} == {"address"}  # the name's count went into its lock
    for _, key in rows + locks:
        assert len(key) == 64 and "erin" not in key.lower() and "203.0" not in key
    # another key hashes differently: a lock is found only with the key that made it
    assert throttle(db, t, key=b"x" * 32).check("erin.secret-password", "1.2.3.4") == (0, None)
    t[0] += 601
    th.failed("someone", "198.51.100.9")  # a write purges what is past
    with db.sessions() as s:
        assert s.scalars(select(SignInLock)).all() == []
        assert len(s.scalars(select(SignInFailure)).all()) == 2  # someone's two, no older


def test_bad_policies_are_refused() -> None:
    for bad in ({"per_user": 0}, {"per_ip": 0}, {"window_s": 0}, {"lockout_s": -1}):
        with pytest.raises(ConfigError, match="sign-in throttle"):
            ThrottlePolicy(**bad)  # type: ignore[arg-type]
