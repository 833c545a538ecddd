"""Alerts: list, show, the probe crop and the watchlist image side by side, adjudication."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from openlfr.api.deps import (
    CanAdjudicate,
    CanHoldAlert,
    CanSeeAlertImage,
    CanViewAlerts,
    Db,
    ReadDb,
)
from openlfr.api.guard import GuardedRoute
from openlfr.api.paging import Before, Limit, next_page, page
from openlfr.api.routes.watchlist import image_response
from openlfr.api.schemas import (
    AdjudicationIn,
    AlertList,
    AlertPublic,
    AlertView,
    HoldIn,
    PathId,
    QueryId,
)
from openlfr.errors import NotFound
from openlfr.governance import alerts as svc
from openlfr.governance.auth import Action, require_image_scope
from openlfr.governance.watchlist import snapshot_image
from openlfr.store.models import Alert, AlertStatus, Deployment, User

router = APIRouter(route_class=GuardedRoute, prefix="/api/alerts", tags=["alerts"])


def _view(session: Session, alert: Alert) -> AlertView:
    return _views(session, [alert])[0]


def _views(session: Session, alerts: list[Alert]) -> list[AlertView]:
    """The public views of ``alerts`` in four queries whatever their number: the alerts
    (loaded without their images), their deployments' thresholds, which still hold a
    probe image, and who decided. Reading a page never loads an image or a deployment's
    cameras."""
    if not alerts:
        return []
    ids = [a.id for a in alerts]
    thresholds = {dep_id: t for dep_id, t in session.execute(
        select(Deployment.id, Deployment.threshold)
        .where(Deployment.id.in_({a.deployment_id for a in alerts})))}
    with_image = set(session.scalars(
        select(Alert.id).where(Alert.id.in_(ids), Alert.probe_blob.is_not(None))))
    user_ids = {j.user_id for a in alerts for j in a.adjudications}
    names = {uid: name for uid, name in session.execute(
        select(User.id, User.username).where(User.id.in_(user_ids)))} if user_ids else {}
    fields = [n for n in AlertPublic.model_fields if n != "has_probe_image"]
    return [AlertView(**{n: getattr(a, n) for n in fields}, has_probe_image=a.id in with_image,
                      threshold=thresholds.get(a.deployment_id),
                      deciders=[names.get(j.user_id, f"user {j.user_id}")
                                for j in a.adjudications]) for a in alerts]


def alert_view(session: Session, alert_id: int) -> AlertView | None:
    """The public view of one alert (for the live channel), or None if it is gone."""
    alert = session.get(Alert, alert_id)
    return None if alert is None else _view(session, alert)


@router.get("", response_model=AlertList)
async def list_alerts(request: Request, response: Response, db: ReadDb, me: CanViewAlerts,
                      deployment_id: QueryId | None = None,
                      status: AlertStatus | None = None, limit: Limit = 100,
                      before: Before = None) -> AlertList:
    """Newest first, at most ``limit``; the next page is ``before=<X-Next-Before>`` (also in
    the ``Link`` header). Each alert is a possible match for a person to decide. Answers are
    shared by every reader for up to a second (:mod:`openlfr.api.readcache`); this server's
    own changes show at once."""

    def compute() -> tuple[bytes, int | None]:
        rows = svc.list_alerts(db, me.user, datetime.now(UTC), deployment_id=deployment_id,
                               status=status, limit=limit + 1, before=before)
        rows, cursor = page(rows, limit, lambda a: a.id)
        return AlertList(items=_views(db, rows)).model_dump_json().encode(), cursor

    reads, key = request.app.state.ctx.alert_reads, (deployment_id, status, limit, before)
    # a fresh answer is served from the event loop; the store is read in a worker thread
    found = reads.peek(key)
    body, cursor = found if found is not None else await run_in_threadpool(
        reads.get, key, compute)
    next_page(request, response, "before", cursor)
    paging = {k: v for k, v in response.headers.items() if k in ("link", "x-next-before")}
    return Response(body, media_type="application/json", headers=paging)


@router.get("/{alert_id}", response_model=AlertView)
def show_alert(alert_id: PathId, db: ReadDb, me: CanViewAlerts) -> AlertView:
    return _view(db, svc.get_alert(db, alert_id))


@router.post("/{alert_id}/adjudicate", response_model=AlertView)
def adjudicate(alert_id: PathId, body: AdjudicationIn, request: Request, db: Db,
               me: CanAdjudicate) -> AlertView:
    """Record the outcome: confirmed, rejected (false alert) or not_engaged. Other open
    consoles see the decision at once. ``reason`` (rejected only) says why it was a false
    alert."""
    alert = svc.adjudicate(db, me.user, alert_id, body.outcome, datetime.now(UTC), note=body.note,
                           reason=body.reason)
    db.commit()
    request.app.state.ctx.alert_reads.clear()  # after the commit: no older page survives
    view = _view(db, alert)
    request.app.state.ctx.hub.publish({"type": "alert", **view.model_dump(mode="json")})
    return view


@router.get("/{alert_id}/probe", response_class=Response, response_model=None,
            responses={200: {"content": {"image/jpeg": {}}}})
def probe_image(alert_id: PathId, db: Db, me: CanSeeAlertImage) -> Response:
    """The face seen by the camera (decrypted; viewing is audited; never cached). Operators
    and engagement officers see those of running deployments only."""
    alert = svc.get_alert(db, alert_id)
    require_image_scope(db, me.user, Action.ALERT_IMAGE, deployment_id=alert.deployment_id,
                        target=f"alert:{alert_id}")
    data = svc.alert_probe_image(db, me.user, alert_id, datetime.now(UTC))
    db.commit()
    return image_response(data)


@router.get("/{alert_id}/reference", response_class=Response, response_model=None,
            responses={200: {"content": {"image/*": {}}}})
def reference_image(alert_id: PathId, db: Db, me: CanSeeAlertImage) -> Response:
    """The watchlist image the alert matched, as frozen in the deployment's snapshot. Needs
    both image permissions (alert and watchlist) and, for operators and engagement
    officers, a running deployment."""
    alert = svc.get_alert(db, alert_id)
    if alert.subject_id is None:
        raise NotFound(f"alert {alert_id}'s watchlist entry has been removed")
    require_image_scope(db, me.user, Action.SUBJECT_IMAGE, deployment_id=alert.deployment_id,
                        subject_id=alert.subject_id, target=f"alert:{alert_id}")
    data = snapshot_image(db, me.user, alert.deployment_id, alert.subject_id, datetime.now(UTC))
    if data is None:
        raise NotFound(f"alert {alert_id}'s watchlist entry has no image")
    db.commit()
    return image_response(data)


@router.post("/{alert_id}/hold", response_model=AlertView)
def hold(alert_id: PathId, body: HoldIn, request: Request, db: Db,
         me: CanHoldAlert) -> AlertView:
    """Keep the alert past the retention period, for a stated reason (e.g. a prosecution)."""
    alert = svc.hold_alert(db, me.user, alert_id, body.reason, datetime.now(UTC))
    db.commit()
    request.app.state.ctx.alert_reads.clear()
    return _view(db, alert)


@router.post("/{alert_id}/release", response_model=AlertView)
def release(alert_id: PathId, request: Request, db: Db, me: CanHoldAlert) -> AlertView:
    """End a hold: the alert is purged when its retention period has passed."""
    alert = svc.release_hold(db, me.user, alert_id, datetime.now(UTC))
    db.commit()
    request.app.state.ctx.alert_reads.clear()
    return _view(db, alert)
