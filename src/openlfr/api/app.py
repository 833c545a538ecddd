"""The FastAPI application factory. Nothing is created at import: call :func:`create_app`.

``create_app(settings)`` builds one self-contained app: its own store engine and sessions,
Prometheus registry and alert hub, and (unless ``run_cameras=False``) the fleet runtime: the
centre, which leases the cameras of every active deployment to camera nodes over NATS
JetStream, records what they raise and runs the retention sweeper, plus one local node and,
without a configured NATS URL, an embedded nats-server (:mod:`openlfr.fleet.runtime`). On
shutdown the fleet is stopped and the engine disposed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Mount

from openlfr.api.callers import CallerCache
from openlfr.api.deps import (
    GuardedRoute,
    NotAuthenticated,
    SessionSigner,
    TooManyAttempts,
    UploadTooLarge,
    mark_public,
    undeclared_routes,
)
from openlfr.api.edge import Edge
from openlfr.api.live import AlertHub
from openlfr.api.openapi import install_openapi
from openlfr.api.priority import REQUEST_NICE, lower_this_thread
from openlfr.api.prometheus import AppMetrics
from openlfr.api.readcache import ReadCache
from openlfr.api.routes import ROUTERS
from openlfr.api.routes.alerts import alert_view
from openlfr.api.routes.console import page_context
from openlfr.api.session_key import load_session_key
from openlfr.errors import (
    ConfigError,
    ImageError,
    NotFound,
    OpenLFRError,
    PermissionDenied,
    SourceError,
    StateError,
)
from openlfr.fleet.runtime import FleetRuntime
from openlfr.governance.outbox import delivery_stats
from openlfr.governance.runtime import open_store
from openlfr.governance.throttle import LoginThrottle
from openlfr.settings import Settings
from openlfr.store import upgrade
from openlfr.vision.engine import VisionEngine
from openlfr.vision.image import load_image
from openlfr.watchlist.enrol import embedder_key, enrol_image

if TYPE_CHECKING:
    from openlfr.fleet.health import NodeStatus

__all__ = ["create_app", "AppContext"]

log = logging.getLogger(__name__)

#: OpenLFRError subclass -> HTTP status (the one mapping; anything else user-facing is 400).
STATUS: list[tuple[type[OpenLFRError], int]] = [
    (NotAuthenticated, 401),
    (TooManyAttempts, 429),
    (UploadTooLarge, 413),
    (PermissionDenied, 403),
    (NotFound, 404),
    (StateError, 409),
    (ImageError, 422),
    (SourceError, 422),
    (ConfigError, 422),
]


def status_for(exc: OpenLFRError) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 400


def _no_fleet() -> list[NodeStatus]:
    return []


@dataclass(eq=False)
class AppContext:
    """Everything one app owns, reachable from a request as ``request.app.state.ctx``."""

    settings: Settings
    store: Any  # openlfr.governance.runtime.Store
    sessions: sessionmaker[Session]
    signer: SessionSigner
    hub: AlertHub
    metrics: AppMetrics
    fleet: Any  # openlfr.fleet.runtime.FleetRuntime, or None when no cameras run
    templates: Jinja2Templates
    max_upload_bytes: int = 10 * 1024 * 1024
    request_nice: int = REQUEST_NICE  # see openlfr.api.priority
    #: GET /api/alerts answers, shared by readers for up to a second (openlfr.api.readcache)
    alert_reads: ReadCache[Any] = field(default_factory=ReadCache)
    #: who holds a token, for up to a second (openlfr.api.callers)
    callers: CallerCache = field(default_factory=CallerCache)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    vision_factory: Callable[[], VisionEngine] | None = None
    login_throttle: Any = None  # openlfr.governance.throttle.LoginThrottle
    #: The camera nodes' last reports, dead ones included (alive=False); read by
    #: GET /api/nodes, the console's nodes page and /metrics at scrape time.
    fleet_status: Callable[[], list[NodeStatus]] = _no_fleet
    _vision: VisionEngine | None = None
    closing: threading.Event = field(default_factory=threading.Event)
    _vision_lock: threading.Lock = field(default_factory=threading.Lock)
    _enrol_lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def vision(self) -> VisionEngine:
        """The server's one vision engine (built on first need, then passed to every
        enrolment: the API's routes and the demo seed)."""
        with self._vision_lock:
            if self._vision is None:
                self._vision = (self.vision_factory or VisionEngine.from_config)()
            return self._vision

    def default_embedder(self) -> tuple[str, float]:
        """(embedder key, recorded threshold) of the server's embedder."""
        engine = self.vision()
        t = engine.threshold_for(self.settings.resolved_calibration_file)
        return embedder_key(engine), float(t.value)

    def enrol(self, image: bytes) -> tuple[str, Any]:
        """(embedder key, template) from a photo with exactly one usable face; ImageError
        otherwise (not an image, too many pixels, no face, several faces). Stores nothing."""

        array = load_image(image)  # checks the header's pixel count before decoding
        engine = self.vision()
        with self._enrol_lock:  # one enrolment at a time: it is CPU-bound anyway
            key, vector = enrol_image(engine, array)
        return str(key), vector

    def close_streams(self) -> None:
        """End live streams now (called when the server begins to shut down)."""
        self.closing.set()
        self.hub.close()

    def wake_fleet(self) -> None:
        """Reassign cameras now (after a deployment was started or stopped)."""
        if self.fleet is not None:
            self.fleet.wake()


def _session_key(explicit: bytes | None, settings: Settings) -> bytes:
    """Cookie signing key: explicit, else one that survives restarts (``OPENLFR_SESSION_KEY``
    or ``data_dir/session.key``: :mod:`openlfr.api.session_key`)."""
    return explicit if explicit is not None else load_session_key(settings.data_dir)


def create_app(settings: Settings, *, session_key: bytes | None = None,
               migrate: bool = True, run_cameras: bool = True,
               vision_factory: Callable[[], VisionEngine] | None = None,
               fleet_config: Any = None, nats_url: str | None = None,
               local_node: bool = True,
               max_upload_bytes: int = 10 * 1024 * 1024,
               request_nice: int = REQUEST_NICE) -> FastAPI:
    """Build the app for ``settings``.

    ``fleet_config`` is the server config file's model (camera settings, sinks, NATS, node);
    ``nats_url`` overrides its NATS URL (none at all: an embedded nats-server);
    ``local_node=False`` runs a pure centre. ``vision_factory`` replaces the enrolment engine
    (tests); ``run_cameras=False`` runs no fleet at all (API-only tests).
    ``settings.dev`` allows a generated development key. ``request_nice`` lowers the CPU
    priority of the threads that answer requests, so readers never starve the cameras
    (:mod:`openlfr.api.priority`).
    """

    if migrate:  # before anything touches the schema
        upgrade(settings.resolved_database_url)
    store = open_store(settings)  # refuses to run without an encryption key unless dev
    sessions = store.sessions
    hub = AlertHub()
    fleet = (FleetRuntime(settings, store, config=fleet_config, nats_url=nats_url,
                          local_node=local_node) if run_cameras else None)

    def sink_deliveries() -> dict[str, dict[str, int]]:  # the outbox, at scrape time

        with store.read_sessions() as session:
            return delivery_stats(session)

    # the fleet is read through ctx at scrape time
    metrics = AppMetrics(lambda: [], fleet=lambda: ctx.fleet_status(),
                         deliveries=sink_deliveries)
    templates_dir = resources.files("openlfr.api") / "templates"
    templates = Jinja2Templates(directory=str(templates_dir))
    ctx = AppContext(settings=settings, store=store, sessions=sessions,
                     signer=SessionSigner(_session_key(session_key, settings)),
                     hub=hub, metrics=metrics, fleet=fleet, templates=templates,
                     max_upload_bytes=max_upload_bytes, request_nice=request_nice,
                     vision_factory=vision_factory)
    if fleet is not None:
        ctx.fleet_status = fleet.nodes
        fleet.on_recorded(lambda alert_id: _publish_live(ctx, alert_id))
    templates.env.filters["when"] = _when
    ctx.callers.watch(sessions)  # this process's changes to users and tokens count at once

    ctx.login_throttle = LoginThrottle(sessions, store.read_sessions, key=store.audit_key)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hub.bind(loop)
        ctx._loop, ctx._wake = loop, asyncio.Event()
        if fleet is not None:
            await run_in_threadpool(fleet.start)
        # after the fleet's threads exist, so they (and the camera processes they start)
        # keep the normal priority; worker threads made from now on inherit the lower one
        lower_this_thread(request_nice)
        try:
            yield
        finally:
            for task in ctx.background:
                task.cancel()
            for task in ctx.background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            ctx.background.clear()
            if fleet is not None:
                await run_in_threadpool(fleet.stop)
            store.close()

    app = FastAPI(title="OpenLFR", version=_version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,
                  description="Live facial recognition for watchlist alerting, with safeguards. "
                  "Every route requires a role; see docs/console-api.md.")
    app.router.route_class = GuardedRoute
    app.state.ctx = ctx


    for router in ROUTERS:
        app.include_router(router)
    static = Mount("/static", app=StaticFiles(directory=str(resources.files("openlfr.api") /
                                                         "static")), name="static")
    app.router.routes.append(mark_public(static))
    _install_handlers(app)
    _install_request_metrics(app)
    install_openapi(app)

    missing = undeclared_routes(app.router.routes)
    if missing:
        raise RuntimeError(f"routes without a declared permission: {missing}")
    return app


def _publish_live(ctx: AppContext, alert_id: int) -> None:
    """An alert the centre committed, pushed to this process's console listeners (runs on
    the fleet's bus thread); cached alert lists are dropped first."""
    ctx.alert_reads.clear()

    try:
        with ctx.store.read_sessions() as session:
            event = alert_view(session, alert_id)
    except Exception:
        log.exception("alert %s could not be loaded for the live channel", alert_id)
        return
    if event is not None:
        ctx.hub.publish({"type": "alert", **event.model_dump(mode="json")})


async def _every(interval_s: float, fn: Callable[[], Any], name: str,
                 wake: asyncio.Event | None = None) -> None:
    """Run ``fn`` off the loop every ``interval_s`` seconds, or sooner when ``wake`` is set."""
    while True:
        try:
            await run_in_threadpool(fn)
        except Exception:
            log.exception("%s failed; retrying in %.0f s", name, interval_s)
        if wake is None:
            await asyncio.sleep(interval_s)
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=interval_s)
        wake.clear()


def _when(value: Any) -> str:
    """A datetime as ``YYYY-MM-DD HH:MM`` UTC for the console."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _version() -> str:

    try:
        return version("openlfr")
    except PackageNotFoundError:
        return "0"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and request.url.path != "/metrics"


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(OpenLFRError)
    async def openlfr_error(request: Request, exc: OpenLFRError) -> Response:
        code = status_for(exc)
        if _wants_html(request):
            if code == 401:
                return RedirectResponse("/login", status_code=303)
            if code == 403:
                ctx: AppContext = request.app.state.ctx

                return ctx.templates.TemplateResponse(
                    request, "denied.html", page_context(request, message=str(exc)),
                    status_code=403)
        headers = {"WWW-Authenticate": "Bearer"} if code == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type")}
                  for e in exc.errors()]  # never echo the input back (may be a password)
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))


def _install_request_metrics(app: FastAPI) -> None:
    app.add_middleware(Edge, ctx=app.state.ctx)
