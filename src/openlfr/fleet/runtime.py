"""What ``openlfr serve`` and ``openlfr node`` run besides the API.

:class:`FleetRuntime` (the server): an embedded ``nats-server`` when no URL is configured, the
:class:`~openlfr.fleet.centre.Centre` with its outbox worker and sinks, by default one local
:class:`~openlfr.fleet.node.Node` (``--no-local-node`` makes a pure centre), and a console
subscription that hands each recorded alert's id to the API's live channel.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from openlfr.alerts.outbox_worker import OutboxDelivery
from openlfr.alerts.sinks import sink_from_spec
from openlfr.errors import ConfigError
from openlfr.fleet.bundle import load_fleet_key
from openlfr.fleet.bus import RECORDED_SUBJECT, Bus, BusConfig
from openlfr.fleet.centre import Centre, CentreConfig
from openlfr.fleet.embedded import EmbeddedNats
from openlfr.fleet.health import NodeStatus
from openlfr.fleet.node import Node, NodeConfig
from openlfr.inference.config import InferenceConfig
from openlfr.settings import Settings

__all__ = ["FleetRuntime", "fleet_key_of", "bus_config_of", "node_config_of"]

log = logging.getLogger(__name__)


def fleet_key_of(settings: Settings) -> bytes:
    value = settings.fleet_key.get_secret_value() if settings.fleet_key is not None else None
    return load_fleet_key(value, settings.fleet_key_file,
                          dev_dir=settings.data_dir if settings.dev else None)


def bus_config_of(config: Any, url: str | None) -> BusConfig:
    """The bus settings of the server config file's ``nats`` section, with ``url`` (the
    command line's, or the embedded server's) taking precedence."""
    n = getattr(config, "nats", None)
    fields: dict[str, Any] = {}
    if n is not None:
        fields = {"url": n.url, "credentials_file": n.credentials, "tls_ca": n.tls_ca,
                  "tls_cert": n.tls_cert, "tls_key": n.tls_key,
                  "connect_timeout_s": n.connect_timeout_s}
    if url:
        fields["url"] = url
    try:
        return BusConfig(**fields)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ConfigError(f"NATS {'.'.join(str(p) for p in e['loc'])}: "
                          f"{e['msg'].removeprefix('Value error, ')}") from None


def node_config_of(config: Any, *, name: str | None = None, max_cameras: int | None = None,
                   preview: bool = False) -> NodeConfig:
    """The node's settings: the command line's name and camera count over the config
    file's ``node`` section; each camera's vision config and worker options from the file's
    camera settings and per-camera overrides."""
    section = getattr(config, "node", None)
    node_name = name or getattr(section, "name", None) or _host_name()
    cams = max_cameras or getattr(section, "max_cameras", None) or 4
    grace = float(getattr(section, "grace_s", 10.0))

    def camera_options(camera_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if config is None:
            return {}, {}
        cam = config.camera_settings(camera_id)
        return cam.vision_config().model_dump(mode="json"), cam.worker_options()

    return NodeConfig(name=node_name, max_cameras=cams, grace_s=grace,
                      camera_options=camera_options, preview=preview,
                      inference=getattr(section, "inference", None) or InferenceConfig())


def _host_name() -> str:
    """This host's name as a node name (one subject token: no dots)."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname())[:64]


class FleetRuntime:
    def __init__(self, settings: Settings, store: Any, *, config: Any = None,
                 nats_url: str | None = None, local_node: bool = True,
                 node_name: str | None = None) -> None:
        self.settings, self.store, self.config = settings, store, config
        self.nats_url = nats_url or settings.nats_url or getattr(
            getattr(config, "nats", None), "url", None)
        self.local_node = local_node
        self.node_name = node_name
        self.embedded: EmbeddedNats | None = None
        self.centre: Centre | None = None
        self.node: Node | None = None
        self._console: Bus | None = None
        self._on_recorded: list[Callable[[int], None]] = []

    def on_recorded(self, fn: Callable[[int], None]) -> None:
        """``fn(alert_id)`` on the bus thread for every alert the centre commits."""
        self._on_recorded.append(fn)

    def start(self) -> FleetRuntime:
        url = self.nats_url
        if not url:
            self.embedded = EmbeddedNats(Path(self.settings.data_dir) / "nats").start()
            url = self.embedded.url
            log.info("fleet: embedded nats-server on %s", url)
        bus = bus_config_of(self.config, url)
        key = fleet_key_of(self.settings)
        specs: dict[str, str] = dict(self.config.sinks) if self.config is not None else {}
        sinks = {name: sink_from_spec(spec) for name, spec in specs.items()}
        outbox = OutboxDelivery(self.store.sessions, sinks, keyring=self.store.keyring)
        node_section = getattr(self.config, "node", None)
        centre_cfg = CentreConfig(
            lease_s=float(getattr(node_section, "lease_s", 6.0)),
            default_sinks=tuple(getattr(self.config, "default_sinks", None) or ()))
        try:
            where = f"{socket.gethostname()}:{Path(self.settings.data_dir).resolve()}"
            holder = hashlib.sha256(where.encode()).hexdigest()[:32]
            self.centre = Centre(self.store, bus, key, centre_cfg, outbox=outbox,
                                 holder_id=holder).start()
            self._console = Bus(bus, "console").connect()
            self._console.subscribe(RECORDED_SUBJECT, self._recorded)
            if self.local_node:
                self.node = Node(bus, node_config_of(self.config, name=self.node_name,
                                                     preview=True), key).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _recorded(self, data: bytes) -> None:
        try:
            alert_id = int(json.loads(data)["id"])
        except (ValueError, KeyError, TypeError):
            return
        for fn in self._on_recorded:
            try:
                fn(alert_id)
            except Exception:
                log.exception("live channel: alert %s", alert_id)

    def stop(self) -> None:
        for part in (self.node, self.centre, self._console):
            if part is None:
                continue
            try:
                part.stop() if not isinstance(part, Bus) else part.close()
            except Exception:
                log.exception("fleet: stopping %s failed", type(part).__name__)
        self.node = self.centre = self._console = None
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None

    def nodes(self) -> list[NodeStatus]:
        return self.centre.nodes() if self.centre is not None else []

    def preview(self, deployment_id: int, camera_id: str) -> bytes | None:
        return self.node.preview(deployment_id, camera_id) if self.node is not None else None

    def is_local(self, deployment_id: int, camera_id: str) -> bool:
        """Whether this server's own node runs the camera (so its live view is here)."""
        return self.node is not None and (deployment_id, camera_id) in self.node.camera_pids()

    def wake(self) -> None:
        """Reassign now (after a deployment was started or stopped)."""
        if self.centre is not None:
            self.centre.wake()

