"""Sign-in and sign-out: console cookie sessions and API tokens.

A console session is a governance API token (named ``console session``, expiring with the
cookie) wrapped in a signed, HttpOnly, SameSite=Strict cookie; signing out revokes it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from openlfr.api.deps import (
    COOKIE,
    Db,
    GuardedRoute,
    NotAuthenticated,
    Principal,
    Public,
    SignedIn,
    TooManyAttempts,
)
from openlfr.api.schemas import LoginIn, MePublic, TokenCreate, TokenIssued
from openlfr.governance.auth import authenticate, hash_token, issue_token, revoke_token
from openlfr.store.models import ApiToken, User

router = APIRouter(route_class=GuardedRoute, tags=["auth"])

SESSION_HOURS = 12


class LoginThrottle:
    """At most ``limit`` failed sign-ins per (address, username) in ``window_s``; further
    attempts are refused (429) without checking the password until the window has passed."""

    def __init__(self, limit: int = 5, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self._clock = limit, window_s, clock
        self._fails: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _key(self, request: Request, username: str) -> tuple[str, str]:
        host = request.client.host if request.client else "?"
        return host, username.strip().lower()

    def wait_s(self, request: Request, username: str) -> float:
        """Seconds until this caller may try again (0: now)."""
        now = self._clock()
        with self._lock:
            q = self._fails.get(self._key(request, username))
            while q and now - q[0] > self.window_s:
                q.popleft()
            if not q or len(q) < self.limit:
                return 0.0
            return self.window_s - (now - q[0])

    def failed(self, request: Request, username: str) -> None:
        with self._lock:
            if len(self._fails) > 100_000:  # bounded memory under a flood
                self._fails.clear()
            self._fails.setdefault(self._key(request, username), deque()).append(self._clock())

    def succeeded(self, request: Request, username: str) -> None:
        with self._lock:
            self._fails.pop(self._key(request, username), None)


def _throttle(request: Request) -> LoginThrottle:
    return request.app.state.ctx.login_throttle


def _too_many(wait: float) -> TooManyAttempts:
    return TooManyAttempts(f"too many failed sign-ins: try again in {int(wait) + 1} s")


def _start_session(db: Db, user: User, name: str, hours: float) -> tuple[ApiToken, str]:
    expires = datetime.now(UTC) + timedelta(hours=hours)
    row, token = issue_token(db, user, name=name, expires_at=expires)
    db.commit()
    return row, token


def _end_session(db: Db, principal: Principal | None) -> None:
    if principal is None or not principal.token:
        return
    row = db.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(principal.token)))
    if row is not None:
        revoke_token(db, principal.user, row.id)
        db.commit()


def _set_cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    response.set_cookie(COOKIE, value, max_age=max_age, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, caller: Public) -> Response:
    if caller is not None:
        return RedirectResponse("/", status_code=303)
    return request.app.state.ctx.templates.TemplateResponse(
        request, "login.html", {"me": None, "nav": [], "error": None})


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, db: Db, caller: Public,
               username: Annotated[str, Form(max_length=64)],
               password: Annotated[str, Form(max_length=1024)]) -> Response:
    wait = _throttle(request).wait_s(request, username)
    if wait > 0:
        return request.app.state.ctx.templates.TemplateResponse(
            request, "login.html", {"me": None, "nav": [], "error": str(_too_many(wait))},
            status_code=429)
    user = authenticate(db, username, password)
    db.commit()  # the login / login_failed audit entry
    if user is None:
        _throttle(request).failed(request, username)
        return request.app.state.ctx.templates.TemplateResponse(
            request, "login.html",
            {"me": None, "nav": [], "error": "Wrong username or password, or the account is "
             "disabled."}, status_code=401)
    _throttle(request).succeeded(request, username)
    _, token = _start_session(db, user, "console session", SESSION_HOURS)
    signer = request.app.state.ctx.signer
    response = RedirectResponse("/", status_code=303)
    _set_cookie(request, response, signer.dumps(token), SESSION_HOURS * 3600)
    return response


@router.post("/logout", response_class=HTMLResponse, include_in_schema=False)
def logout_form(db: Db, caller: Public) -> Response:
    _end_session(db, caller)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/api/auth/login", response_model=TokenIssued)
def api_login(body: LoginIn, request: Request, db: Db, caller: Public) -> TokenIssued:
    """Exchange a username and password for a bearer token (valid 12 hours)."""
    wait = _throttle(request).wait_s(request, body.username)
    if wait > 0:
        raise _too_many(wait)
    user = authenticate(db, body.username, body.password.get_secret_value())
    db.commit()
    if user is None:
        _throttle(request).failed(request, body.username)
        raise NotAuthenticated("wrong username or password, or the account is disabled")
    _throttle(request).succeeded(request, body.username)
    row, token = _start_session(db, user, "api login", SESSION_HOURS)
    return TokenIssued(id=row.id, name=row.name, token=token, expires_at=row.expires_at)


@router.post("/api/auth/logout", response_model=MePublic)
def api_logout(response: Response, db: Db, me: SignedIn) -> MePublic:
    """Revoke the token (or console session) this request came with."""
    out = _me(me)
    _end_session(db, me)
    response.delete_cookie(COOKIE, path="/")
    return out


@router.get("/api/auth/me", response_model=MePublic)
def whoami(me: SignedIn) -> MePublic:
    return _me(me)


@router.post("/api/auth/tokens", response_model=TokenIssued, status_code=201)
def new_token(body: TokenCreate, db: Db, me: SignedIn) -> TokenIssued:
    """A personal API token; it is shown once and stored only as its SHA-256."""
    expires = (datetime.now(UTC) + timedelta(days=body.expires_days)
               if body.expires_days else None)
    row, token = issue_token(db, me.user, name=body.name, expires_at=expires)
    db.commit()
    return TokenIssued(id=row.id, name=row.name, token=token, expires_at=row.expires_at)


def _me(p: Principal) -> MePublic:
    return MePublic(id=p.user.id, username=p.username, roles=sorted(p.roles),
                    via=p.via)  # type: ignore[arg-type]

