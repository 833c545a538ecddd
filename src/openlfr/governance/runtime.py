"""Open the governed store: engine, session factory, encryption keyring, audit key, policy.

    store = open_store(Settings())          # refuses without a key unless dev mode
    with store.session() as s:              # commits on success, rolls back on error
        dep = deployments.start(s, user, 3, now)

Sessions carry the keyring and audit key in ``session.info`` so service functions need not
be handed them on every call. Nothing is opened at import.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from openlfr.governance.crypto import Keyring, load_keyring
from openlfr.governance.retention import RetentionPolicy
from openlfr.settings import Settings
from openlfr.store.db import make_engine, make_session_factory, require_current, session_scope

__all__ = ["Store", "open_store", "governed_factory"]


def governed_factory(engine: Engine, keyring: Keyring | None,
                     audit_key: bytes | None = None, *,
                     writer: sessionmaker[Session] | None = None, profile: str = "custom",
                     policy: RetentionPolicy | None = None) -> sessionmaker[Session]:
    """Sessions carrying the keyring and audit key, the installation's rule profile and
    retention policy. ``writer`` marks a reading factory: its
    sessions have ``info["read_only"]`` and ``info["write_sessions"]`` (the factory for the
    short write transactions a read may need, e.g. auditing a refusal)."""
    info = {"keyring": keyring, "audit_key": audit_key, "profile": profile,
            "retention": policy}
    if writer is not None:
        info |= {"read_only": True, "write_sessions": writer}
    return make_session_factory(engine, info=info)


@dataclass
class Store:
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring | None
    audit_key: bytes | None
    policy: RetentionPolicy
    read_engine: Engine | None = None
    _read_factory: sessionmaker[Session] | None = field(default=None, repr=False)
    _read_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def read_sessions(self) -> sessionmaker[Session]:
        """Sessions that only read. On SQLite every writing transaction holds the write lock
        from its start (``BEGIN IMMEDIATE``), so readers (authentication, lists, reports,
        pages, live streams) use these: deferred transactions on ``query_only`` connections
        (PostgreSQL: read-only transactions) that never take or wait for the write lock.
        They cannot write themselves; a refusal they meet is audited through a short
        transaction of :attr:`sessions` (``session.info["write_sessions"]``).

        The reading engine and its factory are made once, on first use."""
        with self._read_lock:
            if self._read_factory is None:
                if self.read_engine is None:
                    self.read_engine = make_engine(self.engine.url.render_as_string(
                        hide_password=False), read_only=True)
                self._read_factory = governed_factory(
                    self.read_engine, self.keyring, self.audit_key, writer=self.sessions,
                    profile=self.sessions.kw["info"]["profile"], policy=self.policy)
            return self._read_factory

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """One read: rolled back (nothing to keep) and closed at the end."""
        with self.read_sessions() as s:
            yield s

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.sessions) as s:
            yield s

    def close(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()


def open_store(settings: Settings, *, dev: bool | None = None, need_key: bool = True,
               check_schema: bool = True, url: str | None = None) -> Store:
    """The store described by ``settings``. ``need_key=False`` for commands that touch no
    biometric data (audit verify, user admin): they run without the encryption key."""
    keyring = load_keyring(settings, dev=dev) if need_key else None
    engine = make_engine(url or settings.resolved_database_url)
    if check_schema:
        try:
            require_current(engine)
        except BaseException:
            engine.dispose()
            raise
    audit_key = (settings.audit_key.get_secret_value().encode()
                 if settings.audit_key is not None else None)
    policy = RetentionPolicy.from_settings(settings)
    return Store(engine, governed_factory(engine, keyring, audit_key, profile=settings.profile,
                                          policy=policy), keyring, audit_key, policy)
