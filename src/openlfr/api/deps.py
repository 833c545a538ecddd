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

Deny by default: :class:`GuardedRoute` serves a 403 for any route that does not declare a
permission, and :func:`undeclared_routes` (checked by ``create_app`` and by a test) lists them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Mount

from openlfr.api.priority import lower_this_thread
from openlfr.errors import ImageError, PermissionDenied
from openlfr.governance.auth import Action as A
from openlfr.governance.auth import refuse, require, user_for_token
from openlfr.store.db import store_busy

__all__ = ["Principal", "SessionSigner", "GuardedRoute", "permit", "declared_permission",
           "undeclared_routes", "flatten_routes", "get_db", "Db", "get_read_db", "ReadDb",
           "PUBLIC", "AUTHENTICATED", "COOKIE", "Limit", "Before", "After", "next_page",
           "page", "MAX_ID", "csrf_ok", "CSRF_HEADER", "CSRF_FIELD"]

log = logging.getLogger(__name__)

PERMISSION_ATTR = "__openlfr_permission__"
PUBLIC = "public"  # no caller needed (login page, static files, health)
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


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: governance's user row plus plain copies of who they are
    (the row may be expired by a rollback, e.g. after an audited refusal)."""

    user: Any
    via: str  # "cookie" or "token"
    token: str = field(repr=False, default="")  # the bearer or session token (never logged)
    username: str = ""
    roles: frozenset[Any] = frozenset()

    @classmethod
    def of(cls, user: Any, via: str, token: str) -> Principal:
        return cls(user, via, token, str(user.username), frozenset(user.roles))

    @property
    def id(self) -> Any:
        return self.user.id


class SessionSigner:
    """HMAC-SHA256 signed console session cookies: ``<payload>.<signature>``.

    The payload names a session token issued by governance at login (revoked at logout), so a
    signed cookie is useless once its session ends; the signature stops tampering and guessing.
    """

    def __init__(self, key: bytes, max_age_s: int = 12 * 3600) -> None:
        if len(key) < 32:
            raise ValueError("session key must be at least 32 bytes")
        self._key = key
        self.max_age_s = max_age_s

    def _sig(self, payload: bytes) -> str:
        mac = hmac.new(self._key, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def dumps(self, token: str, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        raw = f"{issued}:{token}".encode()
        payload = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return f"{payload}.{self._sig(payload.encode())}"

    def loads(self, value: str, now: float | None = None) -> str | None:
        """The token inside a valid, unexpired cookie; None otherwise."""
        try:
            payload, sig = value.rsplit(".", 1)
            if not hmac.compare_digest(sig, self._sig(payload.encode())):
                return None
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
            issued_s, token = raw.split(":", 1)
            age = (now if now is not None else time.time()) - int(issued_s)
        except (ValueError, UnicodeDecodeError):
            return None
        if age < 0 or age > self.max_age_s:
            return None
        return token

    def csrf(self, session_token: str) -> str:
        """The console's anti-CSRF token for one session: a keyed hash of the session token,
        so it is bound to the session, needs no storage and dies with the session."""
        mac = hmac.new(self._key, b"csrf:" + session_token.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    @staticmethod
    def new_key() -> bytes:
        return secrets.token_bytes(32)


def _read_factory(request: Request) -> Any:
    ctx = request.app.state.ctx
    store = getattr(ctx, "store", None)
    return store.read_sessions if store is not None else ctx.sessions


def _sessions(factory: Callable[[], Session]) -> Iterator[Session]:
    """One store session for the request; rolled back if the request fails before
    committing. A store too busy to answer (no pooled connection in time, a lock not granted
    in time, the server gone) is a 503 with ``Retry-After``, not a 500."""

    session = factory()
    try:
        yield session
    except Exception as exc:
        session.rollback()
        if store_busy(exc):
            log.warning("store busy: %s", type(exc).__name__)
            raise HTTPException(503, "the store is busy: retry in a moment",
                                headers={"Retry-After": "1"}) from exc
        raise
    finally:
        session.close()


def get_db(request: Request) -> Iterator[Session]:
    """A writing store session for the request (SQLite: the write lock from its first
    statement to its commit, so keep the work short)."""
    yield from _sessions(request.app.state.ctx.sessions)


def get_read_db(request: Request) -> Iterator[Session]:
    """A reading store session for the request: never takes the write lock, cannot write
    (a refusal it meets is audited through a short write of its own)."""
    yield from _sessions(_read_factory(request))


Db = Annotated[Session, Depends(get_db)]
ReadDb = Annotated[Session, Depends(get_read_db)]

# --- paging (every list route: bounded, with a cursor) --------------------------------------

MAX_ID = 2**63 - 1
Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many items (1-1000).")]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description=(
    "Cursor: only items older than this id (the previous page's `X-Next-Before`)."))]
After = Annotated[int | None, Query(ge=0, le=MAX_ID, description=(
    "Cursor: only items after this id (the previous page's `X-Next-After`)."))]


def next_page(request: Request, response: Response, param: str, value: Any) -> None:
    """Tell the client where the next page starts: ``X-Next-Before``/``X-Next-After`` (the
    cursor) and an RFC 8288 ``Link: <...>; rel="next"`` (this request with the cursor set).
    List bodies keep their shape. Nothing is set on the last page."""
    if value is None:
        return
    url = request.url.include_query_params(**{param: value})
    response.headers[f"X-Next-{param.capitalize()}"] = str(value)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'


def page(rows: list[Any], limit: int, cursor: Callable[[Any], Any]) -> tuple[list[Any], Any]:
    """(the first ``limit`` of ``rows``, the next cursor or None): fetch ``limit + 1`` rows
    so a full last page does not promise a next one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, cursor(rows[-1])


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def current_principal(request: Request, db: Session) -> Principal | None:
    """The caller from a bearer token, else from the console cookie; None if neither holds."""

    token = _bearer(request)
    if token is not None:
        user = user_for_token(db, token)
        return Principal.of(user, "token", token) if user is not None else None
    cookie = request.cookies.get(COOKIE)
    if cookie:
        session_token = request.app.state.ctx.signer.loads(cookie)
        if session_token is not None:
            user = user_for_token(db, session_token)
            if user is not None:
                return Principal.of(user, "cookie", session_token)
    return None


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

    def dependency(request: Request, db: ReadDb) -> Principal | None:
        # Authentication and the check read only: on a reading session, so they never wait
        # for (or hold) the write lock; a refusal is audited in one short write.

        lower_this_thread(request.app.state.ctx.request_nice)  # analysis outranks reads
        principal = current_principal(request, db)
        request.state.principal = principal
        if principal is not None and principal.via == "cookie":
            request.state.csrf = request.app.state.ctx.signer.csrf(principal.token)
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

    setattr(dependency, PERMISSION_ATTR, action)
    dependency.__name__ = f"permit_{action.replace('.', '_')}"
    return Depends(dependency)


def _walk(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dep in dependant.dependencies:
        if dep.call is not None:
            yield dep.call
        yield from _walk(dep)


def declared_permission(route: BaseRoute) -> str | None:
    """The permission a route declares, or None. Mounts declare theirs as an attribute."""
    if isinstance(route, APIRoute):
        found = {getattr(c, PERMISSION_ATTR) for c in _walk(route.dependant)
                 if hasattr(c, PERMISSION_ATTR)}
        if len(found) > 1:
            raise RuntimeError(f"route {route.path} declares several permissions: {found}")
        return next(iter(found), None)
    return getattr(route, PERMISSION_ATTR, None)


def flatten_routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, looking inside included routers (newer FastAPI keeps them nested)."""
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from flatten_routes(inner.routes)
        else:
            yield r


def undeclared_routes(routes: list[BaseRoute]) -> list[str]:
    """Paths of routes without a declared permission (must be empty)."""
    return [getattr(r, "path", repr(r)) for r in flatten_routes(routes)
            if declared_permission(r) is None]


def mark_public(mount: Mount) -> Mount:
    setattr(mount, PERMISSION_ATTR, PUBLIC)
    return mount


class GuardedRoute(APIRoute):
    """An APIRoute that refuses every request unless it declares a permission."""

    def get_route_handler(self) -> Callable[..., Any]:
        if declared_permission(self) is None:
            async def deny(request: Request) -> JSONResponse:
                return JSONResponse({"detail": "route declares no permission"}, status_code=403)

            return deny
        return super().get_route_handler()


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
