"""The OpenLFR store: SQLAlchemy 2 models, engines and sessions, Alembic migrations.

SQLite by default (one file in ``data_dir``), PostgreSQL by URL. See :mod:`openlfr.store.db`.
"""

from openlfr.store.db import (
    downgrade,
    make_engine,
    make_session_factory,
    require_current,
    session_scope,
    upgrade,
)

__all__ = ["make_engine", "make_session_factory", "session_scope", "upgrade", "downgrade",
           "require_current"]
