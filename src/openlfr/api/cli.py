"""``openlfr serve``: the API, live channels and operator console."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
) -> None:
    """Run the server: migrate the store, run the cameras of active deployments, serve the
    console at http://HOST:PORT/ and the API under /api."""
    import uvicorn

    from openlfr.api.app import create_app
    from openlfr.settings import Settings

    overrides: dict[str, object] = {}
    if dev:
        overrides["dev"] = True
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = Settings(**overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    typer.echo(f"OpenLFR console: http://{host}:{port}/  (API under /api, metrics /metrics)",
               err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False,
                server_header=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
