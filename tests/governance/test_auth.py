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
from openlfr.governance.grants import GRANT_REQUEST_TTL, pending_grants
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
    auth.set_roles(session, people.admin, "op", [Role.OPERATOR, Role.AUDITOR], now=T0)
    assert people.op.roles == {Role.OPERATOR, Role.AUDITOR}  # no face-image role: one admin


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


# --- separation of duties (issue 14, item 5) ---


def _admin2(session: Session, people: People) -> auth.User:
    a2 = auth.create_user(session, people.admin, UserCreate(username="admin2",
                                                            roles=[Role.ADMIN]), now=T0)
    session.commit()
    return a2


def test_no_one_grants_roles_to_themself(session: Session, people: People) -> None:
    a2 = _admin2(session, people)
    for roles in ([Role.ADMIN, Role.ENGAGEMENT_OFFICER], [Role.ADMIN, Role.AUDITOR], []):
        with pytest.raises(PermissionDenied, match="their own roles"):
            auth.set_roles(session, people.admin, "admin", roles, now=T0)
        entry = last(session)
        assert (entry.actor, entry.action) == ("admin", "permission_denied")
    # not with a second admin's help either: admin and a face-image role never go together
    for actor in (people.admin, a2):
        with pytest.raises(StateError, match="admin account cannot also hold"):
            auth.set_roles(session, actor, "admin" if actor is a2 else "admin2",
                           [Role.ADMIN, Role.ENGAGEMENT_OFFICER], now=T0)
        session.rollback()
    assert people.admin.roles == {Role.ADMIN} and a2.roles == {Role.ADMIN}


def test_a_face_image_role_needs_a_second_admin(session: Session, people: People) -> None:
    a2 = _admin2(session, people)
    want = [Role.AUDITOR, Role.ENGAGEMENT_OFFICER]
    user = auth.set_roles(session, people.admin, "aud", want, now=T0)
    session.commit()
    assert user.roles == {Role.AUDITOR} and auth.grant_pending(user, want)
    entry = last(session)
    assert (entry.actor, entry.action) == ("admin", "user_roles_requested")
    assert json.loads(entry.details)["granted"] == ["engagement_officer"]
    # the console lists it until it lapses
    (waiting,) = pending_grants(session, T0 + timedelta(hours=1))
    assert (waiting.username, waiting.before, waiting.after, waiting.granted,
            waiting.requested_by) == ("aud", ["auditor"], ["auditor", "engagement_officer"],
                                      ["engagement_officer"], "admin")
    assert waiting.expires_at == T0 + GRANT_REQUEST_TTL
    assert pending_grants(session, T0 + timedelta(hours=24, seconds=1)) == []
    # the same admin again: still waiting, nothing new recorded
    auth.set_roles(session, people.admin, "aud", want, now=T0 + timedelta(minutes=1))
    assert user.roles == {Role.AUDITOR} and last(session).seq == entry.seq
    # a second admin, too late: a fresh request instead
    auth.set_roles(session, a2, "aud", want, now=T0 + timedelta(hours=25))
    assert user.roles == {Role.AUDITOR} and last(session).actor == "admin2"
    # the first admin approves the second's request
    auth.set_roles(session, people.admin, "aud", want, now=T0 + timedelta(hours=26))
    session.commit()
    assert user.roles == {Role.AUDITOR, Role.ENGAGEMENT_OFFICER}
    entry = last(session)
    assert entry.action == "user_roles"
    assert json.loads(entry.details).items() >= {"requested_by": "admin2",
                                                 "approved_by": "admin"}.items()
    assert pending_grants(session, T0 + timedelta(hours=26)) == []  # granted: none waits
    # removing a role, or granting one that sees no face image, takes one admin
    auth.set_roles(session, people.admin, "aud", [Role.AUDITOR], now=T0 + timedelta(hours=27))
    assert user.roles == {Role.AUDITOR}
    auth.set_roles(session, people.admin, "wm", [Role.WATCHLIST_MANAGER, Role.AUDITOR],
                   now=T0 + timedelta(hours=27))
    assert people.wm.roles == {Role.WATCHLIST_MANAGER, Role.AUDITOR}


def test_a_password_reset_revokes_tokens_and_forces_a_new_password(
        session: Session, people: People) -> None:
    _, token = auth.issue_token(session, people.op, name="console session", now=T0)
    _, token2 = auth.issue_token(session, people.op, name="cli", now=T0)
    session.commit()
    assert auth.user_for_token(session, token, now=T0) is not None
    auth.set_password(session, people.admin, "op", "admin-chosen-1", now=T0)
    session.commit()
    entry = last(session)
    assert entry.action == "user_password"
    assert json.loads(entry.details) == {"reset": True, "tokens_revoked": 2}
    assert auth.user_for_token(session, token, now=T0) is None
    assert auth.user_for_token(session, token2, now=T0) is None
    # the admin's password signs in only to choose a new one
    assert auth.authenticate(session, "op", "admin-chosen-1", now=T0) is None
    assert auth.sign_in(session, "op", "admin-chosen-1", now=T0) == (
        None, "password change required")
    assert json.loads(last(session).details)["reason"] == "password change required"
    assert auth.sign_in(session, "op", "wrong", "mine-now-123", now=T0) == (None, None)
    assert auth.sign_in(session, "op", "admin-chosen-1", "admin-chosen-1", now=T0)[0] is None
    user, _ = auth.sign_in(session, "op", "admin-chosen-1", "mine-now-123", now=T0)
    assert user is not None and not auth.must_change_password(user)
    assert auth.authenticate(session, "op", "mine-now-123", now=T0) is not None
    assert auth.authenticate(session, "op", "admin-chosen-1", now=T0) is None
    # one's own new password is not a reset
    auth.set_password(session, people.op, "op", "mine-again-456", now=T0)
    assert auth.authenticate(session, "op", "mine-again-456", now=T0) is not None


@pytest.mark.parametrize("action", [a for a in auth.Action if a not in {
    auth.Action.USER_LIST, auth.Action.DEPLOYMENT_VIEW, auth.Action.SUBJECT_LIST,
    auth.Action.ALERT_VIEW, auth.Action.COUNTERS_VIEW, auth.Action.AUDIT_VERIFY,
    auth.Action.AUDIT_EXPORT, auth.Action.REPORT_VIEW, auth.Action.EVALUATION_RUN,
    auth.Action.NODES_VIEW}])
def test_the_auditor_changes_nothing(action: auth.Action) -> None:
    assert Role.AUDITOR not in auth.PERMISSIONS[action]
