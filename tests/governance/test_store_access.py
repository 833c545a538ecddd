"""Store access under load: reading sessions never take the SQLite write lock, refusals met on
them are still audited once, token last-used times are short separate writes, and the live
scan guard tells a busy store (grace period) from a refused deployment (at once)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from openlfr.errors import PermissionDenied
from openlfr.governance import auth
from openlfr.governance import deployments as D
from openlfr.governance.retention import RetentionPolicy
from openlfr.governance.runtime import Store
from openlfr.store.db import BUSY_TIMEOUT_MS, is_read_only, read_without_lock, store_busy
from openlfr.store.models import ApiToken, AuditEntry, User

from .conftest import DB, T0, People, active_deployment

H = timedelta(hours=1)


@pytest.fixture
def store(db: DB) -> Iterator[Store]:
    s = Store(db.engine, db.sessions, db.keyring, None, RetentionPolicy())
    try:
        yield s
    finally:
        if s.read_engine is not None:
            s.read_engine.dispose()


def audit_actions(db: DB) -> list[tuple[str, str]]:
    with db.sessions() as s:
        return [(e.actor, e.action) for e in s.scalars(select(AuditEntry).order_by(
            AuditEntry.seq))]


def locked() -> OperationalError:
    return OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))


# --- reading sessions ---------------------------------------------------------------------


def test_read_sessions_are_made_once_per_store(store: Store) -> None:
    first = store.read_sessions
    assert store.read_sessions is first
    engine = store.read_engine
    assert engine is not None and engine is not store.engine
    for _ in range(3):
        with store.read_session() as s:
            assert is_read_only(s) and s.info["write_sessions"] is store.sessions
    assert store.read_engine is engine
    with store.session() as s:
        assert not is_read_only(s)


def test_read_connections_get_wal_busy_timeout_and_query_only(db: DB, store: Store) -> None:
    if db.backend != "sqlite":
        pytest.skip("SQLite pragmas")
    with store.read_session() as s:
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_MS
        assert s.execute(text("PRAGMA query_only")).scalar() == 1
    with store.session() as s:
        assert s.execute(text("PRAGMA busy_timeout")).scalar() == BUSY_TIMEOUT_MS
        assert s.execute(text("PRAGMA query_only")).scalar() == 0


def test_a_reading_session_cannot_write(store: Store, people: People) -> None:
    with store.read_session() as s:
        user = s.get(User, people.op.id)
        assert user is not None
        user.display_name = "changed"
        with pytest.raises(OperationalError if store.engine.dialect.name == "sqlite"
                           else Exception):
            s.flush()


def test_readers_and_writers_do_not_wait_for_each_other(db: DB, store: Store,
                                                        people: People) -> None:
    """A writer holding the lock does not stop a reader; a reader holding a snapshot does
    not stop a writer from committing (SQLite WAL; PostgreSQL MVCC)."""
    writer = db.sessions()
    try:
        row = writer.get(User, people.op.id)
        assert row is not None
        row.display_name = "in the writer"
        writer.flush()  # SQLite: the write lock is held from here until commit
        with store.read_session() as r:
            seen = r.get(User, people.op.id)
            assert seen is not None and seen.display_name != "in the writer"
            # and a writing session asked to read without the lock reads too
            with db.sessions() as w2:
                assert read_without_lock(w2).get(User, people.op.id) is not None
            writer.commit()  # the open read does not hold the writer back
        with store.read_session() as r:
            assert r.get(User, people.op.id).display_name == "in the writer"  # type: ignore
    finally:
        writer.close()


def test_a_refusal_on_a_reading_session_is_audited_once(db: DB, store: Store,
                                                        people: People) -> None:
    before = audit_actions(db)
    with store.read_session() as s:
        op = s.get(User, people.op.id)
        with pytest.raises(PermissionDenied):
            auth.require(s, op, auth.Action.USER_MANAGE, target="route:GET /x")
        with pytest.raises(PermissionDenied):
            auth.require(s, None, auth.Action.ALERT_VIEW)
        assert auth.require(s, op, auth.Action.ALERT_VIEW) is op  # allowed: writes nothing
    after = audit_actions(db)
    assert after[len(before):] == [("op", "permission_denied"),
                                   ("anonymous", "permission_denied")]


def test_token_last_used_is_a_short_write_at_most_once_a_minute(db: DB, store: Store,
                                                               people: People) -> None:
    with db.sessions() as s:
        row, token = auth.issue_token(s, s.get(User, people.op.id), name="t", now=T0)
        s.commit()
        token_id = row.id

    def last_used() -> object:
        with db.sessions() as s:
            return s.get(ApiToken, token_id).last_used_at  # type: ignore[union-attr]

    with store.read_session() as s:
        assert auth.user_for_token(s, token, now=T0 + H).username == "op"  # type: ignore
    assert last_used() == T0 + H
    with store.read_session() as s:  # within the minute: nothing written
        assert auth.user_for_token(s, token, now=T0 + H + timedelta(seconds=30)) is not None
    assert last_used() == T0 + H
    with store.read_session() as s:
        assert auth.user_for_token(s, token, now=T0 + H + timedelta(seconds=61)) is not None
    assert last_used() == T0 + H + timedelta(seconds=61)
    assert audit_actions(db)[-1][1] == "token_issue"  # a last-used time is not audited


def test_store_busy_tells_load_from_bugs() -> None:
    assert store_busy(locked())
    assert store_busy(PoolTimeout("QueuePool limit reached"))
    assert not store_busy(OperationalError("SELECT", {},
                                           sqlite3.OperationalError("no such table: x")))
    assert not store_busy(ValueError("bug"))


# --- the live scan guard ------------------------------------------------------------------


class Flaky:
    """A session factory whose store can be made to fail on demand."""

    def __init__(self, sessions: Callable[[], Session]) -> None:
        self.sessions, self.calls = sessions, 0
        self.error: BaseException | None = None

    def __call__(self) -> Session:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.sessions()


@pytest.fixture
def live(db: DB, people: People) -> tuple[int, Flaky, list[float], D.LiveScanGuard]:
    with db.sessions() as s:
        dep = active_deployment(s, people)
    clock = [0.0]
    flaky = Flaky(db.sessions)
    guard = D.LiveScanGuard(flaky, dep.id, refresh_s=2.0, grace_s=10.0,
                            monotonic=lambda: clock[0])
    return dep.id, flaky, clock, guard


INSIDE = T0 + 2 * H


def test_guard_keeps_the_last_state_through_a_busy_store_for_the_grace(live) -> None:  # type: ignore[no-untyped-def]
    _, flaky, clock, guard = live
    assert guard("cam1", INSIDE)
    flaky.error = locked()
    for t in (2.0, 4.0, 6.0, 8.0, 10.0):  # retried every refresh, still within the grace
        clock[0] = t
        assert guard("cam1", INSIDE) and guard.refusal("cam1", INSIDE) is None
        assert not guard("cam9", INSIDE)  # the last state still applies in full
    assert "database is locked" in (guard.last_error or "")
    clock[0] = 10.5  # past the grace, between reloads: refused
    assert not guard("cam1", INSIDE)
    assert "unavailable for over 10 s" in (guard.refusal("cam1", INSIDE) or "")
    flaky.error = None
    clock[0] = 12.0  # the store answers again
    assert guard("cam1", INSIDE) and guard.last_error is None


def test_guard_applies_the_window_end_by_the_clock_while_the_store_is_busy(live) -> None:  # type: ignore[no-untyped-def]
    _, flaky, clock, guard = live
    assert guard("cam1", INSIDE)
    flaky.error = PoolTimeout("QueuePool limit reached")
    clock[0] = 3.0
    end = T0 + 9 * H
    assert guard("cam1", end - timedelta(seconds=1))
    assert not guard("cam1", end)
    assert "after the window" in (guard.refusal("cam1", end) or "")


def test_guard_refuses_a_stopped_deployment_at_once(live, db: DB, people: People) -> None:  # type: ignore[no-untyped-def]
    dep_id, _, clock, guard = live
    assert guard("cam1", INSIDE)
    with db.sessions() as s:
        D.stop(s, people.op, dep_id, INSIDE)
        s.commit()
    clock[0] = 2.0  # the next reload sees it: no grace for a refusal
    assert not guard("cam1", INSIDE)
    assert "ended" in (guard.refusal("cam1", INSIDE) or "")


def test_guard_without_any_state_or_on_a_bug_refuses_at_once(db: DB, people: People) -> None:
    with db.sessions() as s:
        dep = active_deployment(s, people)
    flaky = Flaky(db.sessions)
    flaky.error = locked()
    clock = [0.0]
    guard = D.LiveScanGuard(flaky, dep.id, grace_s=10.0, monotonic=lambda: clock[0])
    assert not guard("cam1", INSIDE)  # never read: nothing to keep
    assert "unavailable" in (guard.refusal("cam1", INSIDE) or "")
    flaky.error = None
    clock[0] = 2.0
    assert guard("cam1", INSIDE)
    flaky.error = RuntimeError("not a store problem")
    clock[0] = 4.0
    assert not guard("cam1", INSIDE)  # not the store being busy: no grace
    gone = D.LiveScanGuard(db.sessions, 424242, monotonic=lambda: 0.0)
    assert "no deployment 424242" in (gone.refusal("cam1", INSIDE) or "")


def test_guard_reads_without_taking_the_write_lock(db: DB, people: People) -> None:
    """Given the writing factory, the guard still reads while a writer holds the lock (on
    SQLite a BEGIN IMMEDIATE here would wait for it)."""
    with db.sessions() as s:
        dep = active_deployment(s, people)
    writer = db.sessions()
    try:
        writer.get(User, people.op.id).display_name = "busy writer"  # type: ignore[union-attr]
        writer.flush()
        guard = D.LiveScanGuard(db.sessions, dep.id, monotonic=lambda: 0.0)
        assert guard("cam1", INSIDE) and guard.last_error is None
    finally:
        writer.rollback()
        writer.close()
