"""Users, roles, tokens and refusals on both databases."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openlfr.errors import PermissionDenied, StateError
from openlfr.governance import auth
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.schemas import UserCreate
from openlfr.store.models import AuditEntry, Deployment, Role

from .conftest import DB, T0, People, deployment_data, make_subject

H = timedelta(hours=1)


def last(session: Session) -> AuditEntry:
    return session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()


@pytest.mark.parametrize("who, call", [
    ("op", lambda s, u: D.create_deployment(s, u, deployment_data(), T0)),
    ("wm", lambda s, u: D.create_deployment(s, u, deployment_data(), T0)),
    ("admin", lambda s, u: W.list_subjects(s, u, T0)),  # admin sees no biometric data
    ("auditor", lambda s, u: make_subject(s, u, "X")),
    ("eo", lambda s, u: auth.create_user(s, u, UserCreate(username="z", roles=[Role.ADMIN]),
                                         now=T0)),
])
def test_refusal_is_raised_and_audited(session: Session, people: People, who: str,
                                       call: object) -> None:
    user = getattr(people, who)
    with pytest.raises(PermissionDenied, match=f"{user.username} may not"):
        call(session, user)  # type: ignore[operator]
    session.rollback()  # what a caller does on error: the refusal record survives it
    entry = last(session)
    assert entry.action == "permission_denied" and entry.actor == user.username
    assert session.scalar(select(func.count()).select_from(Deployment)) == 0


def test_refused_operation_leaves_nothing_behind(session: Session, people: People) -> None:
    with pytest.raises(PermissionDenied):
        auth.require(session, people.op, auth.Action.SNAPSHOT_APPROVE, now=T0)
    assert last(session).action == "permission_denied"
    assert PermissionDenied.exit_code == 3


def test_disabled_user_is_refused_and_tokens_revoked(session: Session, people: People) -> None:
    _, token = auth.issue_token(session, people.op, name="console", now=T0)
    session.commit()
    assert auth.user_for_token(session, token, T0) is people.op
    auth.disable_user(session, people.admin, "op", now=T0)
    session.commit()
    assert auth.user_for_token(session, token, T0) is None
    with pytest.raises(PermissionDenied, match="disabled"):
        D.start(session, people.op, 1, T0)
    with pytest.raises(StateError, match="your own account"):
        auth.disable_user(session, people.admin, "admin", now=T0)


def test_tokens_are_stored_hashed_expire_and_revoke(session: Session, people: People) -> None:
    row, token = auth.issue_token(session, people.eo, name="phone", now=T0,
                                  expires_at=T0 + H)
    session.commit()
    assert token.startswith("olfr_") and row.token_hash == auth.hash_token(token)
    assert token not in str(session.execute(select(AuditEntry.details)).all())
    assert auth.user_for_token(session, token, T0 + 0.5 * H) is people.eo
    assert auth.user_for_token(session, token, T0 + H) is None  # expired
    assert auth.user_for_token(session, token + "x", T0) is None
    assert auth.user_for_token(session, "garbage", T0) is None
    with pytest.raises(PermissionDenied):  # someone else's token needs admin
        auth.revoke_token(session, people.op, row.id, now=T0)
    auth.revoke_token(session, people.eo, row.id, now=T0)
    assert auth.user_for_token(session, token, T0) is None


def test_authenticate_checks_argon2_hash_and_audits(session: Session) -> None:
    admin = auth.create_user(session, None, UserCreate(username="root", roles=[Role.ADMIN],
                                                       password="correct horse"), now=T0)
    session.commit()
    assert admin.password_hash and admin.password_hash.startswith("$argon2")
    assert auth.authenticate(session, "root", "correct horse", T0) is admin
    assert auth.authenticate(session, "root", "wrong horse!", T0) is None
    assert auth.authenticate(session, "nobody", "correct horse", T0) is None
    acts = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert acts[-3:] == ["login", "login_failed", "login_failed"]
    assert auth.authenticate(session, "correct horse", "root", T0) is None  # fields swapped
    rows = session.execute(select(AuditEntry.actor, AuditEntry.details)).all()
    assert "horse" not in str(rows)  # neither the password nor a mistyped one is logged
    assert rows[-1].actor == "anonymous"
    # no unkeyed digest of an unknown name (it may be a password) reaches the log
    for typed in ("nobody", "correct horse"):
        digest = hashlib.sha256(typed.encode()).hexdigest()[:16]
        assert digest not in str(rows)


def test_unknown_name_is_recorded_only_as_a_keyed_digest(session: Session) -> None:
    session.info["audit_key"] = b"k" * 32
    try:
        assert auth.authenticate(session, "correct horse", "x", T0) is None
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
        want = hmac.new(b"k" * 32, b"correct horse", hashlib.sha256).hexdigest()[:16]
        details = json.loads(entry.details)  # canonical JSON text
        assert details["username_hmac"] == want
        assert hashlib.sha256(b"correct horse").hexdigest()[:16] not in entry.details
    finally:
        session.info.pop("audit_key", None)


def test_bootstrap_only_when_there_are_no_users(session: Session, people: People) -> None:
    with pytest.raises(PermissionDenied, match="anonymous"):
        auth.create_user(session, None, UserCreate(username="x", roles=[Role.ADMIN]), now=T0)
    with pytest.raises(StateError, match="already exists"):
        auth.create_user(session, people.admin, UserCreate(username="op", roles=[Role.ADMIN]),
                         now=T0)
    auth.set_roles(session, people.admin, "op", [Role.OPERATOR, Role.ENGAGEMENT_OFFICER],
                   now=T0)
    assert people.op.roles == {Role.OPERATOR, Role.ENGAGEMENT_OFFICER}


def test_concurrent_bootstraps_make_one_first_user(db: DB) -> None:
    """A second bootstrap while the first is uncommitted waits, then is refused."""
    first = db.sessions()
    auth.create_user(first, None, UserCreate(username="root", roles=[Role.ADMIN]), now=T0)
    outcome: list[str] = []

    def second() -> None:
        with db.sessions() as s:
            try:
                auth.create_user(s, None, UserCreate(username="root2", roles=[Role.ADMIN]),
                                 now=T0)
                s.commit()
                outcome.append("created")
            except PermissionDenied as exc:
                outcome.append(str(exc))

    t = threading.Thread(target=second)
    t.start()
    t.join(0.5)
    assert t.is_alive()  # waiting for the first bootstrap
    first.commit()
    first.close()
    t.join(30)
    assert len(outcome) == 1 and "anonymous may not" in outcome[0]
    with db.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "user_create")) == 1
