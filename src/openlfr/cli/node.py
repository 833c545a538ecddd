"""``openlfr node``: a camera node of the fleet."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated

import typer

from openlfr.cli.options import config_option
from openlfr.fleet.config import load_server_config
from openlfr.fleet.node import Node
from openlfr.fleet.runtime import bus_config_of, fleet_key_of, node_config_of
from openlfr.settings import Settings

__all__ = ["app"]

app = typer.Typer()

NodeConfigFile = config_option("Server config file (its camera settings, nats and node "
                               "sections).")


@app.command("node")
def node(
    nats: Annotated[str, typer.Option("--nats", help="The fleet's NATS server or cluster "
                                      "(nats://host:4222).")],
    name: Annotated[str, typer.Option("--name", help="This node's name, unique in the "
                                      "fleet (the centre leases cameras to it by name).")],
    max_cameras: Annotated[int, typer.Option("--max-cameras", min=1, max=256,
                                             help="Cameras this node may run at once.")] = 4,
    config: NodeConfigFile = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (the fleet key in "
                                                  "--dev).")] = None,
    dev: Annotated[bool, typer.Option("--dev", help="Development: read or create the fleet "
                                      "key in the data folder (shared with a local "
                                      "`openlfr serve --dev`).")] = False,
) -> None:
    """Run the cameras the centre leases to this node, each in its own process, until
    interrupted. Needs the fleet key (OPENLFR_FLEET_KEY or OPENLFR_FLEET_KEY_FILE)."""
    logging.getLogger("openlfr").setLevel(logging.INFO)
    overrides: dict[str, object] = {"dev": True} if dev else {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    settings = Settings(**overrides)
    path = config or settings.server_config
    cfg = load_server_config(path) if path else None
    runner = Node(bus_config_of(cfg, nats), node_config_of(cfg, name=name,
                                                          max_cameras=max_cameras),
                  fleet_key_of(settings))
    typer.echo(f"node {name}: joining the fleet at {runner.bus_config.redacted_url()}",
               err=True)

    def _term(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    try:
        runner.run_forever()
    except KeyboardInterrupt:
        typer.echo(f"node {name}: stopping", err=True)

