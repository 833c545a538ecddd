"""Prometheus metrics for ``/metrics``, in a registry owned by one app (never the global one).

Camera figures are read from the running workers at scrape time by :class:`CameraCollector`,
so nothing is double-counted and a stopped camera simply disappears. Only aggregate counts
and latencies are exported: no identities, no images.

The camera fleet (``AppContext.fleet_status``, the nodes' last :class:`NodeStatus` reports) is
read at scrape time too: ``openlfr_node_*{node}`` per node, and per camera of a live node the
same ``openlfr_camera_*`` families with a ``node`` label besides ``deployment`` and
``camera`` (the server's own in-process cameras have no ``node`` label). A node that stopped
reporting keeps its ``openlfr_node_*`` series (``openlfr_node_up`` 0) but its cameras' series
go: their last figures are stale, and the cameras are moving to another node.

The sink outbox (``alert_deliveries``) is read from the store at scrape time by
:class:`DeliveryCollector`: ``openlfr_sink_deliveries{sink,status}`` counts each sink's
deliveries that are ``pending``, ``delivered`` and ``failed`` (given up), so a delivery that
is given up shows, never silently. A failing read costs these samples only, never the scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from openlfr.fleet.health import NodeStatus

__all__ = ["CameraFigures", "CameraCollector", "DeliveryCollector", "AppMetrics",
           "CONTENT_TYPE", "contact_age_s", "DELIVERY_STATUSES"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: The ``status`` label values of ``openlfr_sink_deliveries`` (an outbox row's status).
DELIVERY_STATUSES = ("pending", "delivered", "failed")


@dataclass(frozen=True)
class CameraFigures:
    """What one camera worker has done so far (cumulative counts, latest stage latencies)."""

    deployment: str
    camera: str
    frames: int = 0
    frames_dropped: int = 0
    faces: int = 0
    tracks: int = 0
    alerts: int = 0
    stage_seconds: Mapping[str, float] = field(default_factory=dict)  # mean per stage
    running: bool = True


def contact_age_s(status: NodeStatus, now: float | None = None) -> float:
    """Seconds since ``status`` was reported (naive times are UTC; never negative)."""
    at = status.reported_at
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    now_s = time.time() if now is None else now
    return max(0.0, now_s - at.timestamp())


#: The fleet's per-node families: name, help, and the value from a node's report at ``now``.
_NODE_FAMILIES: tuple[tuple[str, str, Callable[[NodeStatus, float], float]], ...] = (
    ("openlfr_node_up", "1 while the camera node reports within its liveness window",
     lambda n, now: 1.0 if n.alive else 0.0),
    ("openlfr_node_last_contact_seconds", "Seconds since the camera node last reported",
     contact_age_s),
    ("openlfr_node_cameras", "Cameras on the node as it last reported them (any state)",
     lambda n, now: float(len(n.cameras))),
    ("openlfr_node_max_cameras", "Cameras the node accepts at most",
     lambda n, now: float(n.max_cameras)),
)

#: Per camera of a live node, besides the server's own families: kind, name, help, and the
#: value from the camera's report (None: no figure yet).
_CameraKind = type[GaugeMetricFamily] | type[CounterMetricFamily]
_CAMERA_FAMILIES: tuple[tuple[_CameraKind, str, str, Callable[[Any], float | None]], ...] = (
    (GaugeMetricFamily, "openlfr_camera_frames_per_second",
     "Frames analysed per second (recent)", lambda c: c.frames_per_s),
    (GaugeMetricFamily, "openlfr_camera_decoded_frames_per_second",
     "Frames decoded per second; below the source's frame rate the decoder falls behind",
     lambda c: c.decoded_per_s),
    (GaugeMetricFamily, "openlfr_camera_lag_seconds",
     "Seconds from a frame's decoding to the end of its analysis (recent median)",
     lambda c: c.lag_s),
    (CounterMetricFamily, "openlfr_camera_restarts",
     "Times the node restarted the camera process", lambda c: c.restarts),
    (CounterMetricFamily, "openlfr_camera_reconnects",
     "Times the camera process reconnected to its source", lambda c: c.reconnects),
    (GaugeMetricFamily, "openlfr_camera_alerts_pending",
     "Alerts raised but not yet acknowledged by the stream", lambda c: c.alerts_pending),
)
#: Per live node with a shared inference service: kind, name, help, value from its report.
_INFERENCE_FAMILIES: tuple[tuple[_CameraKind, str, str, Callable[[Any], float]], ...] = (
    (GaugeMetricFamily, "openlfr_node_inference_up",
     "1 while the node's shared inference service runs", lambda i: 1.0 if i.running else 0.0),
    (CounterMetricFamily, "openlfr_node_inference_restarts",
     "Times the node restarted its inference service", lambda i: float(i.restarts)),
)


class CameraCollector(Collector):
    """Turns the current :class:`CameraFigures` of every worker, and the fleet's node reports,
    into metric families (one family per name, whichever source a sample comes from)."""

    def __init__(self, figures: Callable[[], Iterable[CameraFigures]],
                 fleet: Callable[[], Iterable[NodeStatus]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._figures = figures
        self._fleet = fleet
        self._clock = clock

    def describe(self) -> Iterable[Metric]:
        return []  # collected lazily; no fixed description at registration

    def collect(self) -> Iterable[Metric]:
        labels = ["deployment", "camera"]
        fams = {
            "frames": CounterMetricFamily("openlfr_camera_frames", "Frames analysed",
                                          labels=labels),
            "frames_dropped": CounterMetricFamily(
                "openlfr_camera_frames_dropped", "Frames dropped to keep up with real time",
                labels=labels),
            "faces": CounterMetricFamily("openlfr_camera_faces", "Faces detected", labels=labels),
            "tracks": CounterMetricFamily("openlfr_camera_tracks",
                                          "Face tracks (about one per passer-by)", labels=labels),
            "alerts": CounterMetricFamily("openlfr_camera_alerts", "Alerts raised", labels=labels),
        }
        running = GaugeMetricFamily("openlfr_camera_running", "1 while the camera worker runs",
                                    labels=labels)
        stage = GaugeMetricFamily("openlfr_stage_latency_seconds",
                                  "Mean time a pipeline stage takes per analysed frame",
                                  labels=[*labels, "stage"])
        for f in self._figures():
            key = [f.deployment, f.camera]
            for name, fam in fams.items():
                fam.add_metric(key, float(getattr(f, name)))
            running.add_metric(key, 1.0 if f.running else 0.0)
            for st, sec in sorted(f.stage_seconds.items()):
                stage.add_metric([*key, st], float(sec))
        fleet = self._fleet_families(fams, running)
        yield from fams.values()
        yield running
        yield stage
        yield from fleet

    def _fleet_families(self, fams: dict[str, CounterMetricFamily],
                        running: GaugeMetricFamily) -> list[Metric]:
        """The fleet's families; camera samples of live nodes also go into ``fams`` and
        ``running`` (labelled with their node). A failing fleet reader costs its samples
        only, never the scrape."""
        node_fams = [(GaugeMetricFamily(name, doc, labels=["node"]), value)
                     for name, doc, value in _NODE_FAMILIES]
        cam = ["node", "deployment", "camera"]
        cam_fams = [(kind(name, doc, labels=cam), value)
                    for kind, name, doc, value in _CAMERA_FAMILIES]
        inf_fams = [(kind(name, doc, labels=["node"]), value)
                    for kind, name, doc, value in _INFERENCE_FAMILIES]
        out: list[Metric] = ([fam for fam, _ in node_fams] + [fam for fam, _ in inf_fams]
                             + [fam for fam, _ in cam_fams])
        if self._fleet is None:
            return out
        try:
            nodes = sorted(self._fleet(), key=lambda n: n.name)
        except Exception:
            log.exception("fleet status unavailable for /metrics")
            return out
        now = self._clock()
        seen_nodes: set[str] = set()
        seen: set[tuple[str, str, str]] = set()
        for n in nodes:
            if n.name in seen_nodes:  # one series per node: the first report wins
                continue
            seen_nodes.add(n.name)
            for fam, node_value in node_fams:
                fam.add_metric([n.name], node_value(n, now))
            if not n.alive:
                continue
            if n.inference is not None:
                for fam, inf_value in inf_fams:
                    fam.add_metric([n.name], inf_value(n.inference))
            for c in n.cameras:
                key = (n.name, str(c.deployment_id), c.camera_id)
                if key in seen:
                    continue
                seen.add(key)
                values = list(key)
                named = dict(zip(cam, values, strict=True))
                for fam, value in ((fams["frames"], c.frames),
                                   (fams["frames_dropped"], c.dropped),
                                   (fams["faces"], c.faces),
                                   (fams["alerts"], c.alerts_raised)):
                    fam.add_sample(fam.name + "_total", named, float(value))
                running.add_sample(running.name, named, 1.0 if c.state == "running" else 0.0)
                for fam, cam_value in cam_fams:
                    figure = cam_value(c)
                    if figure is not None:  # no lag figure yet
                        fam.add_metric(values, float(figure))
        return out


class DeliveryCollector(Collector):
    """``openlfr_sink_deliveries{sink,status}`` from ``deliveries()`` (sink -> status ->
    count, as :func:`openlfr.governance.outbox.delivery_stats` gives it), read at scrape
    time."""

    def __init__(self, deliveries: Callable[[], Mapping[str, Mapping[str, int]]]) -> None:
        self._deliveries = deliveries

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        fam = GaugeMetricFamily("openlfr_sink_deliveries", "Alert deliveries to each sink "
                                "by status: pending (not yet made), delivered, failed (given "
                                "up)", labels=["sink", "status"])
        try:
            stats = dict(self._deliveries())
        except Exception:
            log.exception("sink deliveries unavailable for /metrics")
            stats = {}
        for sink in sorted(stats):
            figures = stats[sink]
            for status in DELIVERY_STATUSES:
                fam.add_metric([sink, status], float(figures.get(status, 0)))
        yield fam


class AppMetrics:
    """The app's own registry: HTTP request counts plus camera, fleet and sink delivery
    figures."""

    def __init__(self, figures: Callable[[], Iterable[CameraFigures]],
                 fleet: Callable[[], Iterable[NodeStatus]] | None = None,
                 deliveries: Callable[[], dict[str, dict[str, int]]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("openlfr_http_requests", "HTTP requests by route template",
                                ["method", "route", "status"], registry=self.registry)
        self.live_listeners = Gauge("openlfr_live_alert_listeners",
                                    "Console listeners on the live alert channel",
                                    registry=self.registry)
        self.registry.register(CameraCollector(figures, fleet))
        if deliveries is not None:
            self.registry.register(DeliveryCollector(deliveries))

    def render(self) -> bytes:
        return generate_latest(self.registry)
