"""One governed camera: the only place a deployment's camera is put together.

:func:`build_camera` makes the :class:`~openlfr.pipeline.worker.CameraWorker` of one camera of
one deployment from a :class:`CameraSpec` (the approved snapshot as an index, the threshold,
the deployment's kind), a scan guard and a :class:`Recorder`. ``openlfr scan --deployment``,
the nodes' camera processes and the tests all come through here, so they apply the same
rules:

- recorded footage is scanned only in a deployment of kind ``evaluation`` (safeguard 1), and
  then frame by frame (complete and repeatable); a live camera, or a looping clip, keeps to the
  latest frame;
- alerts from recorded footage get ids derived from (deployment, camera, frame, track,
  subject), so replaying a clip raises the same ids and the store keeps each alert once;
- the frame loop never writes anywhere: it hands alerts and counters to the recorder, which
  queues them (to the bus, or to the store from its own thread).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from openlfr.alerts.model import AlertEvent
from openlfr.errors import StateError
from openlfr.governance import alerts as GA
from openlfr.governance import deployments as GD
from openlfr.governance.runtime import open_store
from openlfr.governance.watchlist import load_snapshot
from openlfr.pipeline.sources import (
    FileSourceConfig,
    FolderSourceConfig,
    Mode,
    open_source,
    source_config,
)
from openlfr.pipeline.worker import CameraWorker, Guard, WorkerConfig
from openlfr.settings import Settings
from openlfr.store.models import DeploymentKind
from openlfr.watchlist.enrol import embedder_key
from openlfr.watchlist.index import WatchlistIndex

__all__ = ["CameraSpec", "Recorder", "build_camera", "is_recorded", "StoreRecorder",
           "Governed", "open_governed", "snapshot_index"]

log = logging.getLogger(__name__)


class Recorder(Protocol):
    """Where a governed camera's alerts and counters go. Both calls return at once."""

    def alert(self, alert: AlertEvent) -> None: ...

    def counters(self, delta: dict[str, int]) -> None: ...


@dataclass
class CameraSpec:
    deployment_id: int
    camera_id: str
    source: str
    threshold: float
    evaluation: bool  # the deployment is of kind evaluation
    index: WatchlistIndex
    worker_options: dict[str, Any] = field(default_factory=dict)
    #: recorded footage resumed part-way (the centre's stored progress): the first frame to
    #: analyse and the first track id; a live camera starts from now whatever they say
    start_frame: int = 0
    start_track_id: int = 1


def is_recorded(source: str) -> bool:
    """A file or folder played once (a looping clip behaves like a live camera)."""
    cfg = source_config(source)
    return isinstance(cfg, FileSourceConfig | FolderSourceConfig) and not (
        isinstance(cfg, FileSourceConfig) and cfg.loop)


def build_camera(spec: CameraSpec, engine: Any, *, guard: Guard, recorder: Recorder,
                 preview: bool = False, sinks: list[Any] | None = None,
                 on_frame: Callable[[Any], None] | None = None,
                 source: Any = None) -> CameraWorker:
    """The governed worker of ``spec`` (not started). StateError for recorded footage in a
    deployment that is not of kind evaluation."""
    recorded = is_recorded(spec.source)
    if recorded and not spec.evaluation:
        raise StateError(f"deployment {spec.deployment_id} is not of kind evaluation: "
                         "recorded footage is scanned only in a deployment of kind "
                         "'evaluation' (safeguard 1: scanning only inside an authorised "
                         "deployment)")
    mode = Mode.every_frame if recorded else Mode.live
    options = {"preview_every": 2, **spec.worker_options, "preview": preview}
    resumed = recorded and spec.start_frame > 0
    if resumed:
        options["first_track_id"] = spec.start_track_id
    cfg = WorkerConfig(camera_id=spec.camera_id, threshold=spec.threshold, mode=mode,
                       evaluation=spec.evaluation, deployment_id=spec.deployment_id,
                       stable_alert_ids=recorded, **options)
    if source is None:
        source = (open_source(spec.source, mode, start_frame=spec.start_frame) if resumed
                  else source_config(spec.source))
        if resumed:
            log.info("camera %s of deployment %s: resuming the recorded clip at frame %d",
                     spec.camera_id, spec.deployment_id, spec.start_frame)
    return CameraWorker(source, engine,
                        spec.index, cfg, guard=guard, sinks=sinks, on_alert=recorder.alert,
                        on_counters=recorder.counters, on_frame=on_frame)


class StoreRecorder:
    """Records into the governed store from its own thread (``openlfr scan --deployment``,
    one process without a bus). ``close()`` writes what is queued."""

    def __init__(self, store: Any, deployment_id: int, camera_id: str) -> None:
        self.store, self.deployment_id, self.camera_id = store, deployment_id, camera_id
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self.recorded = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._run, name=f"recorder:{camera_id}",
                                        daemon=True)
        self._thread.start()

    def alert(self, alert: AlertEvent) -> None:
        self._queue.put(("alert", alert))

    def counters(self, delta: dict[str, int]) -> None:
        self._queue.put(("counters", dict(delta)))

    def _run(self) -> None:

        while (item := self._queue.get()) is not None:
            kind, value = item
            try:
                with self.store.session() as s:
                    if kind == "alert":
                        GA.record_alert_event(s, value)
                        self.recorded += 1
                    else:
                        GA.add_counters(s, self.deployment_id, self.camera_id,
                                        value["frames"], value["dropped"], value["faces"],
                                        value["tracks"], datetime.now(UTC))
            except Exception as exc:  # the alert is still printed and sent to the sinks
                if kind == "alert":
                    self.refused += 1
                log.error("%s not recorded in the store: %s", kind, exc)

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)


def snapshot_index(session: Any, dep: Any, engine: Any, keyring: Any = None
                   ) -> WatchlistIndex:
    """The deployment's approved snapshot as a search index, for ``engine``; StateError if
    the deployment was authorised for another embedder."""

    key = embedder_key(engine)
    if dep.embedder_key != key:
        raise StateError(f"deployment {dep.id} uses embedder {dep.embedder_key}, "
                         f"this engine is {key}")
    snap = load_snapshot(session, dep.id, keyring, key)
    return WatchlistIndex([str(int(x)) for x in snap.subject_ids], snap.labels,
                          snap.embeddings,
                          categories=[getattr(c, "value", c) for c in snap.categories],
                          image_refs=[f"snapshot:{dep.id}/subject:{int(x)}"
                                      for x in snap.subject_ids])


@dataclass
class Governed:
    """What ``openlfr scan --deployment`` needs: the snapshot index, the scan guard, and a
    recorder writing to the store from its own thread. ``close()`` when done."""

    store: Any
    index: WatchlistIndex
    guard: Guard
    recorder: StoreRecorder
    threshold: float
    info: dict[str, Any]

    @property
    def on_alert(self) -> Callable[[AlertEvent], None]:
        return self.recorder.alert

    @property
    def on_counters(self) -> Callable[[dict[str, int]], None]:
        return self.recorder.counters

    def close(self) -> None:
        self.recorder.close()
        self.store.close()


def open_governed(deployment_id: int, engine: Any, camera_id: str, *, recorded: bool,
                  settings: Any = None, dev: bool = False) -> Governed:
    """The deployment's approved snapshot as an index, its scan guard (reloaded every 2 s, so
    a stop takes effect) and a store recorder. Refuses recorded footage unless the deployment
    is of kind ``evaluation`` (as :func:`build_camera` does), and an engine whose embedder
    differs from the deployment's."""

    store = open_store(settings or Settings(), dev=True if dev else None, need_key=True)
    try:
        with store.session() as s:
            dep = GD.get_deployment(s, deployment_id)
            if recorded and dep.kind != DeploymentKind.EVALUATION:
                raise StateError(f"deployment {deployment_id} is of kind {dep.kind.value}: "
                                 "recorded footage is scanned only in a deployment of kind "
                                 "'evaluation' (safeguard 1: scanning only inside an "
                                 "authorised deployment)")
            index = snapshot_index(s, dep, engine, store.keyring)
            threshold = float(dep.threshold)
            info = {"id": dep.id, "name": dep.name, "kind": dep.kind.value,
                    "status": dep.status.value}
    except BaseException:
        store.close()
        raise
    guard = GD.LiveScanGuard(store.read_sessions, deployment_id, refresh_s=2.0)
    return Governed(store, index, guard, StoreRecorder(store, deployment_id, camera_id),
                    threshold, info)
