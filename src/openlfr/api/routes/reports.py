"""The transparency report over a period (every deployment whose window overlaps it).
Each view or download is audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from openlfr.api.deps import CanViewReports, GuardedRoute, Principal, ReadDb
from openlfr.api.routes.audit import record_access
from openlfr.api.schemas import QueryTime
from openlfr.errors import ConfigError
from openlfr.reports.transparency import load_transparency_figures, render_html, render_pdf
from openlfr.reports.transparency import transparency_json as render

router = APIRouter(route_class=GuardedRoute, prefix="/api/reports", tags=["reports"])

Start = Annotated[QueryTime | None, Query(description="Period start (default: a year ago).")]
End = Annotated[QueryTime | None, Query(description="Period end (default: now).")]


def _figures(db: ReadDb, me: Principal, start: datetime | None, end: datetime | None,
             fmt: str) -> Any:
    """The period's figures; the viewing is audited (``report_view``)."""
    end = _aware(end) if end else datetime.now(UTC)
    start = _aware(start) if start else end - timedelta(days=365)
    if end <= start:
        raise ConfigError("the period's end must be after its start")
    figures = load_transparency_figures(db, start, end)
    record_access(db, me, "report_view", target="report:transparency",
                  details={"format": fmt, "start": start, "end": end})
    return figures


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


@router.get("/transparency.json", response_model=dict[str, object])
def transparency_json(db: ReadDb, me: CanViewReports, start: Start = None,
                      end: End = None) -> JSONResponse:
    """Counts and both rates (with intervals) for every deployment in the period."""
    return JSONResponse(render(_figures(db, me, start, end, "json")))


@router.get("/transparency.html", response_class=HTMLResponse, response_model=None)
def transparency_html(db: ReadDb, me: CanViewReports, start: Start = None,
                      end: End = None) -> HTMLResponse:
    return HTMLResponse(render_html(_figures(db, me, start, end, "html")))


@router.get("/transparency.pdf", response_class=Response, response_model=None,
            responses={200: {"content": {"application/pdf": {}}}})
def transparency_pdf(db: ReadDb, me: CanViewReports, start: Start = None,
                     end: End = None) -> Response:
    return Response(render_pdf(_figures(db, me, start, end, "pdf")), media_type="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="transparency.pdf"'})
