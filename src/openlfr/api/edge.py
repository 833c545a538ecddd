"""The app's edge: pure ASGI middleware in front of every route (streams pass through).

It bounds request bodies before anything parses them and before an anonymous caller's large
body is read (:class:`Edge`), counts requests per route template for ``/metrics`` and adds
the security headers to every answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from openlfr.api.deps import COOKIE, current_principal
from openlfr.governance import audit
from openlfr.store.db import session_scope

if TYPE_CHECKING:
    from openlfr.api.app import AppContext

__all__ = ["Edge", "ANONYMOUS_BODY_BYTES"]

log = logging.getLogger(__name__)

#: Largest body a caller without credentials may send (the sign-in forms are far smaller);
#: past it the request is answered 401 without reading the rest.
ANONYMOUS_BODY_BYTES = 64 * 1024


class _BodyRefused(StarletteHTTPException):
    """Raised from the wrapped ``receive``: the body ran past what this caller may send.
    An HTTPException, so FastAPI's body parsing passes it on rather than calling it a 400."""


class Edge:
    """Pure ASGI middleware (streams pass through untouched) at the edge of the app.

    - Bounds every request body, sized or chunked: bytes are counted as they stream in, and
      past ``max_upload_bytes`` (+1 MiB for form fields) the request is answered 413 (at once
      when the Content-Length says so).
    - Reads no large body before authentication: a body past :data:`ANONYMOUS_BODY_BYTES`
      from a caller without a bearer token or session cookie is answered 401; with
      credentials, they are checked against the store before more is read (401 if invalid).
      Small bodies go on to the routes, whose own check audits the refusal.
    - Counts requests per route template and adds security headers.
    """

    def __init__(self, app: Any, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.ctx.max_upload_bytes + 1024 * 1024  # room for the form fields
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers.get(b"content-length", b"0"))
        except ValueError:
            length = 0
        credentials = _has_credentials(headers)
        early: tuple[int, str] | None = None
        verified = False
        if length > limit:
            early = (413, self._too_large())
        elif length > ANONYMOUS_BODY_BYTES:
            if not credentials or not await self._valid_caller(scope):
                early = (401, _SIGN_IN)
            verified = True
        if early is not None:
            await _refusal(*early)(scope, receive, send)
            self._count(scope, early[0])
            if early[0] == 401:
                await self._audit_unsigned(scope)
            return

        path: str = scope.get("path", "")
        status = 500
        received = 0
        refused: tuple[int, str] | None = None
        replaced = False

        async def receive_bounded() -> Any:
            nonlocal received, verified, refused
            if refused is not None:
                raise _refused_error(*refused)
            message = await receive()
            if message.get("type") != "http.request":
                return message
            received += len(message.get("body", b""))
            if received > limit:
                refused = (413, self._too_large())
            elif received > ANONYMOUS_BODY_BYTES and not verified:
                verified = True
                if not credentials or not await self._valid_caller(scope):
                    refused = (401, _SIGN_IN)
            if refused is not None:
                raise _refused_error(*refused)
            return message

        async def send_wrapped(message: Any) -> None:
            nonlocal status, replaced
            if replaced:
                return
            if (message["type"] == "http.response.start" and refused is not None
                    and message["status"] != refused[0]):
                # the app swallowed the refusal and answered otherwise: answer the refusal
                replaced = True
                status = refused[0]
                await _refusal(*refused)(scope, _no_body, self._secure(send, path))
                return
            if message["type"] == "http.response.start":
                status = message["status"]
            await self._secure(send, path)(message)

        try:
            await self.app(scope, receive_bounded, send_wrapped)
        except _BodyRefused:
            if status == 500 and not replaced:  # nothing sent yet
                assert refused is not None
                status = refused[0]
                await _refusal(*refused)(scope, _no_body, self._secure(send, path))
        finally:
            self._count(scope, status)
        if refused is not None and refused[0] == 401:
            await self._audit_unsigned(scope)

    def _too_large(self) -> str:
        return (f"request body too large: at most "
                f"{self.ctx.max_upload_bytes // (1024 * 1024)} MiB")

    async def _audit_unsigned(self, scope: Any) -> None:
        """Put a large body refused for want of credentials on record, as the routes do for
        every refusal (the route never ran, so its own check could not)."""
        route = f"route:{scope.get('method', '?')} {scope.get('path', '')}"

        def write() -> None:
            with session_scope(self.ctx.sessions) as session:
                audit.append(session, actor="anonymous", action="permission_denied",
                             now=datetime.now(UTC), target=route, details={
                                 "action": "send a request body", "roles": [],
                                 "reason": f"a body past {ANONYMOUS_BODY_BYTES // 1024} "
                                           "KiB without valid credentials"})

        try:
            await run_in_threadpool(write)
        except Exception:  # the 401 stands; the store's trouble is logged, not raised
            log.warning("the refusal of an unsigned body could not be audited", exc_info=True)

    async def _valid_caller(self, scope: Any) -> bool:
        """Whether the request's bearer token or session cookie names a signed-in user (the
        same check as the routes', on a reading session)."""
        def check() -> bool:
            store = getattr(self.ctx, "store", None)
            factory = store.read_sessions if store is not None else self.ctx.sessions
            session = factory()
            try:
                return current_principal(Request(scope), session) is not None
            except Exception:
                log.warning("credentials could not be checked before a large body",
                            exc_info=True)
                return False
            finally:
                session.rollback()
                session.close()

        return await run_in_threadpool(check)

    @staticmethod
    def _secure(send: Any, path: str) -> Callable[[Any], Any]:
        async def secured(message: Any) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"same-origin"),
                         (b"x-frame-options", b"DENY"),
                         (b"content-security-policy",
                          b"default-src 'self'; img-src 'self' data:; style-src 'self' "
                          b"'unsafe-inline'; frame-ancestors 'none'")]
                names = {k.lower() for k, _ in message.get("headers", [])}
                if path.startswith("/api/") and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []),
                                                  *[(k, v) for k, v in extra if k not in names]]}
            await send(message)

        return secured

    def _count(self, scope: Any, status: int) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or getattr(route, "path_format", None) or \
            "unmatched"
        self.ctx.metrics.requests.labels(scope.get("method", ""), template, str(status)).inc()


_SIGN_IN = "sign in first: no valid session or API token"


def _has_credentials(headers: dict[bytes, bytes]) -> bool:
    """A bearer token or a session cookie is present (not yet checked)."""
    scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
    if scheme.lower() == b"bearer" and value.strip():
        return True
    cookie = headers.get(b"cookie", b"")
    return f"{COOKIE}=".encode() in cookie


def _refusal_headers(status: int) -> dict[str, str]:
    # close: the client stops sending, and the rest of the body is never read
    return ({"WWW-Authenticate": "Bearer", "Connection": "close"} if status == 401 else
            {"Connection": "close"})


def _refusal(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status,
                        headers=_refusal_headers(status))


def _refused_error(status: int, detail: str) -> _BodyRefused:
    return _BodyRefused(status, detail, headers=_refusal_headers(status))


async def _no_body() -> Any:
    return {"type": "http.disconnect"}
