"""Alembic environment for OpenLFR. Run through :func:`openlfr.store.db.upgrade`, which
passes an open connection in ``config.attributes["connection"]``; no alembic.ini needed."""

from __future__ import annotations

from alembic import context

from openlfr.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run OpenLFR migrations with openlfr.store.db.upgrade(url) or "
                           "`openlfr db upgrade`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
