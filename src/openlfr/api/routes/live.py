"""Live channels: alert events (server-sent events), MJPEG camera views, Prometheus metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from openlfr.api.deps import (
    CanSeeAlertImage,
    CanViewAlerts,
    CanViewCounters,
    CanViewDeployments,
    GuardedRoute,
)
from openlfr.api.live import MJPEG_BOUNDARY, mjpeg_stream, sse_stream
from openlfr.api.prometheus import CONTENT_TYPE
from openlfr.api.schemas import CameraIdPath, CameraLive, CameraLiveList, PathId
from openlfr.errors import NotFound

router = APIRouter(route_class=GuardedRoute, tags=["live"])

NO_STORE = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


@router.get("/api/alerts/stream", response_class=StreamingResponse, response_model=None,
            responses={200: {"content": {"text/event-stream": {}}}})
async def alert_stream(request: Request, me: CanViewAlerts) -> StreamingResponse:
    """Alerts as they happen (``event: alert``, data: the alert as JSON, without images)."""
    ctx = request.app.state.ctx
    hub = ctx.hub
    sub = hub.subscribe()
    ctx.metrics.live_listeners.set(hub.subscribers)

    async def events() -> AsyncIterator[str]:
        try:
            async for chunk in sse_stream(hub, sub, is_disconnected=request.is_disconnected):
                yield chunk
        finally:
            ctx.metrics.live_listeners.set(hub.subscribers)

    return StreamingResponse(events(), media_type="text/event-stream", headers=NO_STORE)


@router.get("/api/live/cameras", response_model=CameraLiveList)
def cameras(request: Request, me: CanViewDeployments) -> CameraLiveList:
    """The cameras being run now (active deployments), on every live node. The live view
    (``url``) is served for the cameras of this server's own node."""
    ctx = request.app.state.ctx
    items = []
    for node in ctx.fleet_status():
        if not node.alive:
            continue
        for cam in node.cameras:
            running = cam.state == "running"
            local = ctx.fleet is not None and ctx.fleet.is_local(cam.deployment_id,
                                                                 cam.camera_id)
            items.append(CameraLive(
                deployment_id=cam.deployment_id, camera_id=cam.camera_id, running=running,
                url=f"/api/live/{cam.deployment_id}/{cam.camera_id}.mjpeg" if local else None,
                error=cam.error))
    return CameraLiveList(items=items)


@router.get("/api/live/{deployment_id}/{camera_id}.mjpeg", response_class=StreamingResponse,
            response_model=None,
            responses={200: {"content": {f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}":
                                         {}}}})
async def live_view(deployment_id: PathId, camera_id: CameraIdPath, request: Request,
                    me: CanSeeAlertImage,
                    fps: Annotated[float, Query(gt=0, le=25)] = 8.0,
                    frames: Annotated[int | None, Query(ge=1, le=100000)] = None
                    ) -> StreamingResponse:
    """The camera's preview as MJPEG: every face that is not an alert is blurred."""
    ctx = request.app.state.ctx
    fleet = ctx.fleet

    def latest() -> bytes | None:
        return fleet.preview(deployment_id, camera_id) if fleet is not None else None

    def local() -> bool:
        return fleet is not None and fleet.is_local(deployment_id, camera_id)

    if not local():
        raise NotFound(f"camera {camera_id!r} of deployment {deployment_id} is not running "
                       "on this server's node (only active deployments have a live view)")
    stream = mjpeg_stream(latest, is_disconnected=request.is_disconnected,
                          max_fps=fps, max_frames=frames,
                          still_running=lambda: not ctx.closing.is_set() and local())
    return StreamingResponse(
        stream, media_type=f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}",
        headers=NO_STORE)


@router.get("/metrics", response_class=Response, response_model=None, tags=["metrics"],
            responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request, me: CanViewCounters) -> Response:
    """Prometheus exposition: frames, faces, tracks, alerts, drops and stage latencies per
    camera. Scrape with a bearer token of a user holding a counters role."""
    return Response(request.app.state.ctx.metrics.render(), media_type=CONTENT_TYPE)
