"""Helpers for tests that need a real database (used by several areas' test suites).

``temporary_postgres(prefix)`` creates a throwaway database on the server named by
``OPENLFR_TEST_PG`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``),
yields its URL and drops it afterwards; it never touches other databases. It raises
:class:`PostgresUnavailable` (with the reason) when the server cannot be reached, so a
fixture can skip with that reason.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from openlfr.store.models import Base

__all__ = ["temporary_postgres", "PostgresUnavailable", "admin_url", "truncate_all"]

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class PostgresUnavailable(RuntimeError):
    pass


def admin_url() -> str:
    return os.environ.get("OPENLFR_TEST_PG", DEFAULT_ADMIN_URL)


@contextmanager
def temporary_postgres(prefix: str = "openlfr_test") -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this process; dropped on exit."""
    import psycopg

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,30}", prefix):
        raise ValueError(f"bad database prefix {prefix!r}")
    url = make_url(admin_url())
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        conn = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PostgresUnavailable(f"PostgreSQL at {url.host}:{url.port} is unreachable "
                                  f"({first})") from None
    try:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def truncate_all(engine: object) -> None:
    """Empty every OpenLFR table (keeps the schema and id sequences; resets the audit chain
    head)."""
    assert isinstance(engine, Engine)
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        # DELETE, not TRUNCATE: much faster on small tables. Ids are not reset.
        for t in reversed(tables):
            conn.execute(text(f'DELETE FROM "{t}"'))
        conn.execute(text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :h)"),
                     {"h": "0" * 64})
