"""The one place where requests are authenticated and authorised.

Every route declares exactly one permission through an ``Annotated`` alias defined here
(``Actor = Annotated[Principal, permit("alert.read")]`` style). The dependency

1. finds the caller (``Authorization: Bearer <token>`` for API clients, or the signed
   ``openlfr_session`` cookie for the console),
2. asks governance's ``require(session, actor, action)``, which raises ``PermissionDenied``
   and writes the refusal to the audit chain, for anonymous callers too,
3. commits that audit entry even though the request fails,
4. refuses (403, audited ``csrf_refused``) a cookie-authenticated state change that lacks
   the session's CSRF token (:func:`csrf_ok`); bearer-token calls are exempt.

Authentication and the check run on a reading session (:data:`ReadDb`), which never takes the
store's write lock; read routes use it too. Routes that change something use :data:`Db`, a
writing session, and keep it short. A busy store is answered 503, not 500.

A request that changes nothing, from a caller the app asked the store about within the last
second (:mod:`openlfr.api.callers`) and whose roles allow the route, is admitted on the event
loop without a store query or a thread; refusals, state changes and unknown tokens always take
the full path above.

Deny by default: :class:`GuardedRoute` serves a 403 for any route that does not declare a
permission, and :func:`undeclared_routes` (checked by ``create_app`` and by a test) lists them.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from openlfr.api.callers import Caller, CallerCache
from openlfr.api.guard import (
    PERMISSION_ATTR,
    PUBLIC,
    GuardedRoute,
    declared_permission,
    flatten_routes,
    mark_public,
    undeclared_routes,
)
from openlfr.api.paging import MAX_ID, After, Before, Limit, next_page, page
from openlfr.api.priority import lower_this_thread
from openlfr.api.session_key import SessionSigner
from openlfr.errors import ImageError, PermissionDenied
from openlfr.governance.auth import Action as A
from openlfr.governance.auth import allowed, hash_token, refuse, require, token_holder
from openlfr.store.db import store_busy
from openlfr.store.models import User

__all__ = ["Principal", "SessionSigner", "GuardedRoute", "permit", "declared_permission",
           "undeclared_routes", "flatten_routes", "get_db", "Db", "get_read_db", "ReadDb",
           "PUBLIC", "AUTHENTICATED", "COOKIE", "Limit", "Before", "After", "next_page",
           "page", "MAX_ID", "csrf_ok", "CSRF_HEADER", "CSRF_FIELD", "mark_public",
           "PERMISSION_ATTR"]

log = logging.getLogger(__name__)

AUTHENTICATED = "authenticated"  # any signed-in user (own profile, console home)
COOKIE = "openlfr_session"
CSRF_HEADER = "x-csrf-token"  # the console's calls send it (static/console.js)
CSRF_FIELD = "csrf_token"  # the console's plain HTML forms (sign-out) send it
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotAuthenticated(PermissionDenied):
    """No valid credentials were presented (answered with 401)."""


class TooManyAttempts(PermissionDenied):
    """Too many failed sign-ins from one place for one name (answered with 429)."""


class UploadTooLarge(ImageError):
    """The upload is larger than the server accepts (answered with 413)."""


@dataclass(frozen=True, eq=False)
class Principal:
    """The authenticated caller: plain copies of who they are, and governance's user row.

    The row (:attr:`user`) is loaded from the request's reading session when a route first
    asks for it if the caller was admitted from :mod:`openlfr.api.callers` (a read that
    needs only the caller's roles never loads it). The plain copies stay valid when the row
    is expired by a rollback, e.g. after an audited refusal."""

    user_id: int
    via: str  # "cookie" or "token"
    token: str = field(repr=False, default="")  # the bearer or session token (never logged)
    username: str = ""
    roles: frozenset[Any] = frozenset()
    _row: list[Any] = field(default_factory=list, repr=False)  # [the user row] once loaded
    _load: Callable[[], Any] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, user: Any, via: str, token: str) -> Principal:
        return cls(int(user.id), via, token, str(user.username), frozenset(user.roles),
                   [user])

    @property
    def user(self) -> Any:
        if not self._row:
            user = self._load() if self._load is not None else None
            if user is None:
                raise NotAuthenticated("sign in first: the account no longer exists")
            self._row.append(user)
        return self._row[0]

    @property
    def id(self) -> int:
        return self.user_id


def _read_factory(request: Request) -> Any:
    ctx = request.app.state.ctx
    store = getattr(ctx, "store", None)
    return store.read_sessions if store is not None else ctx.sessions


@contextlib.asynccontextmanager
async def _sessions(factory: Callable[[], Session]) -> AsyncIterator[Session]:
    """One store session for the request; rolled back if the request fails before
    committing. A store too busy to answer (no pooled connection in time, a lock not granted
    in time, the server gone) is a 503 with ``Retry-After``, not a 500.

    Made on the event loop (a session touches the store only when first used, in the
    route's thread); what talks to the store at the end runs in a worker thread, shielded
    so a client that went away cannot leave a connection checked out."""

    session = factory()
    try:
        yield session
    except Exception as exc:
        with anyio.CancelScope(shield=True):
            await run_in_threadpool(session.rollback)
        if store_busy(exc):
            log.warning("store busy: %s", type(exc).__name__)
            raise HTTPException(503, "the store is busy: retry in a moment",
                                headers={"Retry-After": "1"}) from exc
        raise
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(session.close)
        else:
            session.close()


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A writing store session for the request (SQLite: the write lock from its first
    statement to its commit, so keep the work short)."""
    async with _sessions(request.app.state.ctx.sessions) as session:
        yield session


async def get_read_db(request: Request) -> AsyncIterator[Session]:
    """A reading store session for the request: never takes the write lock, cannot write
    (a refusal it meets is audited through a short write of its own)."""
    async with _sessions(_read_factory(request)) as session:
        yield session


Db = Annotated[Session, Depends(get_db)]
ReadDb = Annotated[Session, Depends(get_read_db)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _credential(request: Request) -> tuple[str, str] | None:
    """(token, "token") from a bearer header, else (session token, "cookie") from a valid
    console cookie, else None."""
    token = _bearer(request)
    if token is not None:
        return token, "token"
    cookie = request.cookies.get(COOKIE)
    if cookie:
        session_token = request.app.state.ctx.signer.loads(cookie)
        if session_token is not None:
            return session_token, "cookie"
    return None


def current_principal(request: Request, db: Session) -> Principal | None:
    """The caller from a bearer token, else from the console cookie; None if neither holds.
    Asks the store, and remembers the answer in the app's :class:`CallerCache`."""

    credential = _credential(request)
    if credential is None:
        return None
    token, via = credential
    callers: CallerCache = request.app.state.ctx.callers
    generation = callers.generation
    found = token_holder(db, token)
    if found is None:
        return None
    user, expires = found
    principal = Principal.of(user, via, token)
    callers.put(hash_token(token), Caller(principal.user_id, principal.username,
                                          principal.roles, expires), generation)
    return principal


_ASK_THE_STORE = object()


def remembered_principal(request: Request, db: Session, action: str) -> Any:
    """The fast path: the caller of a request that changes nothing, admitted from the
    :class:`CallerCache` when its remembered roles allow ``action``; None for an anonymous
    call to a public route; ``_ASK_THE_STORE`` for everything else (state changes, unknown
    or forgotten tokens, refusals, which are audited on the full path)."""
    if request.method not in SAFE_METHODS:
        return _ASK_THE_STORE
    credential = _credential(request)
    if credential is None:
        return None if action == PUBLIC else _ASK_THE_STORE
    token, via = credential
    caller = request.app.state.ctx.callers.get(hash_token(token), datetime.now(UTC))
    if caller is None or (action not in (PUBLIC, AUTHENTICATED)
                          and not allowed(caller.roles, action)):
        return _ASK_THE_STORE
    uid = caller.user_id
    return Principal(uid, via, token, caller.username, caller.roles,
                     _load=lambda: db.get(User, uid))


def _admit(request: Request, principal: Principal | None) -> None:
    request.state.principal = principal
    if principal is not None and principal.via == "cookie":
        request.state.csrf = request.app.state.ctx.signer.csrf(principal.token)


def csrf_ok(request: Request, principal: Principal | None, sent: str | None = None) -> bool:
    """May this request change something? Bearer-token calls and safe methods always; a
    cookie-authenticated state change only with the session's CSRF token (header
    ``X-CSRF-Token``, or ``sent`` from a form field), which a cross-origin page cannot read."""
    if principal is None or principal.via != "cookie" or request.method in SAFE_METHODS:
        return True
    expected = request.app.state.ctx.signer.csrf(principal.token)
    got = sent if sent is not None else request.headers.get(CSRF_HEADER, "")
    return hmac.compare_digest(got.encode(), expected.encode())


def refuse_csrf(request: Request, db: Session, principal: Principal) -> None:
    """Audit a cookie-authenticated state change without the CSRF token, and raise 403."""

    refuse(db, principal.user, f"{request.method} {request.url.path}",
           "cross-site request: the console's CSRF token is missing or wrong (reload the "
           "page)", target=f"route:{request.method} {request.url.path}",
           audit_action="csrf_refused")


def permit(action: str) -> Any:
    """A dependency that admits the caller only if governance allows ``action``."""
    action = str(action)

    def checked(request: Request, db: Session) -> Principal | None:
        # Authentication and the check read only: on a reading session, so they never wait
        # for (or hold) the write lock; a refusal is audited in one short write.

        lower_this_thread(request.app.state.ctx.request_nice)  # analysis outranks reads
        principal = current_principal(request, db)
        _admit(request, principal)
        if action != PUBLIC and principal is not None and not csrf_ok(request, principal):
            refuse_csrf(request, db, principal)
        if action == PUBLIC or (action == AUTHENTICATED and principal is not None):
            db.commit()  # end the read: streaming routes must not hold a snapshot
            return principal
        try:
            # audits and commits the refusal itself (anonymous callers included)
            require(db, principal.user if principal else None, action,
                    target=f"route:{request.method} {request.url.path}")
        except PermissionDenied as exc:
            if principal is None:
                raise NotAuthenticated("sign in first: no valid session or API token") from exc
            raise
        db.commit()
        if principal is None:  # governance allowed an anonymous caller: never for us
            raise NotAuthenticated("sign in first: no valid session or API token")
        return principal

    async def dependency(request: Request, db: ReadDb) -> Principal | None:
        # on the event loop when the caller is remembered (no thread, no store), else the
        # full check in a worker thread
        principal = remembered_principal(request, db, action)
        if principal is _ASK_THE_STORE:
            return await run_in_threadpool(checked, request, db)
        _admit(request, principal)
        return principal  # type: ignore[no-any-return]

    setattr(dependency, PERMISSION_ATTR, action)
    dependency.__name__ = f"permit_{action.replace('.', '_')}"
    return Depends(dependency)


# --- the aliases routes use (one per permission) -------------------------------------------

Public = Annotated[Principal | None, permit(PUBLIC)]
SignedIn = Annotated[Principal, permit(AUTHENTICATED)]
CanManageUsers = Annotated[Principal, permit(A.USER_MANAGE)]
CanListUsers = Annotated[Principal, permit(A.USER_LIST)]
CanViewDeployments = Annotated[Principal, permit(A.DEPLOYMENT_VIEW)]
CanCreateDeployment = Annotated[Principal, permit(A.DEPLOYMENT_CREATE)]
CanAuthoriseDeployment = Annotated[Principal, permit(A.DEPLOYMENT_AUTHORISE)]
CanStartDeployment = Annotated[Principal, permit(A.DEPLOYMENT_START)]
CanStopDeployment = Annotated[Principal, permit(A.DEPLOYMENT_STOP)]
CanCancelDeployment = Annotated[Principal, permit(A.DEPLOYMENT_CANCEL)]
CanReviewDeployment = Annotated[Principal, permit(A.DEPLOYMENT_REVIEW)]
CanAddSubject = Annotated[Principal, permit(A.SUBJECT_ADD)]
CanListSubjects = Annotated[Principal, permit(A.SUBJECT_LIST)]
CanExpireSubject = Annotated[Principal, permit(A.SUBJECT_EXPIRE)]
CanSeeSubjectImage = Annotated[Principal, permit(A.SUBJECT_IMAGE)]
CanCreateSnapshot = Annotated[Principal, permit(A.SNAPSHOT_CREATE)]
CanApproveSnapshot = Annotated[Principal, permit(A.SNAPSHOT_APPROVE)]
CanViewAlerts = Annotated[Principal, permit(A.ALERT_VIEW)]
CanSeeAlertImage = Annotated[Principal, permit(A.ALERT_IMAGE)]
CanAdjudicate = Annotated[Principal, permit(A.ALERT_ADJUDICATE)]
CanHoldAlert = Annotated[Principal, permit(A.ALERT_HOLD)]
CanViewCounters = Annotated[Principal, permit(A.COUNTERS_VIEW)]
CanVerifyAudit = Annotated[Principal, permit(A.AUDIT_VERIFY)]
CanExportAudit = Annotated[Principal, permit(A.AUDIT_EXPORT)]
CanViewReports = Annotated[Principal, permit(A.REPORT_VIEW)]
