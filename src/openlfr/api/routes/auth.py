"""Sign-in and sign-out: console cookie sessions and API tokens.

A console session is a governance API token (named ``console session``, expiring with the
cookie) wrapped in a signed, HttpOnly, SameSite=Strict cookie (``Secure`` over HTTPS, and
behind a proxy named with ``openlfr serve --forwarded-allow-ips``); signing out revokes it.
Cookie-authenticated changes need the session's CSRF token (:func:`openlfr.api.deps.csrf_ok`).
Failed sign-ins are throttled per user and per address, counted in the store so every
server process sharing the database counts together
(:class:`openlfr.governance.throttle.LoginThrottle`). A password an admin reset serves only
to choose a new one (``/api/auth/password``, or the console's sign-in form).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
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
    csrf_ok,
    refuse_csrf,
)
from openlfr.api.schemas import LoginIn, MePublic, TokenCreate, TokenIssued
from openlfr.errors import PermissionDenied
from openlfr.governance import audit
from openlfr.governance.auth import (
    hash_token,
    issue_token,
    revoke_token,
    sign_in,
    username_hmac,
)
from openlfr.governance.throttle import LoginThrottle
from openlfr.store.models import ApiToken, User

router = APIRouter(route_class=GuardedRoute, tags=["auth"])

SESSION_HOURS = 12


def _throttle(request: Request) -> LoginThrottle:
    return request.app.state.ctx.login_throttle


def _address(request: Request) -> str:
    """The client's address as uvicorn sees it: behind a proxy, start ``openlfr serve``
    with ``--forwarded-allow-ips`` so it is the real client's, not the proxy's."""
    return request.client.host if request.client else "?"


def _too_many(wait: float) -> TooManyAttempts:
    return TooManyAttempts(f"too many failed sign-ins: try again in {math.ceil(wait)} s")


def _throttled(request: Request, db: Db, username: str) -> float:
    """Seconds this sign-in must wait (0: go on). A refusal is audited (``login_throttled``,
    naming the user if it exists, else a keyed hash of the name as for failed sign-ins)."""
    wait, scope = _throttle(request).check(username, _address(request))
    if wait <= 0:
        return 0.0
    user = db.scalar(select(User).where(User.username == username))
    details: dict[str, object] = {"locked": scope, "retry_after_s": math.ceil(wait)}
    key = db.info.get("audit_key")
    if user is None and key:
        details["username_hmac"] = username_hmac(key, username)
    audit.append(db, actor=user.username if user else "anonymous", action="login_throttled",
                 now=datetime.now(UTC), target=f"user:{user.id}" if user else None,
                 details=details)
    db.commit()
    return wait


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


CHANGE_REQUIRED = "password change required"


def _login_page(request: Request, error: str, status: int, change: bool = False) -> Response:
    return request.app.state.ctx.templates.TemplateResponse(
        request, "login.html", {"me": None, "nav": [], "error": error, "change": change},
        status_code=status)


_NO_NUL = r"^[^\x00]*$"  # a NUL byte is never part of a name or password


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(request: Request, db: Db, caller: Public,
               username: Annotated[str, Form(max_length=64, pattern=_NO_NUL)],
               password: Annotated[str, Form(max_length=1024, pattern=_NO_NUL)],
               new_password: Annotated[str | None, Form(max_length=1024, pattern=_NO_NUL)
                                       ] = None) -> Response:
    wait = _throttled(request, db, username)
    if wait > 0:
        return _login_page(request, str(_too_many(wait)), 429)
    user, why = sign_in(db, username, password, new_password or None)
    db.commit()  # the login / login_failed audit entry
    if user is None:
        if why == CHANGE_REQUIRED:
            return _login_page(request, "Your password was reset by an administrator: choose "
                               "a new one (at least 8 characters).", 403, change=True)
        _throttle(request).failed(username, _address(request))
        return _login_page(request, "Wrong username or password, or the account is "
                           "disabled.", 401)
    _throttle(request).succeeded(username)
    _, token = _start_session(db, user, "console session", SESSION_HOURS)
    signer = request.app.state.ctx.signer
    response = RedirectResponse("/", status_code=303)
    _set_cookie(request, response, signer.dumps(token), SESSION_HOURS * 3600)
    return response


@router.post("/logout", response_class=HTMLResponse, include_in_schema=False)
def logout_form(request: Request, db: Db, caller: Public,
                csrf_token: Annotated[str, Form(max_length=200)] = "") -> Response:
    """Sign out (the form carries the session's CSRF token: another site cannot sign a
    user out)."""
    if caller is not None and not csrf_ok(request, caller, csrf_token):
        refuse_csrf(request, db, caller)
    _end_session(db, caller)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: SecretStr = Field(min_length=1, max_length=1024)
    new_password: SecretStr = Field(min_length=8, max_length=1024)


def _api_sign_in(request: Request, db: Db, username: str, password: str,
                 new_password: str | None) -> TokenIssued:
    wait = _throttled(request, db, username)
    if wait > 0:
        raise _too_many(wait)
    user, why = sign_in(db, username, password, new_password)
    db.commit()
    if user is None:
        if why == CHANGE_REQUIRED:
            raise PermissionDenied("your password was reset by an administrator: choose a new "
                                   "one with POST /api/auth/password")
        _throttle(request).failed(username, _address(request))
        raise NotAuthenticated("wrong username or password, or the account is disabled")
    _throttle(request).succeeded(username)
    row, token = _start_session(db, user, "api login", SESSION_HOURS)
    return TokenIssued(id=row.id, name=row.name, token=token, expires_at=row.expires_at)


@router.post("/api/auth/login", response_model=TokenIssued)
def api_login(body: LoginIn, request: Request, db: Db, caller: Public) -> TokenIssued:
    """Exchange a username and password for a bearer token (valid 12 hours). Refused (403)
    while the password is one an admin reset: choose a new one with ``/api/auth/password``."""
    return _api_sign_in(request, db, body.username, body.password.get_secret_value(), None)


@router.post("/api/auth/password", response_model=TokenIssued)
def api_change_password(body: PasswordChangeIn, request: Request, db: Db,
                        caller: Public) -> TokenIssued:
    """Replace a password an admin has reset with one of your own, and sign in (a bearer
    token, as ``/api/auth/login``). Throttled like sign-in."""
    return _api_sign_in(request, db, body.username, body.password.get_secret_value(),
                        body.new_password.get_secret_value())


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

