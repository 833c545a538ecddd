"""Paging for every list route: bounded by ``limit``, continued with a cursor.

List bodies keep their shape; the next page's cursor travels in ``X-Next-Before`` or
``X-Next-After`` and in an RFC 8288 ``Link`` header (see docs/operations.md, "Store access
under load")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query, Request, Response

__all__ = ["MAX_ID", "Limit", "Before", "After", "next_page", "page"]

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
