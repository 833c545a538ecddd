"""Users and roles (admin). Users are never deleted, only disabled: the audit log names them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from openlfr.api.deps import (
    CanListUsers,
    CanManageUsers,
    Db,
    GuardedRoute,
    Limit,
    ReadDb,
    next_page,
    page,
)
from openlfr.api.schemas import UserCreate, UserList, UserPublic, UserUpdate
from openlfr.errors import NotFound
from openlfr.governance import auth as svc
from openlfr.store.models import User

router = APIRouter(route_class=GuardedRoute, prefix="/api/users", tags=["users"])


@router.get("", response_model=UserList)
def list_users(request: Request, response: Response, db: ReadDb, me: CanListUsers,
               limit: Limit = 100,
               after: Annotated[str | None, Query(max_length=200, description=(
                   "Cursor: only users whose name sorts after this (the previous page's "
                   "`X-Next-After`)."))] = None) -> UserList:
    """By username, at most ``limit``; the next page is ``after=<X-Next-After>`` (also in
    the ``Link`` header)."""
    rows = svc.list_users(db, me.user, after=after, limit=limit + 1)
    rows, cursor = page(rows, limit, lambda u: u.username)
    next_page(request, response, "after", cursor)
    return UserList(items=[UserPublic.model_validate(u) for u in rows])


@router.post("", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, db: Db, me: CanManageUsers) -> UserPublic:
    user = svc.create_user(db, me.user, body)
    db.commit()
    return UserPublic.model_validate(user)


def _user(db: Db, user_id: int) -> User:
    user = db.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


@router.get("/{user_id}", response_model=UserPublic)
def show_user(user_id: int, db: ReadDb, me: CanListUsers) -> UserPublic:
    return UserPublic.model_validate(_user(db, user_id))


@router.patch("/{user_id}", response_model=UserPublic)
def update_user(user_id: int, body: UserUpdate, db: Db, me: CanManageUsers) -> UserPublic:
    """Change roles, disable the account (revokes its tokens) or set a new password."""
    user = _user(db, user_id)
    if body.roles is not None:
        svc.set_roles(db, me.user, user.username, body.roles)
    if body.password is not None:
        svc.set_password(db, me.user, user.username, body.password.get_secret_value())
    if body.disabled:
        svc.disable_user(db, me.user, user.username)
    elif body.disabled is False and user.disabled:
        from openlfr.errors import StateError

        raise StateError("a disabled account stays disabled: create a new user")
    db.commit()
    return UserPublic.model_validate(user)
