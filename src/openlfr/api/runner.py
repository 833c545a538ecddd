"""The camera runner the server supervises: the pipeline's :class:`CameraWorker`, wired to the
store (alerts recorded through governance, counters added every few seconds), the scan guard
(the deployment's state and window, reloaded from the store, failing closed), and the live
channel (each stored alert is pushed to the console).

Only the engine is shared between cameras; each worker owns its tracker, matcher and
per-track evidence.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from openlfr.alerts.model import Alert
from openlfr.api.prometheus import CameraFigures
from openlfr.governance.runtime import Store
from openlfr.settings import Settings

__all__ = ["PipelineRunner", "shared_engine"]

log = logging.getLogger(__name__)

_engine_lock = threading.Lock()
_engines: dict[int, Any] = {}


def shared_engine(settings: Settings) -> Any:
    """One vision engine per settings object for all cameras of a server (the models are
    read-only; each worker keeps its own per-track state)."""
    with _engine_lock:
        engine = _engines.get(id(settings))
        if engine is None:
            from openlfr.vision.engine import VisionEngine

            engine = _engines[id(settings)] = VisionEngine.from_config()
        return engine


class PipelineRunner:
    """Adapts a :class:`CameraWorker` to the supervisor's ``Runner`` protocol."""

    def __init__(self, worker: Any, store: Store, deployment_id: int, camera_id: str,
                 publish: Callable[[int], None]) -> None:
        self.worker = worker
        self.store = store
        self.deployment_id = deployment_id
        self.camera_id = camera_id
        self._publish = publish
        self.alerts_stored = 0
        self.alerts_refused = 0

    @classmethod
    def build(cls, settings: Settings, store: Store, deployment_id: int, camera_id: str,
              publish: Callable[[int], None]) -> PipelineRunner:
        from openlfr.governance.deployments import LiveScanGuard, get_deployment
        from openlfr.pipeline.scan import snapshot_index
        from openlfr.pipeline.sources import (
            FileSourceConfig,
            FolderSourceConfig,
            Mode,
            source_config,
        )
        from openlfr.pipeline.worker import CameraWorker, WorkerConfig
        from openlfr.store.models import DeploymentKind

        engine = shared_engine(settings)
        with store.sessions() as s:
            dep = get_deployment(s, deployment_id)
            cams = {c.camera_id: c.source_url for c in dep.cameras}
            if camera_id not in cams:
                raise KeyError(f"camera {camera_id!r} is not part of deployment {dep.id}")
            index = snapshot_index(s, dep, engine)
            threshold, evaluation = dep.threshold, dep.kind == DeploymentKind.EVALUATION
            source = cams[camera_id]
        # An evaluation deployment on recorded footage analyses every frame (no drops, so the
        # test run is complete and repeatable); a live camera keeps to the latest frame, and so
        # does a looping clip (the demo camera), which plays at its own frame rate.
        cfg = source_config(source)
        recorded = isinstance(cfg, FileSourceConfig | FolderSourceConfig) and not (
            isinstance(cfg, FileSourceConfig) and cfg.loop)
        mode = Mode.evaluation if evaluation and recorded else Mode.live
        runner = cls(None, store, deployment_id, camera_id, publish)
        worker = CameraWorker(
            cfg, engine, index,
            WorkerConfig(camera_id=camera_id, threshold=threshold, preview=True, mode=mode,
                         preview_every=2, evaluation=evaluation, deployment_id=deployment_id),
            guard=LiveScanGuard(store.sessions, deployment_id),
            on_alert=runner._store_alert, on_counters=runner._store_counters)
        runner.worker = worker
        return runner

    # --- callbacks (analysis thread) ----------------------------------------------------

    def _store_alert(self, alert: Alert) -> None:
        """Record the possible match (encrypted probe, audit entry) and push it live."""
        from openlfr.governance.alerts import record_alert

        try:
            with self.store.session() as s:
                row = record_alert(s, self.deployment_id, self.camera_id, str(alert.track_id),
                                   int(alert.subject_id), float(alert.score),
                                   alert.probe_jpeg, alert.time)
                alert_id = row.id
        except Exception as exc:  # e.g. the deployment was stopped a moment ago
            self.alerts_refused += 1
            log.warning("camera %s: alert not recorded: %s", self.camera_id, exc)
            return
        self.alerts_stored += 1
        self._publish(alert_id)

    def _store_counters(self, delta: dict[str, int]) -> None:
        from openlfr.governance.alerts import add_counters

        with self.store.session() as s:
            add_counters(s, self.deployment_id, self.camera_id, frames=delta["frames"],
                         dropped=delta["dropped"], faces=delta["faces"],
                         tracks=delta["tracks"])

    # --- Runner protocol ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return bool(self.worker.running)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.stop(timeout)

    def latest_jpeg(self) -> bytes | None:
        return self.worker.latest_preview_jpeg()

    def figures(self) -> CameraFigures:
        st = self.worker.stats()
        stages = {name: v["total_s"] / max(1, st["frames"])
                  for name, v in (st.get("latency") or {}).items()}
        return CameraFigures(str(self.deployment_id), self.camera_id, frames=st["frames"],
                             frames_dropped=st["dropped"], faces=st["faces"],
                             tracks=st["tracks"], alerts=self.alerts_stored,
                             stage_seconds=stages, running=self.running)
