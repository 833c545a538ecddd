"""The audit chain on both databases: any edit, deletion, insertion or reordering is found
and located; appends from concurrent writers keep the chain whole."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import threading
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from openlfr.governance import audit
from openlfr.store import make_engine
from openlfr.store.models import AuditHead, Base

from .conftest import DB, T0

S = timedelta(seconds=1)


def fill(session: Session, n: int = 6, key: bytes | None = None) -> None:
    for i in range(n):
        audit.append(session, actor=f"user{i % 2}", action="test", now=T0 + i * S,
                     target=f"thing:{i}", details={"i": i, "note": "ünïcode"}, key=key)
    session.commit()


def sql(session: Session, stmt: str, **params: object) -> None:
    session.execute(text(stmt), params)
    session.commit()


def kinds(report: audit.VerifyReport) -> set[str]:
    return {p.kind for p in report.problems}


def test_intact_chain_verifies(session: Session) -> None:
    fill(session)
    report = audit.verify(session)
    assert report.ok and report.entries == 6 and report.head_seq == 6
    assert report.to_dict()["first_bad_seq"] is None


def test_edited_entry_is_found(session: Session) -> None:
    fill(session)
    sql(session, "UPDATE audit_log SET details = :d WHERE seq = 3", d='{"i":99}')
    report = audit.verify(session)
    assert not report.ok and report.first_bad_seq == 3 and "edited" in kinds(report)


@pytest.mark.parametrize("column, value", [("actor", "someone_else"), ("action", "other"),
                                           ("target", "thing:0")])
def test_any_edited_field_is_found(session: Session, column: str, value: str) -> None:
    fill(session)
    sql(session, f"UPDATE audit_log SET {column} = :v WHERE seq = 4", v=value)
    assert audit.verify(session).first_bad_seq == 4


def test_deleted_entry_is_found(session: Session) -> None:
    fill(session)
    sql(session, "DELETE FROM audit_log WHERE seq = 2")
    report = audit.verify(session)
    assert report.first_bad_seq == 3 and {"gap", "broken_link"} <= kinds(report)
    assert "1 entry missing" in report.problems[0].message


def test_deleted_tail_is_found(session: Session) -> None:
    fill(session)
    sql(session, "DELETE FROM audit_log WHERE seq >= 5")
    report = audit.verify(session)
    assert not report.ok and kinds(report) == {"truncated"}


def test_inserted_entry_is_found(session: Session) -> None:
    """A forger shifts later entries up and inserts a well-formed entry with a correct hash
    of its own; the entries after it no longer verify."""
    fill(session)
    sql(session, "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3")
    sql(session, "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100")
    prev = session.execute(text("SELECT hash FROM audit_log WHERE seq = 2")).scalar_one()
    forged = {"seq": 3, "at": (T0 + 2 * S).isoformat(), "actor": "user0", "action": "test",
              "target": "thing:x", "details": "{}", "alg": "sha256", "prev_hash": prev}
    h = hashlib.sha256(audit.canonical_json(forged).encode()).hexdigest()
    sql(session, "INSERT INTO audit_log (seq, at, actor, action, target, details, alg, "
        "prev_hash, hash) VALUES (3, :at, 'user0', 'test', 'thing:x', '{}', 'sha256', :p, :h)",
        at=(T0 + 2 * S).replace(tzinfo=None), p=prev, h=h)
    report = audit.verify(session)
    assert not report.ok and report.first_bad_seq == 4
    assert "truncated" in kinds(report)  # and the head no longer matches the end


def test_entry_inserted_before_the_first_is_found(session: Session) -> None:
    """A row numbered 0 (or below) sits before the chain's first entry: it is read too."""
    fill(session)
    sql(session, "INSERT INTO audit_log (seq, at, actor, action, target, details, alg, "
        "prev_hash, hash) VALUES (0, :at, 'user0', 'test', 'thing:x', '{}', 'sha256', :p, :h)",
        at=T0.replace(tzinfo=None), p=audit.GENESIS, h="0" * 64)
    report = audit.verify(session)
    assert not report.ok and report.first_bad_seq == 0 and report.entries == 7


def test_reordered_entries_are_found(session: Session) -> None:
    fill(session)
    cols = "at, actor, action, target, details, alg, prev_hash, hash"
    rows = {r[0]: r[1:] for r in session.execute(text(f"SELECT seq, {cols} FROM audit_log "
                                                      "WHERE seq IN (3, 4)"))}
    for seq, other in ((3, 4), (4, 3)):
        sets = ", ".join(f"{c.strip()} = :v{i}" for i, c in enumerate(cols.split(",")))
        sql(session, f"UPDATE audit_log SET {sets} WHERE seq = {seq}",
            **{f"v{i}": v for i, v in enumerate(rows[other])})
    report = audit.verify(session)
    assert report.first_bad_seq == 3 and {"edited", "broken_link"} <= kinds(report)


def test_keyed_chain_needs_the_key_and_resists_recomputation(session: Session) -> None:
    key = b"audit-key-from-settings"
    fill(session, key=key)
    assert audit.verify(session, key=key).ok
    assert "unverifiable" in kinds(audit.verify(session))
    assert "edited" in kinds(audit.verify(session, key=b"wrong"))
    # Without the key a forger can only write plain SHA-256 links: found as a downgrade.
    row = session.execute(text("SELECT seq, at, actor, action, target, details, prev_hash "
                               "FROM audit_log WHERE seq = 6")).one()
    payload = {"seq": 6, "at": (T0 + 5 * S).isoformat(), "actor": row.actor,
               "action": row.action, "target": row.target, "details": '{"i":0}',
               "alg": "sha256", "prev_hash": row.prev_hash}
    h = hashlib.sha256(audit.canonical_json(payload).encode()).hexdigest()
    sql(session, "UPDATE audit_log SET details = :d, alg = 'sha256', hash = :h WHERE seq = 6",
        d='{"i":0}', h=h)
    sql(session, "UPDATE audit_head SET hash = :h", h=h)
    report = audit.verify(session, key=key)
    assert not report.ok and kinds(report) == {"downgrade"}


def test_export_writes_every_entry_as_json_lines(session: Session) -> None:
    fill(session, 3)
    buf = io.StringIO()
    assert audit.export(session, buf) == 3
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3] and lines[2]["details"]["i"] == 2
    assert lines[1]["prev_hash"] == lines[0]["hash"]


def test_concurrent_appends_keep_one_chain(db: DB) -> None:
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(15):
                with db.sessions() as s:
                    audit.append(s, actor=f"w{w}", action="test", now=T0, details={"i": i})
                    s.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.sessions() as s:
        report = audit.verify(s)
        assert report.ok, report.problems
        assert report.entries == report.head_seq == 60


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 8), data=st.data())
def test_any_single_tampering_is_found(n: int, data: st.DataObject) -> None:
    """Property: whichever entry is edited, deleted or swapped, verify fails at or before it."""
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{d}/a.db"
        engine = make_engine(url)
        try:
            Base.metadata.create_all(engine)
            with Session(engine) as s:
                s.add(AuditHead(id=1, seq=0, hash=audit.GENESIS))
                fill(s, n)
                seq = data.draw(st.integers(1, n), label="seq")
                how = data.draw(st.sampled_from(["edit", "delete", "swap"]), label="how")
                if how == "edit":
                    col = data.draw(st.sampled_from(["actor", "action", "target", "details",
                                                     "prev_hash", "hash", "at"]))
                    value = "2020-01-01 00:00:00.000000" if col == "at" else '{"x":1}'
                    sql(s, f"UPDATE audit_log SET {col} = :v WHERE seq = :s", v=value, s=seq)
                elif how == "delete":
                    sql(s, "DELETE FROM audit_log WHERE seq = :s", s=seq)
                else:
                    other = seq % n + 1  # a different entry
                    sql(s, "UPDATE audit_log SET seq = -1 WHERE seq = :a", a=seq)
                    sql(s, "UPDATE audit_log SET seq = :a WHERE seq = :b", a=seq, b=other)
                    sql(s, "UPDATE audit_log SET seq = :b WHERE seq = -1", b=other)
                report = audit.verify(s)
                assert not report.ok
                first = report.first_bad_seq
                assert first is not None and first <= max(seq, seq % n + 1) + 1
        finally:
            engine.dispose()
