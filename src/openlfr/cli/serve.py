"""``openlfr serve``: the API, live channels and operator console."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import func, select

from openlfr.api.app import create_app
from openlfr.api.demo import DEMO_PASSWORDS, seed_demo
from openlfr.api.priority import REQUEST_NICE
from openlfr.cli.options import config_option
from openlfr.demoscene import build_scene
from openlfr.fleet.config import load_server_config, with_cli_sinks
from openlfr.governance.runtime import open_store
from openlfr.settings import Settings
from openlfr.store import upgrade
from openlfr.store.models import User
from openlfr.vision.engine import VisionEngine

__all__ = ["app", "proxy_options", "KEEP_ALIVE_S"]

#: Seconds an idle HTTP keep-alive connection stays open.
KEEP_ALIVE_S = 90

app = typer.Typer()

ServerConfigFile = config_option("Server config file (YAML: camera settings and per-camera "
                                 "overrides, sinks, NATS, node). Default: "
                                 "OPENLFR_SERVER_CONFIG.")


def proxy_options(forwarded_allow_ips: str | None) -> dict[str, object]:
    """uvicorn's proxy settings: headers believed only from the given proxy addresses."""
    if not forwarded_allow_ips or not forwarded_allow_ips.strip():
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips.strip()}


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Keep 127.0.0.1 unless a "
                                      "TLS-terminating proxy sits in front.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    dev: Annotated[bool, typer.Option("--dev", help="Development mode: create a local "
                                      "encryption key in the data folder if none is set.")
                   ] = False,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (default: "
                                                  "OPENLFR_DATA_DIR or ./var).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    demo: Annotated[bool, typer.Option("--demo", help="Development demo: on an empty store, "
                                       "create demo users (passwords printed once), enrol a "
                                       "demo subject and start an evaluation deployment on a "
                                       "clip built from packaged photographs. Implies --dev.")
                    ] = False,
    nats: Annotated[str | None, typer.Option("--nats", help="NATS server or cluster of the "
                                             "fleet (nats://host:4222). Default: "
                                             "OPENLFR_NATS_URL, the config file's nats.url, "
                                             "else an embedded nats-server on loopback.")
                    ] = None,
    no_local_node: Annotated[bool, typer.Option("--no-local-node", help="Run a pure centre: "
                                                "no cameras on this machine, only those of "
                                                "`openlfr node` processes.")] = False,
    config: ServerConfigFile = None,
    sink: Annotated[list[str] | None, typer.Option("--sink", help="Also deliver every alert "
                                                   "here, at least once, from the outbox: "
                                                   "mqtt://HOST:PORT/TOPIC, webhook:URL, "
                                                   "jsonl:PATH (repeatable).")] = None,
    forwarded_allow_ips: Annotated[str | None, typer.Option(
        "--forwarded-allow-ips", help="Behind a TLS-terminating proxy: the proxy's address "
        "(comma-separated addresses or networks; '*' trusts any, only if nothing else can "
        "reach the port). Its X-Forwarded-For/-Proto are then believed, so the console cookie "
        "is Secure and sign-in throttling sees the real client. Default: no proxy headers "
        "are believed.")] = None,
    request_nice: Annotated[int, typer.Option(
        "--request-nice", min=0, max=19, help="Run the threads that answer requests this "
        "much below the cameras' CPU priority, so readers never starve the analysis on a "
        "machine that also runs cameras (Linux; 0: same priority).")] = REQUEST_NICE,
) -> None:
    """Run the server: migrate the store, run the centre of the camera fleet (and a local
    camera node), serve the console at http://HOST:PORT/ and the API under /api."""
    overrides: dict[str, object] = {}
    if dev or demo:
        overrides["dev"] = True
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = Settings(**overrides)
    engine = VisionEngine.from_config() if demo else None  # the demo seed enrols with it
    if engine is not None:
        _seed_demo(settings, engine)
    path = config or settings.server_config
    fleet_config = with_cli_sinks(load_server_config(path) if path else None, sink or [])
    web = create_app(settings, fleet_config=fleet_config, nats_url=nats,
                     local_node=not no_local_node, request_nice=request_nice,
                     vision_factory=None if engine is None else lambda: engine)
    typer.echo(f"OpenLFR console: http://{host}:{port}/  (API under /api, metrics /metrics)",
               err=True)
    server = uvicorn.Server(uvicorn.Config(
        web, host=host, port=port, log_level=log_level, **proxy_options(forwarded_allow_ips),
        server_header=False, timeout_graceful_shutdown=5,
        # longer than a proxy's idle keep-alive (nginx: 75 s), so the server never closes a
        # connection a client or proxy is about to reuse (uvicorn's 5 s races under load)
        timeout_keep_alive=KEEP_ALIVE_S))
    uvicorn_exit = server.handle_exit

    def handle_exit(sig: int, frame: object) -> None:
        web.state.ctx.close_streams()  # live streams never end on their own: end them now
        uvicorn_exit(sig, frame)  # type: ignore[arg-type]

    server.handle_exit = handle_exit  # type: ignore[method-assign]
    server.run()


def _seed_demo(settings: Settings, engine: VisionEngine) -> None:
    upgrade(settings.resolved_database_url)
    store = open_store(settings)
    try:
        with store.session() as s:
            empty = (s.scalar(select(func.count()).select_from(User)) or 0) == 0
    finally:
        store.close()
    if not empty:
        typer.echo("demo: the store already has users; their first-run passwords are in "
                   f"{settings.data_dir / DEMO_PASSWORDS} (or reset one with `openlfr user "
                   "reset-password NAME --as admin`, or delete the data folder to start "
                   "again)", err=True)
        return
    typer.echo("demo: building the scene and enrolling the demo subject ...", err=True)
    scene = build_scene(settings.data_dir / "demo")
    seed = seed_demo(settings, video=scene.video, reference=scene.reference,
                     subject_name=scene.subject_name, engine=engine)
    typer.echo(f"demo: deployment {seed.deployment_id} is active. Sign in as (also kept in "
               f"{settings.data_dir / 'demo-passwords.txt'}, mode 0600):", err=True)
    for name, pw in seed.passwords.items():
        typer.echo(f"    {name:<10} {pw}", err=True)

