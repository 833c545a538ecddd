"""Deny by default: every route declares exactly one permission, or is refused.

A permission is declared by the dependency :func:`openlfr.api.deps.permit` makes, which
carries :data:`PERMISSION_ATTR`; a mount (static files) declares it as an attribute
(:func:`mark_public`). :class:`GuardedRoute` serves a 403 for any route that declares none,
and :func:`undeclared_routes` (checked by ``create_app`` and by a test) lists them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount

__all__ = ["PERMISSION_ATTR", "PUBLIC", "declared_permission", "flatten_routes",
           "undeclared_routes", "mark_public", "GuardedRoute"]

PERMISSION_ATTR = "__openlfr_permission__"
PUBLIC = "public"  # no caller needed (login page, static files, health)


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
