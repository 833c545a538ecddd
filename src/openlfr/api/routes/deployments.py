"""Deployments: create, edit a draft, authorise, start, stop, review, cancel, list, show,
counts, reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import func, select

from openlfr.api.deps import (
    After,
    CanAuthoriseDeployment,
    CanCancelDeployment,
    CanCreateDeployment,
    CanReviewDeployment,
    CanStartDeployment,
    CanStopDeployment,
    CanViewCounters,
    CanViewDeployments,
    CanViewReports,
    Db,
    GuardedRoute,
    Limit,
    Principal,
    ReadDb,
    next_page,
    page,
)
from openlfr.api.routes.audit import record_access
from openlfr.api.schemas import (
    DeploymentCounts,
    DeploymentCreate,
    DeploymentDraft,
    DeploymentList,
    DeploymentPublic,
    PathId,
    RatePublic,
    ReviewIn,
    Transition,
)
from openlfr.governance import deployments as svc
from openlfr.governance import urgent
from openlfr.governance.alerts import get_counters
from openlfr.governance.facts import AssessmentPublic, assess
from openlfr.governance.schemas import DeploymentUpdate
from openlfr.governance.urgent import ExternalAuthorisationIn
from openlfr.metrics import Proportion, alert_precision, false_alert_rate
from openlfr.reports.deployment import (
    figures_json,
    load_deployment_figures,
    render_html,
    render_pdf,
)
from openlfr.reports.notice import build_notice
from openlfr.reports.notice import notice_pdf as to_pdf
from openlfr.store.models import Alert, AlertStatus, Deployment, DeploymentStatus

router = APIRouter(route_class=GuardedRoute, prefix="/api/deployments", tags=["deployments"])


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("", response_model=DeploymentList)
def list_deployments(request: Request, response: Response, db: ReadDb,
                     me: CanViewDeployments, status: DeploymentStatus | None = None,
                     limit: Limit = 100, after: After = None) -> DeploymentList:
    """Oldest first, at most ``limit``; the next page is ``after=<X-Next-After>`` (also in
    the ``Link`` header)."""
    # the permission is checked by CanViewDeployments; this is list_deployments, bounded
    q = select(Deployment).order_by(Deployment.id).limit(limit + 1)
    if status is not None:
        q = q.where(Deployment.status == status)
    if after is not None:
        q = q.where(Deployment.id > after)
    rows, cursor = page(list(db.scalars(q)), limit, lambda d: d.id)
    next_page(request, response, "after", cursor)
    return DeploymentList(items=[DeploymentPublic.model_validate(d) for d in rows])


@router.post("", response_model=DeploymentPublic, status_code=201)
def create_deployment(body: DeploymentDraft, request: Request, db: Db,
                      me: CanCreateDeployment) -> DeploymentPublic:
    """A new draft. ``authorising_officer`` defaults to the caller; ``embedder_key`` and
    ``threshold`` to the server's embedder and its recorded threshold."""
    data = body.model_dump()
    if data["authorising_officer"] is None:
        data["authorising_officer"] = me.user.username
    if data["embedder_key"] is None or data["threshold"] is None:
        key, threshold = request.app.state.ctx.default_embedder()
        data["embedder_key"] = data["embedder_key"] or key
        data["threshold"] = data["threshold"] or threshold
    dep = svc.create_deployment(db, me.user, DeploymentCreate.model_validate(data), _now())
    db.commit()
    return DeploymentPublic.model_validate(dep)


@router.get("/{deployment_id}", response_model=DeploymentPublic)
def show_deployment(deployment_id: PathId, db: ReadDb, me: CanViewDeployments) -> DeploymentPublic:
    return DeploymentPublic.model_validate(svc.get_deployment(db, deployment_id))


@router.patch("/{deployment_id}", response_model=DeploymentPublic)
def update_draft(deployment_id: PathId, body: DeploymentUpdate, db: Db,
                 me: CanCreateDeployment) -> DeploymentPublic:
    """Edit a draft: only the fields given change (a null clears only an optional field).
    Changing the categories, the watchlist criteria or the embedder discards the draft's
    watchlist snapshot (audited): make and approve a new one."""
    dep = svc.update_draft(db, me.user, deployment_id, body, _now())
    db.commit()
    return DeploymentPublic.model_validate(dep)


@router.post("/{deployment_id}/authorise", response_model=DeploymentPublic)
def authorise(deployment_id: PathId, db: Db, me: CanAuthoriseDeployment) -> DeploymentPublic:
    dep = svc.authorise(db, me.user, deployment_id, _now())
    db.commit()
    return DeploymentPublic.model_validate(dep)


@router.post("/{deployment_id}/start", response_model=DeploymentPublic)
def start(deployment_id: PathId, request: Request, db: Db,
          me: CanStartDeployment) -> DeploymentPublic:
    """authorised -> active; the cameras start within a couple of seconds."""
    dep = svc.start(db, me.user, deployment_id, _now())
    db.commit()
    request.app.state.ctx.wake_fleet()
    return DeploymentPublic.model_validate(dep)


@router.post("/{deployment_id}/stop", response_model=DeploymentPublic)
def stop(deployment_id: PathId, request: Request, db: Db, me: CanStopDeployment,
         body: Transition | None = None) -> DeploymentPublic:
    dep = svc.stop(db, me.user, deployment_id, _now(),
                   reason=(body.reason if body and body.reason else "stopped"))
    db.commit()
    request.app.state.ctx.wake_fleet()
    return DeploymentPublic.model_validate(dep)


@router.post("/{deployment_id}/review", response_model=DeploymentPublic)
def review(deployment_id: PathId, body: ReviewIn, db: Db,
           me: CanReviewDeployment) -> DeploymentPublic:
    dep = svc.review(db, me.user, deployment_id, _now(), note=body.note)
    db.commit()
    return DeploymentPublic.model_validate(dep)


@router.post("/{deployment_id}/cancel", response_model=DeploymentPublic)
def cancel(deployment_id: PathId, db: Db, me: CanCancelDeployment,
           body: Transition | None = None) -> DeploymentPublic:
    dep = svc.cancel(db, me.user, deployment_id, _now(), reason=body.reason if body else "")
    db.commit()
    return DeploymentPublic.model_validate(dep)


@router.get("/{deployment_id}/assessment", response_model=AssessmentPublic)
def assessment(deployment_id: PathId, db: ReadDb, me: CanViewDeployments,
               crowd: Annotated[int | None, Query(ge=1, le=10**9, description=(
                   "Faces expected to pass: also the false alerts expected from them."))
                   ] = None) -> AssessmentPublic:
    """The deployment against the installation's rule profile: every unmet rule (with its
    source), warnings, and the expected false alert rate for the snapshot's size (and, with
    ``crowd``, the false alerts expected from that many faces)."""
    a = assess(db, svc.get_deployment(db, deployment_id), _now())
    return AssessmentPublic.model_validate(a.to_dict(crowd))


def _decision(db: Db, me: CanAuthoriseDeployment, deployment_id: int,
              body: ExternalAuthorisationIn, granted: bool) -> DeploymentPublic:
    dep = urgent.record_external(db, me.user, deployment_id, body, _now(), granted=granted)
    db.commit()
    return DeploymentPublic.model_validate(dep)


@router.post("/{deployment_id}/external-authorisation", response_model=DeploymentPublic)
def external_grant(deployment_id: PathId, body: ExternalAuthorisationIn, db: Db,
                   me: CanAuthoriseDeployment) -> DeploymentPublic:
    """Record the judicial or independent administrative authority's grant (AI Act
    Art. 5(3)); for urgent use, within the deadline."""
    return _decision(db, me, deployment_id, body, True)


@router.post("/{deployment_id}/external-refusal", response_model=DeploymentPublic)
def external_refusal(deployment_id: PathId, body: ExternalAuthorisationIn, db: Db,
                     me: CanAuthoriseDeployment) -> DeploymentPublic:
    """Record the authority's refusal: the use stops at once; its alerts, probe images and
    snapshot are deleted (counters and audit kept)."""
    return _decision(db, me, deployment_id, body, False)


@router.get("/{deployment_id}/notice.json", response_model=dict[str, object])
def notice_json(deployment_id: PathId, db: Db, me: CanViewDeployments) -> JSONResponse:
    """The EU AI Act Art. 5(4) notification of the deployment (audited)."""
    notice = build_notice(db, deployment_id, actor=me.user.username, now=_now())
    db.commit()
    return JSONResponse(notice)


@router.get("/{deployment_id}/notice.pdf", response_class=Response, response_model=None,
            responses={200: {"content": {"application/pdf": {}}}})
def notice_pdf(deployment_id: PathId, db: Db, me: CanViewDeployments) -> Response:
    pdf = to_pdf(build_notice(db, deployment_id, actor=me.user.username, now=_now()))
    db.commit()
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="notice-{deployment_id}.pdf"'})


def _rate(p: Proportion) -> RatePublic:
    return RatePublic(successes=p.successes, total=p.total, rate=p.rate,
                      interval_95=p.interval, text=str(p))


def deployment_counts(db: Db, deployment_id: int) -> DeploymentCounts:
    """The deployment's counters summed over its cameras, with both headline rates."""
    svc.get_deployment(db, deployment_id)
    totals = get_counters(db, deployment_id)[0]
    pending = db.scalar(select(func.count()).select_from(Alert).where(
        Alert.deployment_id == deployment_id,
        Alert.status.in_([AlertStatus.PENDING, AlertStatus.DISPUTED]))) or 0
    return DeploymentCounts(
        counters=totals, pending=int(pending),
        # undefined while the camera has not yet flushed the tracks behind a rejection
        false_alert_rate=(None if totals.rejected > totals.tracks
                          else _rate(false_alert_rate(totals.rejected, totals.tracks))),
        alert_precision=_rate(alert_precision(totals.confirmed,
                                              totals.confirmed + totals.rejected)))


@router.get("/{deployment_id}/counts", response_model=DeploymentCounts)
def counts(deployment_id: PathId, db: ReadDb, me: CanViewCounters) -> DeploymentCounts:
    """Frames, faces, tracks, alerts and outcomes, with the false alert rate and the alert
    precision (counts and Wilson 95% intervals)."""
    return deployment_counts(db, deployment_id)


def _report_figures(db: Db, deployment_id: int, me: Principal,  # type: ignore[no-untyped-def]
                   fmt: str):
    """The report's figures; the view or download is audited (``report_view``)."""
    svc.get_deployment(db, deployment_id)
    figures = load_deployment_figures(db, deployment_id)
    record_access(db, me, "report_view", target=f"deployment:{deployment_id}",
                  details={"format": fmt})
    return figures


@router.get("/{deployment_id}/report.json", response_model=dict[str, object])
def report_json(deployment_id: PathId, db: ReadDb, me: CanViewReports) -> JSONResponse:
    return JSONResponse(figures_json(_report_figures(db, deployment_id, me, "json")))


@router.get("/{deployment_id}/report.html", response_class=HTMLResponse, response_model=None)
def report_html(deployment_id: PathId, db: ReadDb, me: CanViewReports) -> HTMLResponse:
    return HTMLResponse(render_html(_report_figures(db, deployment_id, me, "html")))


@router.get("/{deployment_id}/report.pdf", response_class=Response, response_model=None,
            responses={200: {"content": {"application/pdf": {}}}})
def report_pdf(deployment_id: PathId, db: ReadDb, me: CanViewReports,
               download: Annotated[bool, Query()] = False) -> Response:
    pdf = render_pdf(_report_figures(db, deployment_id, me, "pdf"))
    disposition = "attachment" if download else "inline"
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="deployment-{deployment_id}.pdf"'})
