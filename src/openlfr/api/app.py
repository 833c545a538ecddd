"""The FastAPI application factory. Nothing is created at import: call :func:`create_app`.

``create_app(settings)`` builds one self-contained app: its own store engine and sessions,
Prometheus registry, alert hub and camera supervisor. On start (lifespan) it migrates the
store, then the supervisor runs the cameras of every active deployment and the retention
sweeper runs on a schedule; on shutdown every camera is stopped and the engine disposed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib import resources
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

from openlfr.api.deps import (
    GuardedRoute,
    NotAuthenticated,
    SessionSigner,
    SignedIn,
    TooManyAttempts,
    UploadTooLarge,
    mark_public,
    undeclared_routes,
)
from openlfr.api.live import AlertHub
from openlfr.api.prometheus import AppMetrics
from openlfr.errors import (
    ConfigError,
    ImageError,
    NotFound,
    OpenLFRError,
    PermissionDenied,
    SourceError,
    StateError,
)
from openlfr.settings import Settings

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
    supervisor: Any  # openlfr.api.supervisor.Supervisor
    templates: Jinja2Templates
    max_upload_bytes: int = 10 * 1024 * 1024
    background: list[asyncio.Task[None]] = field(default_factory=list)
    vision_factory: Callable[[], Any] | None = None
    login_throttle: Any = None  # openlfr.api.routes.auth.LoginThrottle
    #: The camera nodes' last reports, dead ones included (alive=False); read by
    #: GET /api/nodes, the console's nodes page and /metrics at scrape time.
    fleet_status: Callable[[], list[NodeStatus]] = _no_fleet
    _vision: Any = None
    closing: threading.Event = field(default_factory=threading.Event)
    _vision_lock: threading.Lock = field(default_factory=threading.Lock)
    _enrol_lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def vision(self) -> Any:
        """The vision engine, shared by enrolment and the cameras (built on first use)."""
        with self._vision_lock:
            if self._vision is None:
                if self.vision_factory is not None:
                    self._vision = self.vision_factory()
                else:
                    from openlfr.api.runner import shared_engine

                    self._vision = shared_engine(self.settings)
            return self._vision

    def default_embedder(self) -> tuple[str, float]:
        """(embedder key, recorded threshold) of the server's embedder."""
        from openlfr.vision.thresholds import default_threshold
        from openlfr.watchlist.enrol import embedder_key

        engine = self.vision()
        t = default_threshold(engine.embedder.model_sha256,
                              bool(getattr(engine.embedder, "flip", False)),
                              self.settings.resolved_calibration_file)
        return embedder_key(engine), float(t.value)

    def enrol(self, image: bytes) -> tuple[str, Any]:
        """(embedder key, template) from a photo with exactly one usable face; ImageError
        otherwise (not an image, too many pixels, no face, several faces). Stores nothing."""
        from openlfr.vision.image import load_image
        from openlfr.watchlist.enrol import enrol_image

        array = load_image(image)  # checks the header's pixel count before decoding
        engine = self.vision()
        with self._enrol_lock:  # one enrolment at a time: it is CPU-bound anyway
            key, vector = enrol_image(engine, array)
        return str(key), vector

    def close_streams(self) -> None:
        """End live streams now (called when the server begins to shut down)."""
        self.closing.set()
        self.hub.close()

    def wake_supervisor(self) -> None:
        """Run the camera supervisor now (after a start or stop), from any thread."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)


def _session_key(explicit: bytes | None) -> bytes:
    """Cookie signing key: explicit, or random per app. The cookie only wraps a revocable
    session token issued by governance, so a restart simply signs everyone out."""
    return explicit if explicit is not None else SessionSigner.new_key()


def create_app(settings: Settings, *, session_key: bytes | None = None,
               migrate: bool = True, run_cameras: bool = True,
               runner_factory: Callable[..., Any] | None = None,
               vision_factory: Callable[[], Any] | None = None,
               supervisor_interval_s: float = 2.0, retention_interval_s: float = 600.0,
               max_upload_bytes: int = 10 * 1024 * 1024) -> FastAPI:
    """Build the app for ``settings``.

    ``runner_factory`` replaces the camera worker and ``vision_factory`` the enrolment
    engine (tests); ``run_cameras=False`` runs no cameras at all (API-only tests).
    ``settings.dev`` allows a generated development key.
    """
    from openlfr.api.supervisor import Supervisor
    from openlfr.governance.runtime import open_store

    if migrate:  # before anything touches the schema
        from openlfr.store import upgrade

        upgrade(settings.resolved_database_url)
    store = open_store(settings)  # refuses to run without an encryption key unless dev
    engine, sessions = store.engine, store.sessions
    hub = AlertHub()
    supervisor = Supervisor(settings, store, hub, runner_factory=runner_factory,
                            enabled=run_cameras)
    # the fleet is read through ctx at scrape time (ctx.fleet_status is set after create_app)
    metrics = AppMetrics(supervisor.figures, fleet=lambda: ctx.fleet_status())
    templates_dir = resources.files("openlfr.api") / "templates"
    templates = Jinja2Templates(directory=str(templates_dir))
    ctx = AppContext(settings=settings, store=store, sessions=sessions,
                     signer=SessionSigner(_session_key(session_key)),
                     hub=hub, metrics=metrics, supervisor=supervisor, templates=templates,
                     max_upload_bytes=max_upload_bytes,
                     vision_factory=vision_factory)
    templates.env.filters["when"] = _when
    from openlfr.api.routes.auth import LoginThrottle

    ctx.login_throttle = LoginThrottle()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hub.bind(loop)
        ctx._loop, ctx._wake = loop, asyncio.Event()
        if run_cameras:
            ctx.background.append(asyncio.create_task(
                _every(supervisor_interval_s, supervisor.poll, "camera supervisor", ctx._wake)))
        ctx.background.append(asyncio.create_task(
            _every(retention_interval_s, supervisor.sweep_retention, "retention sweeper")))
        try:
            yield
        finally:
            for task in ctx.background:
                task.cancel()
            for task in ctx.background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            ctx.background.clear()
            await run_in_threadpool(supervisor.stop_all)
            engine.dispose()

    app = FastAPI(title="OpenLFR", version=_version(), lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None,
                  description="Live facial recognition for watchlist alerting, with safeguards. "
                  "Every route requires a role; see README 'Console and API'.")
    app.router.route_class = GuardedRoute
    app.state.ctx = ctx

    from openlfr.api.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    static = Mount("/static", app=StaticFiles(directory=str(resources.files("openlfr.api") /
                                                         "static")), name="static")
    app.router.routes.append(mark_public(static))
    _install_handlers(app)
    _install_request_metrics(app)
    _install_openapi(app)

    missing = undeclared_routes(app.router.routes)
    if missing:
        raise RuntimeError(f"routes without a declared permission: {missing}")
    return app


def _install_openapi(app: FastAPI) -> None:
    @app.get("/api/openapi.json", include_in_schema=False, response_model=dict[str, Any])
    def openapi(me: SignedIn) -> JSONResponse:
        """The OpenAPI description of this API (for signed-in users and tokens)."""
        return JSONResponse(app.openapi())


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
    from datetime import UTC, datetime

    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

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
                from openlfr.api.routes.console import page_context

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


class _Edge:
    """Pure ASGI middleware (streams pass through untouched): refuses oversized bodies by
    their Content-Length, counts requests per route template, adds security headers."""

    def __init__(self, app: Any, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.ctx.max_upload_bytes + 1024 * 1024  # room for the form fields
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers.get(b"content-length", b"0"))
        except ValueError:
            length = 0
        if length > limit:
            response = JSONResponse({"detail": f"request body too large: at most "
                                     f"{self.ctx.max_upload_bytes // (1024 * 1024)} MiB"},
                                    status_code=413)
            await response(scope, receive, send)
            self._count(scope, 413)
            return
        path: str = scope.get("path", "")
        status = 500

        async def send_wrapped(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"same-origin"),
                         (b"x-frame-options", b"DENY"),
                         (b"content-security-policy",
                          b"default-src 'self'; img-src 'self' data:; style-src 'self' "
                          b"'unsafe-inline'; frame-ancestors 'none'")]
                names = {k.lower() for k, _ in message.get("headers", [])}
                if path.startswith("/api/") and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []),
                                                  *[(k, v) for k, v in extra if k not in names]]}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapped)
        finally:
            self._count(scope, status)

    def _count(self, scope: Any, status: int) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or getattr(route, "path_format", None) or \
            "unmatched"
        self.ctx.metrics.requests.labels(scope.get("method", ""), template, str(status)).inc()


def _install_request_metrics(app: FastAPI) -> None:
    app.add_middleware(_Edge, ctx=app.state.ctx)
