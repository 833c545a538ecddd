"""Prometheus metrics for ``/metrics``, in a registry owned by one app (never the global one).

Camera figures are read from the running workers at scrape time by :class:`CameraCollector`,
so nothing is double-counted and a stopped camera simply disappears. Only aggregate counts
and latencies are exported: no identities, no images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["CameraFigures", "CameraCollector", "AppMetrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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


class CameraCollector(Collector):
    """Turns the current :class:`CameraFigures` of every worker into metric families."""

    def __init__(self, figures: Callable[[], Iterable[CameraFigures]]) -> None:
        self._figures = figures

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
        yield from fams.values()
        yield running
        yield stage


class AppMetrics:
    """The app's own registry: HTTP request counts plus camera figures."""

    def __init__(self, figures: Callable[[], Iterable[CameraFigures]]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter("openlfr_http_requests", "HTTP requests by route template",
                                ["method", "route", "status"], registry=self.registry)
        self.live_listeners = Gauge("openlfr_live_alert_listeners",
                                    "Console listeners on the live alert channel",
                                    registry=self.registry)
        self.registry.register(CameraCollector(figures))

    def render(self) -> bytes:
        return generate_latest(self.registry)
