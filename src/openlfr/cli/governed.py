"""The governed store as a command opens it, and the acting user (``--as``) in it.

Every governance command runs as::

    with governed_store(need_key=False) as store, store.session() as s:
        result = some_rule(s, acting_user(s, as_user), ..., now())

The user's roles are checked and the action is audited by the governance function itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError, NotFound
from openlfr.governance.auth import get_user
from openlfr.governance.runtime import Store, open_store
from openlfr.settings import Settings
from openlfr.store.models import User

__all__ = ["settings", "now", "governed_store", "named", "acting_user", "public"]


def settings() -> Settings:
    """The settings from the environment (``OPENLFR_*``)."""
    return Settings()


def now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def governed_store(*, need_key: bool, dev: bool = False) -> Iterator[Store]:
    """The store of the settings, closed afterwards; ``need_key`` for commands that read or
    write encrypted values, ``dev`` to create a local key where none is configured."""
    store = open_store(settings(), dev=True if dev else None, need_key=need_key)
    try:
        yield store
    finally:
        store.close()


def named(username: str | None) -> str:
    """The name given with ``--as`` (or ``OPENLFR_AS``); an error when there is none."""
    if not username:
        raise ConfigError("name the acting user with --as USERNAME (or set OPENLFR_AS)")
    return username


def acting_user(session: Session, username: str | None) -> User:
    """The user named by ``--as`` (or ``OPENLFR_AS``)."""
    username = named(username)
    try:
        return get_user(session, username)
    except NotFound:
        raise NotFound(f"no user named {username!r}: create one with `openlfr user add`"
                       ) from None


def public(schema: type[BaseModel], row: Any) -> dict[str, Any]:
    """A store row as its public schema shows it, as JSON-ready values."""
    return schema.model_validate(row).model_dump(mode="json")
