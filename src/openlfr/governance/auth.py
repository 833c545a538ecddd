"""Users, roles, passwords, sign-in and API tokens.

Who may do what lives in :mod:`openlfr.governance.permissions` (the actions, the role table
and :func:`require`, the one place that checks); its names are re-exported here, where most
callers have always found them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from openlfr.errors import ConfigError, NotFound, StateError
from openlfr.governance import audit
from openlfr.governance.grants import APPLIED, REQUESTED, open_request
from openlfr.governance.permissions import (
    BIOMETRIC_ROLES,
    PERMISSIONS,
    SCOPED_IMAGE_ROLES,
    Action,
    allowed,
    refuse,
    require,
    require_image_scope,
)
from openlfr.governance.schemas import UserCreate
from openlfr.store.db import session_scope, store_busy
from openlfr.store.models import ApiToken, Role, User, UserRole
from openlfr.store.types import as_utc

__all__ = ["Action", "PERMISSIONS", "BIOMETRIC_ROLES", "SCOPED_IMAGE_ROLES", "allowed",
           "require", "refuse", "require_image_scope", "must_change_password", "sign_in",
           "create_user", "get_user", "list_users", "disable_user", "set_password", "set_roles",
           "authenticate",
           "issue_token", "revoke_token", "user_for_token", "token_holder", "hash_token",
           "TOKEN_PREFIX"]

TOKEN_PREFIX = "olfr_"
R = Role
log = logging.getLogger(__name__)


#: Prefix of a password hash set by someone else (an admin's reset): it signs in only to
#: choose a new password.
RESET_MARK = "reset$"

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the username does not exist, so a miss costs the same time as a hit
    (computed on first use, not at import)."""
    return _hasher.hash("openlfr-no-such-user")


def _now(now: datetime | None) -> datetime:
    return as_utc(now) if now is not None else datetime.now(UTC)


# --- users ---


def _count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def get_user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user named {username!r} (list them with `openlfr user list`)")
    return user


def list_users(session: Session, actor: User, *, now: datetime | None = None,
               after: str | None = None, limit: int | None = None) -> list[User]:
    """By username; ``after`` (a username) and ``limit`` page through them."""
    require(session, actor, Action.USER_LIST, now=now)
    q = select(User).order_by(User.username)
    if after is not None:
        q = q.where(User.username > after)
    if limit is not None:
        q = q.limit(limit)
    return list(session.scalars(q))


def create_user(session: Session, actor: User | None, data: UserCreate, *,
                now: datetime | None = None) -> User:
    """Create a user. With no users yet, ``actor`` may be None (bootstrap the first admin)."""
    now = _now(now)
    if actor is None:  # one bootstrap at a time: the audit head serialises the count
        audit.lock_head(session)
    bootstrap = actor is None and _count_users(session) == 0
    if not bootstrap:
        require(session, actor, Action.USER_MANAGE, now=now, target=f"user:{data.username}")
    if session.scalar(select(User).where(User.username == data.username)) is not None:
        raise StateError(f"user {data.username!r} already exists")
    user = User(username=data.username, display_name=data.display_name, disabled=False,
                created_at=now, password_hash=_hasher.hash(data.password) if data.password
                else None, role_rows=[UserRole(role=r) for r in sorted(set(data.roles))])
    session.add(user)
    session.flush()
    audit.append(session, actor=actor.username if actor else data.username,
                 action="user_create", now=now, target=f"user:{user.id}",
                 details={"username": user.username, "roles": sorted(r.value for r in user.roles),
                          "bootstrap": bootstrap})
    return user


def set_roles(session: Session, actor: User, username: str, roles: list[Role], *,
              now: datetime | None = None) -> User:
    """Set a user's roles, under separation of duties:

    - no one changes their own roles (refused and audited);
    - ``admin`` is never held with a role that sees face images (:data:`BIOMETRIC_ROLES`);
    - adding such a role takes two admins: the first call records the request
      (``user_roles_requested``) and changes nothing; the same change made by another admin
      within :data:`grants.GRANT_REQUEST_TTL`, while the user's roles are as they were, applies it
      (``user_roles`` names both). Removing roles takes one admin.

    Returns the user; its roles are unchanged while a grant waits for the second admin.
    """
    now = _now(now)
    require(session, actor, Action.USER_MANAGE, now=now, target=f"user:{username}")
    user = get_user(session, username)
    if user.id == actor.id:
        refuse(session, actor, Action.USER_MANAGE, "no one may change their own roles",
               now=now, target=f"user:{user.id}")
    after = sorted(set(roles))
    if R.ADMIN in after and set(after) & BIOMETRIC_ROLES:
        raise StateError("an admin account cannot also hold "
                         f"{sorted(r.value for r in set(after) & BIOMETRIC_ROLES)}: admins see "
                         "no face images (use a separate account)")
    before = sorted(r.value for r in user.roles)
    after_v = [r.value for r in after]
    granted = sorted(r.value for r in (set(after) - user.roles) & BIOMETRIC_ROLES)
    details: dict[str, object] = {"before": before, "after": after_v}
    if granted:
        request = open_request(session, user, after_v, now)
        if request is None or request.actor == actor.username:
            if request is None:
                audit.append(session, actor=actor.username, action=REQUESTED,
                             now=now, target=f"user:{user.id}",
                             details={**details, "granted": granted})
            return user
        details = {**details, "requested_by": request.actor, "approved_by": actor.username}
    user.role_rows = [UserRole(role=r) for r in after]
    session.flush()
    audit.append(session, actor=actor.username, action=APPLIED, now=now,
                 target=f"user:{user.id}", details=details)
    return user


def grant_pending(user: User, roles: list[Role]) -> bool:
    """After :func:`set_roles`: is the change waiting for a second admin?"""
    return set(user.roles) != set(roles)


def must_change_password(user: User) -> bool:
    """Was this user's password set by someone else (an admin's reset)?"""
    return bool(user.password_hash and user.password_hash.startswith(RESET_MARK))


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise ConfigError("a password needs at least 8 characters")


def set_password(session: Session, actor: User, username: str, password: str, *,
                 now: datetime | None = None) -> None:
    """Set a password. Set by someone else (an admin's reset), it revokes every token and
    console session of the user and serves only to choose a new password at the next
    sign-in (:func:`sign_in`)."""
    now = _now(now)
    if actor.username != username:
        require(session, actor, Action.USER_MANAGE, now=now, target=f"user:{username}")
    _check_password(password)
    user = get_user(session, username)
    reset = user.id != actor.id
    user.password_hash = (RESET_MARK if reset else "") + _hasher.hash(password)
    revoked = _revoke_all(session, user, now) if reset else 0
    session.flush()
    audit.append(session, actor=actor.username, action="user_password", now=now,
                 target=f"user:{user.id}",
                 details={"reset": True, "tokens_revoked": revoked} if reset else None)


def _revoke_all(session: Session, user: User, now: datetime) -> int:
    revoked = 0
    for tok in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                      ApiToken.revoked_at.is_(None))):
        tok.revoked_at = now
        revoked += 1
    return revoked


def disable_user(session: Session, actor: User, username: str, *,
                 now: datetime | None = None) -> User:
    """Disable an account and revoke its tokens (users are never deleted: the audit log
    names them)."""
    now = _now(now)
    require(session, actor, Action.USER_MANAGE, now=now, target=f"user:{username}")
    user = get_user(session, username)
    if user.id == actor.id:
        raise StateError("you cannot disable your own account")
    user.disabled = True
    revoked = _revoke_all(session, user, now)
    session.flush()
    audit.append(session, actor=actor.username, action="user_disable", now=now,
                 target=f"user:{user.id}", details={"tokens_revoked": revoked})
    return user


def authenticate(session: Session, username: str, password: str,
                 now: datetime | None = None) -> User | None:
    """The user if the password is right and the account enabled, else None (a password
    reset by an admin is refused here: see :func:`sign_in`)."""
    return sign_in(session, username, password, now=now)[0]


def sign_in(session: Session, username: str, password: str, new_password: str | None = None,
            now: datetime | None = None) -> tuple[User | None, str | None]:
    """(the user, None) if the password is right and the account enabled, else (None, why).
    Audits both ``login`` and ``login_failed`` (never the password).

    A password an admin has reset signs in only with ``new_password``, which replaces it
    (``why`` is ``"password change required"`` without one, and it is said only to a caller
    who gave the right password)."""
    now = _now(now)
    user = session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user and user.password_hash else None
    reset = stored is not None and stored.startswith(RESET_MARK)
    if reset and stored is not None:
        stored = stored[len(RESET_MARK):]
    ok = False
    try:
        ok = _hasher.verify(stored or _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    ok = ok and user is not None and stored is not None and not user.disabled
    why: str | None = None if ok else (
        "no such user" if user is None else "disabled" if user.disabled else "bad password")
    if ok and reset:
        if new_password is None:
            ok, why = False, "password change required"
        elif new_password == password:
            ok, why = False, "password change required"
        else:
            _check_password(new_password)
    if ok and user is not None:
        if reset and new_password is not None:
            user.password_hash = _hasher.hash(new_password)
            audit.append(session, actor=user.username, action="user_password", now=now,
                         target=f"user:{user.id}", details={"after_reset": True})
        elif _hasher.check_needs_rehash(stored or ""):
            user.password_hash = _hasher.hash(password)
    # An unknown name is not written out: people type passwords into the username field.
    actor = user.username if user is not None else "anonymous"
    details: dict[str, str] = {} if ok else {"reason": why or "bad password"}
    audit_key = session.info.get("audit_key")
    if user is None and audit_key:
        # Keyed, so a password typed into the name field cannot be recovered from the log by
        # hashing guesses; repeated failures on one name still share a value. Without an
        # audit key nothing about the name is recorded.
        details["username_hmac"] = username_hmac(audit_key, username)
    audit.append(session, actor=actor, action="login" if ok else "login_failed", now=now,
                 target=f"user:{user.id}" if user else None, details=details)
    if ok:
        return user, None
    return None, why if why == "password change required" else None


def username_hmac(key: bytes, username: str) -> str:
    return hmac.new(key, username.encode(), hashlib.sha256).hexdigest()[:16]


# --- tokens ---


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, actor: User, username: str | None = None, name: str = "",
                *, now: datetime | None = None,
                expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new API token for ``username`` (default: the actor). Returns the row and the token,
    which is shown once and stored only as its SHA-256."""
    now = _now(now)
    user = actor if username in (None, actor.username) else get_user(session, username or "")
    if user.id != actor.id:
        require(session, actor, Action.USER_MANAGE, now=now, target=f"user:{user.id}")
    if user.disabled:
        raise StateError(f"user {user.username!r} is disabled")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=hash_token(token), created_at=now,
                   expires_at=as_utc(expires_at) if expires_at else None)
    session.add(row)
    session.flush()
    audit.append(session, actor=actor.username, action="token_issue", now=now,
                 target=f"token:{row.id}", details={"user": user.username, "name": name,
                                                    "expires_at": row.expires_at})
    return row, token


def revoke_token(session: Session, actor: User, token_id: int, *,
                 now: datetime | None = None) -> ApiToken:
    now = _now(now)
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    if row.user_id != actor.id:
        require(session, actor, Action.USER_MANAGE, now=now, target=f"token:{token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
        audit.append(session, actor=actor.username, action="token_revoke", now=now,
                     target=f"token:{row.id}")
    return row


#: A token's ``last_used_at`` is moved on at most this often (seconds).
LAST_USED_EVERY_S = 60.0


def _touch_token(session: Session, row: ApiToken, now: datetime) -> None:
    """Record that the token was used, at most once a :data:`LAST_USED_EVERY_S`. On a reading
    session this is its own short write transaction, skipped if the store is busy (it is a
    convenience for the token's owner, not a record)."""
    if row.last_used_at is not None and \
            (now - row.last_used_at).total_seconds() <= LAST_USED_EVERY_S:
        return
    writer = session.info.get("write_sessions") if session.info.get("read_only") else None
    if writer is None:
        row.last_used_at = now
        return

    stale = now - timedelta(seconds=LAST_USED_EVERY_S)
    try:
        with session_scope(writer) as w:
            w.execute(update(ApiToken).where(
                ApiToken.id == row.id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < stale))
                .values(last_used_at=now))
    except Exception as exc:
        if not store_busy(exc):
            raise
        log.info("token %s: last-used time not recorded, the store is busy", row.id)


def user_for_token(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The enabled user holding this unrevoked, unexpired token, else None. Writes nothing
    but the token's last-used time (at most once a minute; see :func:`_touch_token`), so a
    reading session serves."""
    found = token_holder(session, token, now)
    return found[0] if found is not None else None


def token_holder(session: Session, token: str, now: datetime | None = None
                 ) -> tuple[User, datetime | None] | None:
    """(the enabled user holding this unrevoked, unexpired token, the token's expiry or
    None), else None; see :func:`user_for_token`."""
    now = _now(now)
    if not token.startswith(TOKEN_PREFIX):
        return None
    # one query for the token, its user and the user's roles: this runs on every request
    found = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == hash_token(token))
        .options(joinedload(User.role_rows))).unique().first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    if user.disabled:
        return None
    expires = row.expires_at
    _touch_token(session, row, now)
    return user, expires
