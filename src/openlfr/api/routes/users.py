"""Users and roles (admin). Users are never deleted, only disabled: the audit log names them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from openlfr.api.deps import CanListUsers, CanManageUsers, Db, ReadDb
from openlfr.api.guard import GuardedRoute
from openlfr.api.paging import Limit, next_page, page
from openlfr.api.schemas import PathId, UserCreate, UserList, UserPublic, UserUpdate
from openlfr.errors import NotFound, StateError
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
def create_user(body: UserCreate, db: Db, me: CanManageUsers,
                response: Response) -> UserPublic:
    """Create a user. Roles that see face images are only requested: a second admin grants
    them (``PATCH`` with the same roles), and the password given here serves once, to choose
    a new one at the first sign-in. ``X-Roles-Pending: 1`` says a grant is waiting."""
    wanted = sorted(set(body.roles))
    plain = [r for r in wanted if r not in svc.BIOMETRIC_ROLES]
    user = svc.create_user(db, me.user, body.model_copy(update={"roles": plain}))
    if body.password:
        svc.set_password(db, me.user, user.username, body.password)
    if plain != wanted:
        svc.set_roles(db, me.user, user.username, wanted)
        response.headers["X-Roles-Pending"] = "1"
    db.commit()
    return UserPublic.model_validate(user)


def _user(db: Db, user_id: int) -> User:
    user = db.scalar(select(User).where(User.id == user_id))
    if user is None:
        raise NotFound(f"no user {user_id}")
    return user


@router.get("/{user_id}", response_model=UserPublic)
def show_user(user_id: PathId, db: ReadDb, me: CanListUsers) -> UserPublic:
    return UserPublic.model_validate(_user(db, user_id))


@router.patch("/{user_id}", response_model=UserPublic,
              responses={202: {"model": UserPublic, "description": "A role grant waits for a "
                               "second admin."}})
def update_user(user_id: PathId, body: UserUpdate, db: Db, me: CanManageUsers,
                response: Response) -> UserPublic:
    """Change roles, disable the account (revokes its tokens) or reset the password (revokes
    its tokens and sessions; the user chooses a new one at the next sign-in).

    No one changes their own roles. A role that sees face images is granted only when a
    second admin makes the same change (the first is recorded as a request): the answer is
    then ``202`` with the roles as they still are."""
    user = _user(db, user_id)
    if body.roles is not None:
        svc.set_roles(db, me.user, user.username, body.roles)
        if svc.grant_pending(user, body.roles):
            response.status_code = 202
            response.headers["X-Roles-Pending"] = "1"
    if body.password is not None:
        svc.set_password(db, me.user, user.username, body.password.get_secret_value())
    if body.disabled:
        svc.disable_user(db, me.user, user.username)
    elif body.disabled is False and user.disabled:
        raise StateError("a disabled account stays disabled: create a new user")
    db.commit()
    return UserPublic.model_validate(user)
