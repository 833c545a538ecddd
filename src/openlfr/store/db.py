"""Engines, sessions and migrations. Nothing here runs at import.

SQLite (default; one file in data_dir): foreign keys on, WAL journal, a busy timeout, and
every transaction of a writing engine begins with ``BEGIN IMMEDIATE`` so writers are
serialised from their first statement (a deferred transaction that read first and writes
later could otherwise fail with SQLITE_BUSY under concurrency). A reading engine
(``make_engine(url, read_only=True)``) has ``query_only`` connections whose transactions
begin deferred: in WAL mode they read a snapshot and never take or wait for the write lock.
A writing session can also read without the lock: :func:`read_without_lock`.
PostgreSQL by URL (``postgresql+psycopg://...``); reading engines give read-only
transactions.

Pools are sized for many concurrent readers (:data:`READ_POOL`) and a few writers
(:data:`WRITE_POOL`); a checkout that waits longer than :data:`POOL_TIMEOUT_S` raises
``sqlalchemy.exc.TimeoutError``, which :func:`store_busy` recognises (the API answers 503).

Sessions from :func:`make_session_factory` do not autocommit: service functions flush,
callers commit (see :func:`session_scope`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from openlfr.errors import ConfigError

__all__ = ["make_engine", "make_session_factory", "session_scope", "upgrade", "downgrade",
           "current_revision", "head_revision", "require_current", "MIGRATIONS",
           "read_without_lock", "is_read_only", "store_busy", "READ_POOL", "WRITE_POOL",
           "POOL_TIMEOUT_S", "BUSY_TIMEOUT_MS"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: Connections of a reading engine: enough for 50 concurrent readers (and the server's
#: worker threads, 40 by default) without queueing on the pool.
READ_POOL: dict[str, int] = {"pool_size": 10, "max_overflow": 54}
#: Connections of a writing engine: writers are serialised by the store anyway.
WRITE_POOL: dict[str, int] = {"pool_size": 5, "max_overflow": 20}
#: Seconds a request waits for a pooled connection before the store counts as busy.
POOL_TIMEOUT_S = 10.0
#: Milliseconds SQLite waits for a lock before answering "database is locked".
BUSY_TIMEOUT_MS = 30000
#: Execution option: this transaction only reads (SQLite: deferred ``BEGIN``).
READ_OPTION = "openlfr_read_only"


def make_engine(url: str, *, echo: bool = False, read_only: bool = False) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder if needed.

    ``read_only=True`` gives sessions that cannot write (SQLite: ``query_only`` and deferred
    transactions that never block writers; PostgreSQL: read-only transactions), for pages
    and streams that only read and may stay open for a while.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"invalid database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    pool: dict[str, Any] = {**(READ_POOL if read_only else WRITE_POOL),
                            "pool_timeout": POOL_TIMEOUT_S}
    if backend == "sqlite":
        db = parsed.database
        in_memory = not db or db == ":memory:" or "mode=memory" in str(parsed.query)
        if not in_memory and not db.startswith("file:"):
            _create_private(Path(db).expanduser().resolve())
        # a memory database lives in one connection's pool (no sizes to set)
        engine = create_engine(url, echo=echo, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                               **({} if in_memory else pool))
        _configure_sqlite(engine, read_only)
        return engine
    if backend == "postgresql":
        if read_only:
            return create_engine(url, echo=echo, pool_pre_ping=True, **pool,
                                 execution_options={"postgresql_readonly": True})
        return create_engine(url, echo=echo, pool_pre_ping=True, **pool)
    raise ConfigError(f"unsupported database {backend!r}: use sqlite:///path or "
                      "postgresql+psycopg://user@host:5432/db")


def _create_private(path: Path) -> None:
    """A new database file is readable by its owner only (SQLite gives its -wal and -shm
    files the same mode); its folder is created owner-only too."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _configure_sqlite(engine: Engine, read_only: bool = False) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN (see the module docstring).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # first: WAL below may wait
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA secure_delete=ON")  # purged blobs are overwritten, not left free
        if read_only:
            cur.execute("PRAGMA query_only=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        deferred = read_only or conn.get_execution_options().get(READ_OPTION, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


def is_read_only(session: Session) -> bool:
    """Whether ``session`` comes from a reading factory (it cannot write)."""
    return bool(session.info.get("read_only"))


def read_without_lock(session: Session) -> Session:
    """Begin ``session``'s transaction as a read (SQLite: deferred, so it never takes the
    write lock). Call before the session's first statement; a transaction already begun is
    left as it is. Only for work that does not write: a later write in it may fail with
    SQLITE_BUSY."""
    if not session.in_transaction():
        session.connection(execution_options={READ_OPTION: True})
    return session


def store_busy(exc: BaseException) -> bool:
    """Whether ``exc`` means the store is overloaded or unreachable rather than a bug: no
    pooled connection in time, a lock not granted in time, or a lost connection."""

    if isinstance(exc, PoolTimeout | DisconnectionError):
        return True
    if isinstance(exc, OperationalError):
        orig = exc.orig
        if type(orig).__module__.startswith("sqlite3"):  # also "no such table" and the like
            text = str(orig).lower()
            return any(w in text for w in ("locked", "busy", "unable to open", "disk i/o"))
        return True  # PostgreSQL drivers: connection and server trouble
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def make_session_factory(engine: Engine,
                         info: dict[str, Any] | None = None) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit. ``info`` becomes
    each session's ``session.info``."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True, info=info)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(connection: Any = None) -> Any:

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _clear_errors(engine: Engine) -> Iterator[None]:
    """Unreachable servers and unknown revisions become clear ConfigErrors."""

    where = engine.url.render_as_string(hide_password=True)
    try:
        yield
    except OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(f"cannot use database {where}: {first}") from None
    except CommandError as exc:
        raise ConfigError(f"migration failed on {where}: {exc}") from None


def _migrate(url: str, direction: str, revision: str) -> None:

    engine = make_engine(url)
    try:
        with _clear_errors(engine), engine.begin() as conn:
            getattr(command, direction)(_alembic_config(conn), revision)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (creates the schema if empty)."""
    _migrate(url, "upgrade", revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate down to ``revision`` (``base`` removes every OpenLFR table)."""
    _migrate(url, "downgrade", revision)


def head_revision() -> str:

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return MigrationContext.configure(conn).get_current_revision()


def require_current(engine: Engine) -> None:
    """Refuse to work on a database that is not at the current schema."""
    with _clear_errors(engine):
        current, head = current_revision(engine), head_revision()
    if current != head:
        where = engine.url.render_as_string(hide_password=True)
        state = "empty" if current is None else f"at revision {current}"
        raise ConfigError(f"database {where} is {state}, this OpenLFR needs {head}: "
                          "run `openlfr db upgrade`")
