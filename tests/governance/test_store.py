"""Migrations (empty -> head -> base on both databases), models == migrations, SQLite
pragmas, and a clear refusal on an unmigrated database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from openlfr.errors import ConfigError
from openlfr.store import downgrade, make_engine, require_current, upgrade
from openlfr.store.db import current_revision, head_revision
from openlfr.store.models import Base
from openlfr.store.testing import PostgresUnavailable, temporary_postgres

TABLES = {t.name for t in Base.metadata.sorted_tables}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sub' / 'fresh.db'}"
        return
    try:
        with temporary_postgres("openlfr_gov_mig") as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def test_upgrade_from_empty_to_head_and_back_down(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        assert current_revision(engine) is None
        with pytest.raises(ConfigError, match="openlfr db upgrade"):
            require_current(engine)
        upgrade(empty_url)
        assert current_revision(engine) == head_revision()
        require_current(engine)
        assert TABLES <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:  # the audit chain starts at the genesis head
            assert conn.execute(text("SELECT seq, hash FROM audit_head")).all() == [(0, "0" * 64)]
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        downgrade(empty_url, "base")
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(empty_url)  # and up again: downgrade left nothing behind
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_sqlite_engine_enables_foreign_keys_and_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert (tmp_path / "new" / "x.db").stat().st_mode & 0o777 == 0o600
    finally:
        engine.dispose()


def test_unreachable_database_and_bad_revision_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot use database postgresql.*127.0.0.1:1"):
        upgrade("postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=2")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    with pytest.raises(ConfigError, match="migration failed"):
        downgrade(url, "no_such_revision")


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="unsupported database"):
        make_engine("mysql://u@h/db")
    with pytest.raises(ConfigError, match="invalid database URL"):
        make_engine("::not a url::")


def test_read_only_sessions_read_but_never_write(tmp_path: Path) -> None:
    from sqlalchemy.exc import DBAPIError

    url = f"sqlite:///{tmp_path / 'r.db'}"
    upgrade(url)
    writer, reader = make_engine(url), make_engine(url, read_only=True)
    try:
        with reader.connect() as rconn:  # an open reader does not block a writer
            assert rconn.execute(text("SELECT seq FROM audit_head")).scalar() == 0
            with writer.begin() as w:
                w.execute(text("UPDATE audit_head SET seq = 5"))
        with reader.connect() as rconn:
            assert rconn.execute(text("SELECT seq FROM audit_head")).scalar() == 5
            with pytest.raises(DBAPIError, match="readonly"):
                rconn.execute(text("UPDATE audit_head SET seq = 6"))
    finally:
        writer.dispose()
        reader.dispose()
