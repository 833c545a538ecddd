"""Key rotation: re-encrypt every value encrypted at rest under a new key.

Every encrypted column is listed in :data:`ENCRYPTED` (table, column): the probe images of
alerts, watchlist images and templates, their snapshot copies, camera source URLs. Rotation
decrypts each value with the keyring it is given (the current key, and any older ones still
held) and encrypts it again under the new key, with the same associated data (the row and
column), in one transaction: a failure leaves the store as it was. Before the commit every
value is read back with the new key alone, so the old key is no longer needed afterwards.
Audited (``key_rotate``: the two key ids and the counts, never key material).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError
from openlfr.governance import audit
from openlfr.governance.auth import Action, require
from openlfr.governance.crypto import Keyring, aad_for
from openlfr.store.models import Base, User
from openlfr.store.types import as_utc

__all__ = ["ENCRYPTED", "rotate_key"]

#: (table, column) of every value encrypted at rest; the AAD is ``aad_for(table, id, column)``.
ENCRYPTED: tuple[tuple[str, str], ...] = (
    ("subject_images", "blob"),
    ("templates", "blob"),
    ("snapshot_subjects", "image_blob"),
    ("snapshot_templates", "blob"),
    ("alerts", "probe_blob"),
    ("deployment_cameras", "source_secret"),
)
BATCH = 500


def _table(session: Session, name: str) -> Table:
    table = Base.metadata.tables.get(name)
    if table is None:  # pragma: no cover - a model renamed without updating ENCRYPTED
        raise LookupError(f"no table {name!r} in the models")
    return table


def _values(session: Session, table_name: str, column: str) -> Iterator[tuple[int, bytes]]:
    """(row id, encrypted value) of every row holding one, in batches by id."""
    table = _table(session, table_name)
    col = table.c[column]
    after = 0
    while True:
        rows = session.execute(select(table.c.id, col).where(
            col.is_not(None), table.c.id > after).order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        yield from ((row_id, blob) for row_id, blob in rows)
        after = rows[-1][0]


def rotate_key(session: Session, actor: User, current: Keyring, new_key: bytes,
               now: datetime) -> dict[str, int]:
    """Re-encrypt every encrypted value under ``new_key``, reading them with ``current``.
    Returns ``"table.column" -> values re-encrypted``. The caller commits."""
    now = as_utc(now)
    require(session, actor, Action.USER_MANAGE, now=now, target="encryption_key")
    new = Keyring(new_key)
    if current.key_id == new.key_id:
        raise ConfigError("the new key is the current key: generate another with "
                          "`openlfr key generate`")
    counts: dict[str, int] = {}
    for table_name, column in ENCRYPTED:
        table = _table(session, table_name)
        n = 0
        for row_id, blob in _values(session, table_name, column):
            aad = aad_for(table_name, row_id, column)
            session.execute(update(table).where(table.c.id == row_id).values(
                {column: new.encrypt(current.decrypt(blob, aad), aad)}))
            n += 1
        counts[f"{table_name}.{column}"] = n
    session.expire_all()  # loaded objects still hold the old ciphertexts
    for table_name, column in ENCRYPTED:  # every value reads with the new key alone
        for row_id, blob in _values(session, table_name, column):
            new.decrypt(blob, aad_for(table_name, row_id, column))
    audit.append(session, actor=actor.username, action="key_rotate", now=now,
                 target="encryption_key", details={"from_key_id": current.key_id,
                                                   "to_key_id": new.key_id, "values": counts})
    return counts
