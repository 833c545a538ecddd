"""A camera node: runs the cameras the centre leased to it, one process each.

``openlfr node --nats URL --name NAME`` (or the local node inside ``openlfr serve``). Every
second the node reports its :class:`~openlfr.fleet.health.NodeStatus`, reads the leases, and
reconciles: it starts a camera process for each lease naming it (after fetching and opening
the deployment's bundle), passes each running camera its lease's end, and stops cameras whose
lease was withdrawn or ran out. A camera process that crashes or stops reporting is restarted
with backoff (1, 2, 4 ... 30 s), and the node says so (log and status). A recorded clip that
reached its end is not restarted. Bundles stay in memory only while a lease of their
deployment is held.

With ``inference.mode: shared`` the node first starts its inference service
(:mod:`openlfr.inference`: one copy of the models, the cameras' calls batched), gives each
camera process a shared-memory segment and the service's address, restarts the service when
it dies (the cameras skip the frames it missed, then go on) and stops it after the cameras.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from openlfr.errors import ConfigError
from openlfr.fleet.bundle import Bundle, bundle_name, unseal
from openlfr.fleet.bus import Bus, BusConfig
from openlfr.fleet.health import CameraStatus, InferenceStatus, NodeStatus
from openlfr.fleet.leases import CameraKey, Lease
from openlfr.fleet.process import CameraProcess
from openlfr.inference.config import InferenceConfig, InferenceMode
from openlfr.inference.supervisor import InferenceService

__all__ = ["Node", "NodeConfig"]

log = logging.getLogger(__name__)


@dataclass
class NodeConfig:
    name: str
    max_cameras: int = 4
    grace_s: float = 10.0
    #: a camera's (vision config, worker options) from the server config's camera settings
    #: and per-camera overrides (detector, quality, tracker, min_hits, preview ...)
    camera_options: Callable[[str], tuple[dict[str, Any], dict[str, Any]]] = (
        lambda _cam: ({}, {}))
    preview: bool = False
    hang_s: float = 20.0
    tick_s: float = 1.0
    log_level: str = "INFO"
    inference: InferenceConfig = field(default_factory=InferenceConfig)


@dataclass(eq=False)
class _Slot:
    key: CameraKey
    proc: CameraProcess | None = None
    restarts: int = 0
    next_start: float = 0.0
    backoff: float = 1.0
    state: str = "starting"
    error: str | None = None
    started_at: datetime | None = None
    until_monotonic: float = float("-inf")
    epoch: int = 0


class Node:
    def __init__(self, bus: BusConfig, config: NodeConfig, fleet_key: bytes, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.bus_config, self.config, self._fleet_key = bus, config, fleet_key
        self.name = config.name
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise ConfigError(f"node name {self.name!r}: use 1-64 letters, digits, _ or - "
                              "(it is a subject token on the bus)")
        self._monotonic = monotonic
        self.bus: Bus | None = None
        self._slots: dict[CameraKey, _Slot] = {}
        self._bundles: dict[int, Bundle] = {}
        self._leases: dict[CameraKey, tuple[Lease, float]] = {}  # lease, local end
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping: list[threading.Thread] = []
        self.inference: InferenceService | None = None
        self.started_at = datetime.now(UTC)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, *, wait: bool = False) -> Node:
        """Join the fleet; ``wait`` keeps trying until the bus and the centre's buckets are
        there (``openlfr node``), else gives up after 30 s."""
        self.bus = Bus(self.bus_config, f"node:{self.name}").connect(
            timeout=None if wait else 30.0)
        if self.config.inference.mode == InferenceMode.shared:  # before any camera
            try:
                self.inference = InferenceService(self.config.inference,
                                                  log_level=self.config.log_level).start()
            except BaseException:
                self.bus.close()
                raise
        self._thread = threading.Thread(target=self._run, name=f"node:{self.name}",
                                        daemon=True)
        self._thread.start()
        log.info("node %s: connected to %s (up to %d cameras)", self.name,
                 self.bus_config.redacted_url(), self.config.max_cameras)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        for key in list(self._slots):
            self._end(key, "node stopping")
        for t in self._stopping:
            t.join(45)
        if self.inference is not None:  # last: the cameras used it until they stopped
            self.inference.stop()
            self.inference = None
        self._bundles.clear()
        if self.bus is not None:
            try:
                self.bus.kv_delete(f"node.{self.name}")
            except Exception:
                pass
            self.bus.close()

    def run_forever(self) -> None:
        self.start(wait=True)
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("node %s: reconcile failed", self.name)
            self._stop.wait(self.config.tick_s)

    # --- one pass ------------------------------------------------------------------------

    def tick(self) -> None:
        assert self.bus is not None
        now_m = self._monotonic()
        if self.inference is not None:
            self.inference.check()
        try:
            raw = self.bus.kv_items("lease.")
            fresh: dict[CameraKey, tuple[Lease, float]] = {}
            for value in raw.values():
                try:
                    lease = Lease.model_validate_json(value)
                except ValidationError:
                    log.warning("node %s: ignoring a malformed lease", self.name)
                    continue
                if lease.node == self.name:
                    seen = self._leases.get(lease.key)
                    if seen is not None and seen[0].issued_at == lease.issued_at:
                        fresh[lease.key] = seen  # not renewed: its end stays where it was
                    else:  # a renewal: it runs from now on this node's clock
                        remaining = (lease.until - lease.issued_at).total_seconds()
                        fresh[lease.key] = (lease, now_m + remaining)
            self._leases = fresh
        except Exception as exc:  # bus unreachable: keep the last leases until they run out
            log.warning("node %s: cannot read leases: %s", self.name, type(exc).__name__)
        held = {k: v for k, v in self._leases.items() if v[1] > now_m}
        with self._lock:
            for key in [k for k in self._slots if k not in held]:
                self._end(key, "lease withdrawn or ran out")
            for key, (lease, end) in held.items():
                self._keep(key, lease, end, now_m)
        for dep in [d for d in self._bundles if d not in {k[0] for k in held}]:
            del self._bundles[dep]  # the deployment's snapshot leaves this node's memory
        try:
            self.bus.kv_put(f"node.{self.name}", self.status().model_dump_json().encode())
        except Exception:
            pass

    def _keep(self, key: CameraKey, lease: Lease, end: float, now_m: float) -> None:
        slot = self._slots.setdefault(key, _Slot(key))
        slot.until_monotonic = end
        proc = slot.proc
        if proc is not None:
            proc.poll()
            if proc.alive and now_m - proc.last_heard > self.config.hang_s:
                log.error("node %s: camera %s of deployment %s stopped reporting: restarting",
                          self.name, key[1], key[0])
                proc.kill()
            if proc.alive:
                proc.confirm(end, lease.state)
                slot.state = "running" if proc.status else "starting"
                slot.error = None
                return
            proc.poll()
            proc.exited()
            if proc.finished:
                slot.state = "finished"
                return
            slot.error = proc.error or f"camera process exited (code {proc.proc.exitcode})"
            slot.proc = None
            slot.restarts += 1
            slot.next_start = now_m + slot.backoff
            log.error("node %s: camera %s of deployment %s failed (%s): restart %d in %.0f s",
                      self.name, key[1], key[0], slot.error, slot.restarts, slot.backoff)
            slot.backoff = min(30.0, slot.backoff * 2)
            slot.state = "restarting"
            return
        if slot.state == "finished" or now_m < slot.next_start:
            return
        bundle = self._bundle(lease)
        if bundle is None:
            slot.state, slot.error = "starting", "waiting for the deployment's bundle"
            return
        source = bundle.cameras.get(key[1])
        if source is None:
            slot.state, slot.error = "failed", "camera not in the deployment's bundle"
            return
        payload, release = self._payload(lease, bundle, source, end), None
        if self.inference is not None:
            segment = self.inference.new_segment()
            payload["inference"] = self.inference.client_spec(segment)
            release = functools.partial(self.inference.release, segment)
        slot.proc = CameraProcess(payload, on_exit=release)
        slot.started_at = datetime.now(UTC)
        slot.state, slot.epoch = "starting", lease.epoch
        log.info("node %s: camera %s of deployment %s starting (pid %s)", self.name, key[1],
                 key[0], slot.proc.pid)

    def _bundle(self, lease: Lease) -> Bundle | None:
        have = self._bundles.get(lease.deployment_id)
        if have is not None and have.digest == lease.bundle_digest:
            return have
        assert self.bus is not None
        try:
            blob = self.bus.object_get(bundle_name(lease.deployment_id))
        except Exception as exc:
            log.warning("node %s: bundle fetch failed: %s", self.name, type(exc).__name__)
            return None
        if blob is None:
            return None
        bundle = unseal(blob, self._fleet_key, lease.deployment_id)
        if bundle.digest != lease.bundle_digest:
            return None  # the centre is publishing a newer one
        self._bundles[lease.deployment_id] = bundle
        return bundle

    def _payload(self, lease: Lease, bundle: Bundle, source: str, end: float
                 ) -> dict[str, Any]:
        vision, worker = self.config.camera_options(lease.camera_id)
        worker = dict(worker)
        return {
            "deployment_id": lease.deployment_id, "camera_id": lease.camera_id,
            "source": source, "threshold": bundle.threshold,
            "embedder_key": bundle.embedder_key,
            "evaluation": bundle.kind == "evaluation",
            "index": {"ids": list(bundle.subject_ids), "labels": list(bundle.labels),
                      "embeddings": bundle.embeddings, "categories": list(bundle.categories),
                      "image_refs": [f"snapshot:{bundle.deployment_id}/subject:{s}"
                                     for s in bundle.subject_ids]},
            "bus": self.bus_config.model_dump(mode="json"),
            "grace_s": self.config.grace_s, "vision": vision, "worker_options": worker,
            "preview": self.config.preview and worker.pop("preview", True), "until_monotonic": end,
            "state": lease.state.model_dump(mode="json"), "log_level": self.config.log_level,
            "start_frame": lease.start_frame, "start_track_id": lease.start_track_id}

    def _end(self, key: CameraKey, why: str) -> None:
        """Stop a camera without holding up the node: it stops analysing at once (its lease
        is gone) and is given time to hand what it raised to the stream."""
        slot = self._slots.pop(key, None)
        if slot is None or slot.proc is None:
            return
        log.info("node %s: camera %s of deployment %s stopping: %s", self.name, key[1], key[0],
                 why)
        t = threading.Thread(target=slot.proc.stop, kwargs={"timeout": 40.0},
                             name=f"stop:{key[1]}", daemon=True)
        t.start()
        self._stopping = [x for x in self._stopping if x.is_alive()] + [t]

    # --- views ---------------------------------------------------------------------------

    def status(self) -> NodeStatus:
        cams = []
        service = self.inference  # None once the node has stopped it
        with self._lock:
            slots = list(self._slots.values())
        for s in slots:
            st = s.proc.status if s.proc is not None else {}
            cams.append(CameraStatus(
                deployment_id=s.key[0], camera_id=s.key[1], state=s.state,
                pid=s.proc.pid if s.proc is not None else None,
                frames=int(st.get("frames", 0)), dropped=int(st.get("dropped", 0)),
                faces=int(st.get("faces", 0)), alerts_raised=int(st.get("alerts_raised", 0)),
                alerts_pending=int(st.get("alerts_pending", 0)),
                frames_per_s=float(st.get("frames_per_s", 0.0)), lag_s=st.get("lag_s"),
                decoded_per_s=float(st.get("decoded_per_s", 0.0)),
                source_fps=st.get("source_fps"),
                restarts=s.restarts, reconnects=int(st.get("reconnects", 0)),
                error=s.error or st.get("error"), started_at=s.started_at))
        return NodeStatus(name=self.name, host=socket.gethostname(), pid=os.getpid(),
                          max_cameras=self.config.max_cameras, started_at=self.started_at,
                          reported_at=datetime.now(UTC), cameras=cams,
                          inference=None if service is None else InferenceStatus(
                              **service.status()))

    def preview(self, deployment_id: int, camera_id: str) -> bytes | None:
        slot = self._slots.get((deployment_id, camera_id))
        return slot.proc.preview if slot is not None and slot.proc is not None else None

    def camera_pids(self) -> dict[CameraKey, int]:
        return {k: s.proc.pid for k, s in self._slots.items()
                if s.proc is not None and s.proc.pid is not None}
