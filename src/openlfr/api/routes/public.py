"""The public page and feed of deployments: no sign-in, rate limited, audited.

``GET /public/deployments`` (HTML), ``/public/deployments.json`` and
``/public/deployments.atom`` list the live deployments that are authorised, running or over
(drafts, cancelled ones and evaluations on recorded footage are not use in public): the
place, the authorised window, the purpose and the legal basis, and after the end the two
rates with their counts (false alerts per track, with the tracks per person the tracker
makes on reference clips; correct alerts per decided alert).

Nothing else leaves: the lists are built from :class:`PublicDeployment` (``extra="forbid"``),
the only fields the page, the JSON and the feed show; never a watchlist entry, an image, a
camera, a model or a threshold, never who authorised it. tests/api/test_public.py fails on
any other field, in the browser too.

Rate limit (:class:`PublicRateLimit`): per client address and in total, a sliding window,
**in memory per server process** (several processes or servers each count their own; put a
proxy limit in front for more). Past it: 429 with ``Retry-After``, not audited (a flood must
not fill the audit log). Every answered view is audited (``public_view``: the format and
how many deployments it listed; no address or other trace of the reader).
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.api.deps import Db, GuardedRoute, Public, ReadDb
from openlfr.api.schemas import ErrorBody
from openlfr.governance import audit
from openlfr.reports.deployment import RATE_MEANINGS, load_deployment_figures
from openlfr.store.models import Deployment, DeploymentKind, DeploymentStatus

__all__ = ["router", "PublicRateLimit", "PublicDeployment", "PublicList", "PUBLIC_FIELDS",
           "public_list", "atom_feed", "MAX_LISTED"]

#: At most this many deployments are listed (the most recent windows first).
MAX_LISTED = 200
STATES: dict[DeploymentStatus, Literal["upcoming", "active", "ended"]] = {
    DeploymentStatus.AUTHORISED: "upcoming", DeploymentStatus.ACTIVE: "active",
    DeploymentStatus.ENDED: "ended", DeploymentStatus.REVIEWED: "ended"}
ATOM = "http://www.w3.org/2005/Atom"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublicRate(_Out):
    count: int
    of: int
    rate: float | None
    ci95: tuple[float, float]
    one_in: float | None


class PublicResults(_Out):
    """The two rates after the end, each with its counts."""

    tracks: int  # the faces followed: about one per person passing (see tracks_note)
    tracks_note: str  # what a track is: tracks per person on the reference clips
    alerts: int
    false_alert_rate: PublicRate | None  # rejected alerts per track
    alert_precision: PublicRate  # confirmed alerts per decided (confirmed + rejected) alert


class PublicDeployment(_Out):
    id: int
    place: str
    window_start: datetime
    window_end: datetime
    purpose: str
    legal_basis: str
    state: Literal["upcoming", "active", "ended"]
    results: PublicResults | None


class PublicList(_Out):
    generated_at: datetime
    definitions: dict[str, str]
    deployments: list[PublicDeployment]


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, f in model.model_fields.items():
        out.add(prefix + name)
        inner = [a for a in getattr(f.annotation, "__args__", (f.annotation,))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        for m in inner:
            out |= _fields(m, f"{prefix}{name}.")
    return out


#: Every field the public lists may show (dotted paths), and nothing else.
PUBLIC_FIELDS = frozenset(_fields(PublicList))


class PublicRateLimit:
    """Sliding-window request limit per key and in total; ``clock`` is injectable (tests)."""

    def __init__(self, per_client: int = 60, total: int = 600, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000
                 ) -> None:
        if per_client < 1 or total < per_client or window_s <= 0:
            raise ValueError("need 1 <= per_client <= total and a positive window")
        self.per_client, self.total, self.window_s = per_client, total, window_s
        self.clock, self.max_clients = clock, max_clients
        self._hits: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def check(self, key: str) -> float | None:
        """None if this request may go ahead (and count it); else seconds until it may."""
        with self._lock:
            now = self.clock()
            cut = now - self.window_s
            while self._all and self._all[0] <= cut:
                self._all.popleft()
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self.max_clients:  # drop the idle before growing
                    self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > cut}
                hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= cut:
                hits.popleft()
            if len(hits) >= self.per_client:
                return hits[0] + self.window_s - now
            if len(self._all) >= self.total:
                return self._all[0] + self.window_s - now
            hits.append(now)
            self._all.append(now)
            return None


def _limiter(request: Request) -> PublicRateLimit:
    state = request.app.state
    limiter = getattr(state, "public_rate_limit", None)
    if limiter is None:  # one per app, made on first use
        limiter = state.public_rate_limit = PublicRateLimit()
    return limiter


def _admit(request: Request) -> None:
    wait = _limiter(request).check(request.client.host if request.client else "-")
    if wait is not None:
        raise HTTPException(429, "too many requests for the public list: try again shortly",
                            headers={"Retry-After": str(max(1, int(wait + 0.999)))})


def _results(session: Session, dep: Deployment) -> PublicResults | None:
    if STATES[dep.status] != "ended":
        return None
    f = load_deployment_figures(session, dep.id)
    far = f.false_alert_rate
    return PublicResults(
        tracks=f.tracks, tracks_note=f.tracks_per_person["note"], alerts=f.alert_count,
        false_alert_rate=None if far is None else PublicRate(**far.as_dict()),
        alert_precision=PublicRate(**f.alert_precision.as_dict()))


def public_list(session: Session, now: datetime) -> PublicList:
    """The deployments the public may see, most recent window first (at most MAX_LISTED)."""
    rows = session.scalars(
        select(Deployment)
        .where(Deployment.kind == DeploymentKind.LIVE, Deployment.status.in_(list(STATES)))
        .order_by(Deployment.window_start.desc(), Deployment.id.desc())
        .limit(MAX_LISTED)).all()
    return PublicList(generated_at=now, definitions=dict(RATE_MEANINGS), deployments=[
        PublicDeployment(id=d.id, place=d.location, window_start=d.window_start,
                         window_end=d.window_end, purpose=d.purpose,
                         legal_basis=d.legal_basis, state=STATES[d.status],
                         results=_results(session, d)) for d in rows])


def _summary(d: PublicDeployment) -> str:
    text = f"{d.state}. Purpose: {d.purpose}. Legal basis: {d.legal_basis}."
    r = d.results
    if r is not None:
        far = ("not available" if r.false_alert_rate is None else
               f"{r.false_alert_rate.count} of {r.false_alert_rate.of} tracks "
               f"({r.tracks_note})")
        text += (f" False alerts: {far}. Correct alerts: {r.alert_precision.count} of "
                 f"{r.alert_precision.of} decided alerts ({r.alerts} alerts in all).")
    return text


def atom_feed(listing: PublicList, base_url: str) -> bytes:
    """An Atom 1.0 feed (RFC 4287) of the list; ElementTree escapes every text."""
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        el.text = text
        return el

    page = base_url.rstrip("/") + "/public/deployments"
    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", page + ".atom")
    sub(feed, "title", "Live facial recognition deployments")
    sub(feed, "updated", _stamp(listing.generated_at))
    sub(feed, "link", href=page, rel="alternate", type="text/html")
    sub(feed, "link", href=page + ".atom", rel="self", type="application/atom+xml")
    sub(sub(feed, "author"), "name", "OpenLFR")
    for d in listing.deployments:
        entry = sub(feed, "entry")
        sub(entry, "id", f"{page}#deployment-{d.id}")
        sub(entry, "title", f"{d.place}: {_stamp(d.window_start)} to {_stamp(d.window_end)}")
        # stable for feed readers: it changes once, when the results are in
        sub(entry, "updated", _stamp(d.window_end if d.results else d.window_start))
        sub(entry, "link", href=f"{page}#deployment-{d.id}", rel="alternate")
        sub(entry, "summary", _summary(d), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _stamp(dt: datetime) -> str:
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _view(request: Request, read: Session, db: Session, fmt: str) -> PublicList:
    """Admit (rate limit), list, audit the view."""
    _admit(request)
    now = datetime.now(UTC)
    listing = public_list(read, now)
    read.commit()
    audit.append(db, actor="anonymous", action="public_view", now=now,
                 target="public:deployments",
                 details={"format": fmt, "deployments": len(listing.deployments)})
    db.commit()
    return listing


router = APIRouter(route_class=GuardedRoute, prefix="/public", tags=["public"])
LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorBody, "description": "Too many requests: retry after Retry-After."}}


@router.get("/deployments.json", response_model=PublicList, responses=LIMITED)
def deployments_json(request: Request, read: ReadDb, db: Db, me: Public) -> JSONResponse:
    """Authorised, running and past live deployments (no sign-in)."""
    listing = _view(request, read, db, "json")
    return JSONResponse(listing.model_dump(mode="json"),
                        headers={"Cache-Control": "public, max-age=60"})


@router.get("/deployments.atom", response_class=Response, responses={
    **LIMITED, 200: {"content": {"application/atom+xml": {}}}})
def deployments_atom(request: Request, read: ReadDb, db: Db, me: Public) -> Response:
    """The same list as an Atom feed."""
    listing = _view(request, read, db, "atom")
    return Response(atom_feed(listing, str(request.base_url)),
                    media_type="application/atom+xml",
                    headers={"Cache-Control": "public, max-age=60"})


@router.get("/deployments", response_class=HTMLResponse, include_in_schema=False)
def deployments_page(request: Request, read: ReadDb, db: Db, me: Public) -> Response:
    listing = _view(request, read, db, "html")
    return request.app.state.ctx.templates.TemplateResponse(
        request, "public_deployments.html", {"listing": listing},
        headers={"Cache-Control": "public, max-age=60"})
