"""Runs a camera worker for every camera of every active deployment, and nothing else.

:meth:`Supervisor.poll` (called every few seconds by the app) ends deployments whose window
has passed (governance's ``end_expired``), then starts the workers of deployments that became
active and stops those of deployments that are no longer active. A worker that ends on its own
(a recorded clip reached its end) is not restarted. A worker that fails to start is logged and
retried at the next poll. :meth:`sweep_retention` runs the retention sweeper.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select

from openlfr.api.live import AlertHub
from openlfr.api.prometheus import CameraFigures
from openlfr.governance.runtime import Store
from openlfr.settings import Settings
from openlfr.store.models import Deployment, DeploymentStatus

__all__ = ["Supervisor", "Runner", "RunnerFactory", "CameraKey"]

log = logging.getLogger(__name__)

CameraKey = tuple[int, str]  # (deployment id, camera id)


class Runner(Protocol):
    """What the supervisor needs from a camera worker (the pipeline's worker, or a fake)."""

    @property
    def running(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def latest_jpeg(self) -> bytes | None:
        """The latest preview frame, every non-alert face blurred; None before the first."""

    def figures(self) -> CameraFigures: ...


#: Builds the runner for one camera of an active deployment. ``publish`` takes the id of an
#: alert the runner has stored, so the supervisor can push it to the console.
RunnerFactory = Callable[[Settings, Store, int, str, Callable[[int], None]], Runner]


class Supervisor:
    def __init__(self, settings: Settings, store: Store, hub: AlertHub, *,
                 runner_factory: RunnerFactory | None = None, enabled: bool = True,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.store = store
        self.sessions = store.sessions
        self.hub = hub
        self.enabled = enabled
        self._factory = runner_factory
        self._clock = clock
        self._slots: dict[CameraKey, Runner] = {}
        self._lock = threading.RLock()
        self.errors: dict[CameraKey, tuple[datetime, str]] = {}  # last failure to start
        self.retry_after = timedelta(seconds=30)

    # --- queries (any thread) ---------------------------------------------------------

    def runner(self, deployment_id: int, camera_id: str) -> Runner | None:
        with self._lock:
            return self._slots.get((deployment_id, camera_id))

    def keys(self) -> list[CameraKey]:
        with self._lock:
            return sorted(self._slots)

    def figures(self) -> Iterable[CameraFigures]:
        with self._lock:
            runners = list(self._slots.values())
        out = []
        for r in runners:
            try:
                out.append(r.figures())
            except Exception:  # a metrics scrape must not fail because one camera did
                log.exception("camera figures failed")
        return out

    # --- control (supervisor thread) ---------------------------------------------------

    def poll(self) -> None:
        """One reconciliation pass: end expired windows, then start/stop workers."""
        from openlfr.governance.deployments import end_expired

        now = self._clock()
        with self.sessions() as session:
            end_expired(session, now=now)
            session.commit()
            active = session.scalars(
                select(Deployment).where(Deployment.status == DeploymentStatus.ACTIVE)).all()
            wanted = {(d.id, c.camera_id) for d in active for c in d.cameras}
        with self._lock:
            gone = [k for k in self._slots if k not in wanted]
            new = [k for k in sorted(wanted) if k not in self._slots]
        for key in gone:
            self._stop(key)
        for key in [k for k in self.errors if k not in wanted]:
            self.errors.pop(key, None)
        if not self.enabled:
            return
        now = self._clock()
        for key in new:
            failed = self.errors.get(key)
            if failed is None or now - failed[0] >= self.retry_after:
                self._start(key)

    def _start(self, key: CameraKey) -> None:
        factory = self._factory or default_runner_factory
        deployment_id, camera_id = key
        try:
            runner = factory(self.settings, self.store, deployment_id, camera_id,
                             lambda alert_id, k=key: self._publish(k, alert_id))
            runner.start()
        except Exception as exc:
            self.errors[key] = (self._clock(), str(exc))
            log.error("camera %s of deployment %s did not start (retry in %s): %s", camera_id,
                      deployment_id, self.retry_after, exc)
            return
        self.errors.pop(key, None)
        with self._lock:
            self._slots[key] = runner
        log.info("camera %s of deployment %s started", camera_id, deployment_id)

    def _stop(self, key: CameraKey) -> None:
        with self._lock:
            runner = self._slots.pop(key, None)
        if runner is None:
            return
        try:
            runner.stop()
        except Exception:
            log.exception("camera %s of deployment %s did not stop cleanly", key[1], key[0])
        log.info("camera %s of deployment %s stopped", key[1], key[0])

    def stop_all(self) -> None:
        for key in self.keys():
            self._stop(key)

    def _publish(self, key: CameraKey, alert_id: int) -> None:
        """Called on a worker thread after an alert was stored: push it to the console."""
        from openlfr.api.routes.alerts import alert_view

        try:
            with self.sessions() as session:
                event = alert_view(session, alert_id)
        except Exception:
            log.exception("alert %s could not be loaded for the live channel", alert_id)
            return
        if event is not None:
            self.hub.publish({"type": "alert", **event.model_dump(mode="json")})

    def sweep_retention(self) -> None:
        """Purge what the retention policy says is due (alerts, snapshots, expired subjects)."""
        from openlfr.governance.retention import run_retention

        with self.sessions() as session:
            result = run_retention(session, self.store.policy, self._clock())
            session.commit()
        if result.alerts or result.snapshots or result.subjects:
            log.info("retention: %d alerts purged, %d snapshots and %d subjects removed",
                     len(result.alerts), len(result.snapshots), len(result.subjects))


def default_runner_factory(settings: Settings, store: Store, deployment_id: int,
                           camera_id: str, publish: Callable[[int], None]) -> Runner:
    """The pipeline's camera worker, wired to the store and the live channel."""
    from openlfr.api.runner import PipelineRunner

    return PipelineRunner.build(settings, store, deployment_id, camera_id, publish)

