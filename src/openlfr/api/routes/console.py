"""The operator console: server-rendered pages; actions go through the REST API.

Each page declares the permission it needs like any API route, and shows only the parts and
buttons its viewer's roles allow (governance's pure ``allowed``); the API checks again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from openlfr.api.deps import (
    Before,
    CanCreateDeployment,
    CanListSubjects,
    CanListUsers,
    CanVerifyAudit,
    CanViewAlerts,
    CanViewDeployments,
    Db,
    GuardedRoute,
    Principal,
    ReadDb,
    SignedIn,
)
from openlfr.api.routes.audit import Filter as AuditSearch
from openlfr.api.routes.audit import audit_page, verify_chain
from openlfr.api.routes.deliveries import delivery_report
from openlfr.api.routes.deployments import deployment_counts
from openlfr.api.routes.nodes import CanViewNodes, FleetUnavailable, fleet_view
from openlfr.api.schemas import DeploymentPublic, PathId, SubjectPublic
from openlfr.api.wizard import wizard_context
from openlfr.errors import StateError
from openlfr.evaluation.tracking.reference import fragmentation_note
from openlfr.governance.auth import Action, allowed, list_users
from openlfr.governance.deployments import get_deployment, list_deployments
from openlfr.governance.grants import pending_grants
from openlfr.governance.permissions import PERMISSIONS, SCOPED_IMAGE_ROLES
from openlfr.governance.watchlist import list_subjects
from openlfr.store.models import Category, DeploymentStatus, Role, Snapshot, User

log = logging.getLogger(__name__)

router = APIRouter(route_class=GuardedRoute, include_in_schema=False,
                   default_response_class=HTMLResponse)

NAV = [
    ("/console/operator", "Operator", Action.ALERT_VIEW,
     "live view and alert queue: look at each possible match and record the outcome"),
    ("/console/deployments", "Deployments", Action.DEPLOYMENT_VIEW,
     "create, authorise, start and stop deployments; their counts and reports"),
    ("/console/watchlist", "Watchlist", Action.SUBJECT_LIST,
     "enrol subjects with a photo, review and expire entries"),
    ("/console/audit", "Audit", Action.AUDIT_VERIFY,
     "the tamper-evident audit log, its chain status, deployment reports"),
    ("/console/users", "Users", Action.USER_LIST, "accounts and roles"),
    ("/console/nodes", "Nodes", Action.NODES_VIEW,
     "camera nodes and their cameras: frames/s, drops, lag, restarts, last contact"),
]

#: Seconds between reloads of the nodes page (a ``Refresh`` header: no script needed).
NODES_REFRESH_S = 5
#: A camera's state -> the console's state colour (console.css ``state-*``).
CAMERA_STATE_CLASS = {"running": "active", "starting": "authorised", "restarting": "pending",
                      "failed": "rejected", "stopped": "ended"}


def may(principal: Principal | None, action: Action) -> bool:
    return principal is not None and allowed(principal.roles, action)


def page_context(request: Request, **extra: Any) -> dict[str, Any]:
    p: Principal | None = getattr(request.state, "principal", None)
    me = None
    nav = []
    if p is not None:
        me = {"username": p.username,
              "roles": sorted(r.value.replace("_", " ") for r in p.roles)}
        nav = [{"href": href, "label": label, "help": help_,
                "here": request.url.path.startswith(href)}
               for href, label, action, help_ in NAV if may(p, action)]
    return {"me": me, "nav": nav, **extra}


def render(request: Request, name: str, **extra: Any) -> Response:
    return request.app.state.ctx.templates.TemplateResponse(
        request, name, page_context(request, **extra),
        headers={"Cache-Control": "no-store"})


@router.get("/")
def home(request: Request, me: SignedIn) -> Response:
    return render(request, "home.html")


@router.get("/console/operator")
def operator(request: Request, db: Db, me: CanViewAlerts) -> Response:
    """Live view (cameras appear as deployments start) and the alert queue. Which images the
    page may request (``images``): ``all``, ``running`` (operators and engagement officers:
    those of running deployments) or ``none`` (the auditor: placeholders, no requests)."""
    granting = PERMISSIONS[Action.ALERT_IMAGE] & me.roles
    images = ("none" if not granting else
              "running" if not granting - SCOPED_IMAGE_ROLES else "all")
    active = list_deployments(db, me.user, status=DeploymentStatus.ACTIVE)
    return render(request, "operator.html", can_view_live=may(me, Action.ALERT_IMAGE),
                  can_adjudicate=may(me, Action.ALERT_ADJUDICATE), images=images,
                  can_see_reference=may(me, Action.SUBJECT_IMAGE),
                  active=[{"id": d.id, "name": d.name} for d in active])


@router.get("/console/deployments")
def deployments(request: Request, db: Db, me: CanViewDeployments) -> Response:
    rows = list_deployments(db, me.user)
    can_create = may(me, Action.DEPLOYMENT_CREATE)
    return render(request, "deployments.html", deployments=rows, can_create=can_create,
                  wizard=_wizard(request, db, me) if can_create else None)


def _wizard(request: Request, db: Db, me: Any, draft: Any = None) -> dict[str, Any]:
    try:
        default = request.app.state.ctx.default_embedder()
    except Exception:  # no embedder here: the wizard asks for an explicit one and threshold
        default = None
    return wizard_context(db, me.user, default, datetime.now(UTC), draft)


@router.get("/console/deployments/{deployment_id}/edit")
def deployment_edit(deployment_id: PathId, request: Request, db: Db,
                    me: CanCreateDeployment) -> Response:
    """The wizard on a draft (PATCH); an authorised deployment is frozen."""
    d = get_deployment(db, deployment_id)
    if d.status != DeploymentStatus.DRAFT:
        raise StateError(f"deployment {d.id} is {d.status.value}: only a draft can be edited")
    return render(request, "deployment_edit.html", d=d, wizard=_wizard(request, db, me, d))


@router.get("/console/deployments/{deployment_id}")
def deployment(deployment_id: PathId, request: Request, db: Db,
               me: CanViewDeployments) -> Response:
    d = get_deployment(db, deployment_id)
    snap = db.scalar(select(Snapshot).where(Snapshot.deployment_id == d.id))
    S = DeploymentStatus
    base = f"/api/deployments/{d.id}"
    actions = []

    def act(key: str, label: str, action: Action, url: str, cls: str = "", done: str = "Done",
            confirm: str | None = None) -> None:
        if may(me, action):
            actions.append({"key": key, "label": label, "url": url, "cls": cls, "done": done,
                            "confirm": confirm})

    if d.status in (S.DRAFT, S.AUTHORISED):
        act("snapshot", "Freeze watchlist snapshot" if snap is None else
            "Re-freeze watchlist snapshot", Action.SNAPSHOT_CREATE, f"{base}/snapshot",
            done="Snapshot created")
        if snap is not None and snap.approved_at is None:
            act("approve", "Approve watchlist snapshot", Action.SNAPSHOT_APPROVE,
                f"{base}/snapshot/approve", "primary", "Snapshot approved")
    if d.status == S.DRAFT:
        act("authorise", "Authorise", Action.DEPLOYMENT_AUTHORISE, f"{base}/authorise",
            "primary", "Authorised")
    if d.status == S.AUTHORISED:
        act("start", "Start scanning", Action.DEPLOYMENT_START, f"{base}/start", "ok",
            "Started", confirm="Start scanning now? Faces on these cameras will be compared "
            "with the watchlist.")
    if d.status == S.ACTIVE:
        act("stop", "Stop", Action.DEPLOYMENT_STOP, f"{base}/stop", "bad", "Stopped",
            confirm="Stop scanning now?")
    if d.status in (S.DRAFT, S.AUTHORISED):
        act("cancel", "Cancel deployment", Action.DEPLOYMENT_CANCEL, f"{base}/cancel", "",
            "Cancelled", confirm="Cancel this deployment? This cannot be undone.")

    counts = rates = None
    if may(me, Action.COUNTERS_VIEW):
        c = deployment_counts(db, d.id)
        k = c.counters
        counts = [("frames analysed", k.frames), ("frames dropped", k.dropped),
                  ("faces detected", k.faces), ("tracks (about one per passer-by)", k.tracks),
                  ("alerts", k.alerts), ("confirmed", k.confirmed),
                  ("rejected (false alerts)", k.rejected), ("not engaged", k.not_engaged),
                  ("awaiting decision", c.pending)]
        fa, pr = c.false_alert_rate, c.alert_precision
        rates = [{"key": "false_alert_rate", "name": "false alert rate",
                  "text": fa.text if fa else "undefined: fewer tracks counted than false "
                                             "alerts (the track counter lags behind)",
                  "help": "rejected alerts / tracks; " + fragmentation_note(None)},
                 {"key": "alert_precision", "name": "alert precision", "text": pr.text,
                  "help": "confirmed / (confirmed + rejected)"}]
    # the public schema, as the API serves it: camera URLs lose their passwords
    return render(request, "deployment.html", d=DeploymentPublic.model_validate(d),
                  snapshot=snap, actions=actions,
                  counts=counts, rates=rates,
                  can_review=d.status == S.ENDED and may(me, Action.DEPLOYMENT_REVIEW),
                  can_edit=d.status == S.DRAFT and may(me, Action.DEPLOYMENT_CREATE),
                  can_report=may(me, Action.REPORT_VIEW))


@router.get("/console/watchlist")
def watchlist(request: Request, db: Db, me: CanListSubjects,
              include_expired: bool = False) -> Response:
    rows = [SubjectPublic.model_validate(s) for s in
            list_subjects(db, me.user, datetime.now(UTC), include_expired=include_expired)]
    usernames = {uid: name for uid, name in db.execute(select(User.id, User.username))}
    return render(request, "watchlist.html", subjects=rows, usernames=usernames,
                  include_expired=include_expired,
                  can_add=may(me, Action.SUBJECT_ADD),
                  can_expire=may(me, Action.SUBJECT_EXPIRE),
                  can_see_images=may(me, Action.SUBJECT_IMAGE),
                  categories=[c.value for c in Category],
                  default_expiry=(datetime.now(UTC) + timedelta(days=28)).date().isoformat())


#: Audit entries the audit page shows at a time.
AUDIT_PAGE = 50


@router.get("/console/audit")
def audit(request: Request, db: Db, me: CanVerifyAudit, where: AuditSearch,
          before: Before = None) -> Response:
    """The chain's status, the reports and (for the auditor) the log: searched by actor,
    action, target and time, paged back by ``before``, exported as JSON Lines or CSV."""
    chain = verify_chain(db)
    entries = older = None
    query = {k: v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v
             for k, v in where.as_details().items()}
    if may(me, Action.AUDIT_EXPORT):
        entries = audit_page(db, limit=AUDIT_PAGE + 1, before=before, where=where)
        if len(entries.items) > AUDIT_PAGE:
            entries.items = entries.items[:AUDIT_PAGE]
            older = "?" + urlencode(query | {"before": entries.items[-1].seq})
    deps = list_deployments(db, me.user) if may(me, Action.REPORT_VIEW) else []
    return render(request, "audit.html", chain=chain, entries=entries, deployments=deps,
                  can_report=may(me, Action.REPORT_VIEW), query=query, paged=before,
                  older=older, export_query=urlencode(query))


@router.get("/console/users")
def users(request: Request, db: Db, me: CanListUsers) -> Response:
    rows = list_users(db, me.user)
    return render(request, "users.html",
                  users=[{"id": u.id, "username": u.username, "display_name": u.display_name,
                          "roles": sorted(r.value for r in u.roles), "disabled": u.disabled}
                         for u in rows],
                  pending=pending_grants(db, datetime.now(UTC)), me=me.username,
                  can_manage=may(me, Action.USER_MANAGE), roles=[r.value for r in Role])


#: Given-up deliveries the nodes page lists at most.
NODES_FAILED_DELIVERIES = 50


@router.get("/console/nodes")
def nodes(request: Request, db: ReadDb, me: CanViewNodes) -> Response:
    """Each camera node (dead ones marked) and its cameras, and the sinks' deliveries (given-up
    ones listed); reloads itself every few seconds."""
    view, error = None, None
    try:
        view = fleet_view(request.app.state.ctx)
    except FleetUnavailable as exc:
        error = str(exc)
    deliveries, deliveries_error = None, None
    try:
        deliveries = delivery_report(db, NODES_FAILED_DELIVERIES)
    except Exception as exc:  # the fleet's part of the page still shows
        db.rollback()
        log.exception("sink deliveries unavailable for the nodes page")
        deliveries_error = f"sink deliveries unavailable: {type(exc).__name__}"
    response = render(request, "nodes.html", view=view, error=error,
                      deliveries=deliveries, deliveries_error=deliveries_error,
                      refresh_s=NODES_REFRESH_S, state_class=CAMERA_STATE_CLASS)
    response.headers["Refresh"] = str(NODES_REFRESH_S)
    return response
