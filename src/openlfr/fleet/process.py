"""A camera in its own process: the node's side (:class:`CameraProcess`) and the child's
(:func:`camera_main`).

The child builds its vision engine (its own models, or with ``inference.mode: shared`` the
node's inference service behind the same detector and embedder), opens the governed camera
(:func:`openlfr.fleet.camera.build_camera`) with a :class:`LeaseGuard` and a
:class:`BusRecorder`, and talks to its node over a pipe: the node sends the lease's end and
the deployment's state every second; the child sends its status every second (and its blurred
preview, for the live view of a local node). The child stops analysing when the lease runs
out or ``grace_s`` after the node's last word, whichever is first, and ends when the pipe
closes (its node died). Alerts and counters go straight from the child to the stream, each
kept until the stream acknowledged it.

The watchlist index reaches the child through the pipe (pickled in memory, never on disk);
embeddings of faces that do not match never leave the child.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from openlfr.alerts.model import AlertEvent
from openlfr.errors import StateError
from openlfr.fleet.bus import Bus, BusConfig, alert_subject, counters_subject
from openlfr.fleet.events import CountersEvent, alert_to_wire
from openlfr.fleet.leases import DeploymentState
from openlfr.governance.deployments import scan_refusal

__all__ = ["LeaseGuard", "BusRecorder", "CameraProcess", "camera_main", "camera_context"]

#: the module the cameras' fork server imports before its first fork (openlfr.fleet.preload)
PRELOAD = "openlfr.fleet.preload"


def camera_context() -> Any:
    """The ``multiprocessing`` context camera processes start from: a fork server that has
    imported :mod:`openlfr.fleet.preload`, so every camera is a fork of one process holding
    the imported code, and the pages of those imports are shared between the cameras
    instead of filled again in each (memory and start-up; module docstring of the preload).
    The fork server is one small single-threaded process, started on first use and ended
    with the process that started it; the node itself still imports none of it. Each camera
    gets the node's current working folder and ``sys.path``, but the environment variables
    the fork server started with (a node does not change its own once running)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([PRELOAD])
    return ctx

log = logging.getLogger(__name__)


class LeaseGuard:
    """The scan guard of a camera on a node: allows a frame only while the lease holds, the
    node spoke within ``grace_s``, and the deployment's last known state allows it."""

    def __init__(self, grace_s: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self._monotonic = monotonic
        self._until = float("-inf")
        self._confirmed = float("-inf")
        self._state: DeploymentState | None = None
        self._lock = threading.Lock()

    def confirm(self, until_monotonic: float, state: DeploymentState) -> None:
        with self._lock:
            self._until, self._state = until_monotonic, state
            self._confirmed = self._monotonic()

    def revoke(self) -> None:
        with self._lock:
            self._until, self._state = float("-inf"), None

    def refusal(self, camera_id: str, now: datetime) -> str | None:
        with self._lock:
            t, state = self._monotonic(), self._state
            until, confirmed = self._until, self._confirmed
        if state is None:
            return "no lease"
        if t >= until:
            return "lease ran out (no renewal from the centre)"
        if t - confirmed >= self.grace_s:
            return f"no word from the node for {self.grace_s:g} s"
        return scan_refusal(state, camera_id, now)

    def __call__(self, camera_id: str, now: datetime) -> bool:
        return self.refusal(camera_id, now) is None


class BusRecorder:
    """Publishes alerts and cumulative counters to the stream from its own thread, in order,
    each retried until the stream acknowledges it (a restarted server, a failover of the
    cluster): nothing the camera raised is dropped while the process lives."""

    def __init__(self, bus: Bus, deployment_id: int, camera_id: str, *,
                 run_id: str | None = None, retry_s: float = 0.5) -> None:
        self.bus, self.deployment_id, self.camera_id = bus, deployment_id, camera_id
        self.run_id = run_id or uuid.uuid4().hex
        self.tracker: str | None = None  # the run's tracker settings, sent with the counters
        self.retry_s = retry_s
        self._queue: queue.Queue[tuple[str, bytes, str] | None] = queue.Queue()
        self._totals = dict(frames=0, dropped=0, faces=0, tracks=0)
        self._seq = 0
        self._resume: tuple[int, int] | None = None  # (next frame, next track id)
        self._lock = threading.Lock()
        self.raised = 0
        self.published = 0
        self.failures = 0
        self._in_flight = 0
        self._thread = threading.Thread(target=self._run, name=f"publish:{camera_id}",
                                        daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._queue.qsize() + self._in_flight

    def alert(self, alert: AlertEvent) -> None:
        self.raised += 1
        self._queue.put((alert_subject(self.deployment_id, self.camera_id),
                         alert_to_wire(alert), alert.alert_id))

    def counters(self, delta: dict[str, int], *, finished: bool = False) -> None:
        with self._lock:
            for k in self._totals:
                self._totals[k] += int(delta.get(k, 0))
            if delta.get("frame_index") is not None:  # recorded footage: how far it got
                self._resume = (int(delta["frame_index"]), int(delta.get("next_track_id", 1)))
            self._seq += 1
            frame_index, next_track = self._resume or (None, None)
            ev = CountersEvent(run_id=self.run_id, seq=self._seq,
                               deployment_id=self.deployment_id, camera_id=self.camera_id,
                               frame_index=frame_index, next_track_id=next_track,
                               finished=finished, tracker=self.tracker,
                               at=datetime.now(UTC), **self._totals)
        self._queue.put((counters_subject(self.deployment_id, self.camera_id), ev.to_wire(),
                         f"{self.run_id}.{ev.seq}"))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            self._in_flight = 1
            subject, payload, msg_id = item
            while True:
                try:
                    self.bus.publish_durable(subject, payload, msg_id)
                    break
                except Exception as exc:  # no ack: the same message again (same id)
                    self.failures += 1
                    log.warning("camera %s: publish not acknowledged, retrying: %s",
                                self.camera_id, type(exc).__name__)
                    time.sleep(self.retry_s)
            self.published += 1
            self._in_flight = 0

    def close(self, timeout: float = 30.0) -> bool:
        """Publish what is queued (up to ``timeout``); True when nothing is left."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()


# --- the child ------------------------------------------------------------------------------


def camera_main(conn: Any, payload: dict[str, Any]) -> None:
    """Entry point of a camera process (forked from :func:`camera_context`'s server)."""
    # Imported here, in the child (already loaded by the fork server's preload): the node that
    # starts cameras loads neither them, nor FAISS, nor the models' runtimes.
    from openlfr.fleet.camera import CameraSpec, build_camera, is_recorded
    from openlfr.inference.client import engine_for
    from openlfr.pipeline.tracker import settings_fingerprint
    from openlfr.watchlist.enrol import embedder_key
    from openlfr.watchlist.index import WatchlistIndex

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the node decides when a camera ends
    logging.basicConfig(level=payload.get("log_level", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dep, cam = int(payload["deployment_id"]), str(payload["camera_id"])
    guard = LeaseGuard(float(payload.get("grace_s", 10.0)))
    bus: Bus | None = None
    try:
        guard.confirm(float(payload["until_monotonic"]),
                      DeploymentState.model_validate(payload["state"]))
        # its own models, or the node's inference service (shared memory, batched)
        engine = engine_for(payload.get("vision") or {}, payload.get("inference"))
        if embedder_key(engine) != payload["embedder_key"]:
            raise StateError(f"deployment {dep} uses embedder {payload['embedder_key']}, "
                             f"this camera's engine is {embedder_key(engine)}")
        idx = payload["index"]
        index = WatchlistIndex(idx["ids"], idx["labels"], idx["embeddings"],
                               categories=idx["categories"], image_refs=idx["image_refs"])
        spec = CameraSpec(dep, cam, payload["source"], float(payload["threshold"]),
                          bool(payload["evaluation"]), index,
                          dict(payload.get("worker_options") or {}),
                          start_frame=int(payload.get("start_frame") or 0),
                          start_track_id=int(payload.get("start_track_id") or 1))
        bus = Bus(BusConfig.model_validate(payload["bus"]), f"camera:{dep}/{cam}").connect()
        recorder = BusRecorder(bus, dep, cam)
        worker = build_camera(spec, engine, guard=guard, recorder=recorder,
                              preview=bool(payload.get("preview")))
        recorder.tracker = settings_fingerprint(worker.config.tracker)
        worker.start()
    except Exception as exc:
        log.error("camera %s of deployment %s did not start: %s", cam, dep, exc)
        _send(conn, {"error": f"{type(exc).__name__}: {exc}", "final": True})
        if bus is not None:
            bus.close()
        return
    recorded = is_recorded(spec.source)
    started = datetime.now(UTC)
    asked_to_stop = False
    last_status = 0.0
    last_preview: bytes | None = None
    lost: str | None = None
    while worker.running:
        try:
            if conn.poll(0.25):
                msg = conn.recv()
                if msg.get("stop"):
                    asked_to_stop = True
                    break
                if "until_monotonic" in msg:
                    guard.confirm(float(msg["until_monotonic"]),
                                  DeploymentState.model_validate(msg["state"]))
        except (EOFError, OSError):  # the node is gone: stop at once
            asked_to_stop = True
            guard.revoke()
            break
        if payload.get("preview"):  # the blurred live view, up to 4 frames a second
            jpeg = worker.latest_preview_jpeg()
            if jpeg is not None and jpeg is not last_preview:
                last_preview = jpeg
                _send(conn, {"preview": jpeg})
        now = time.monotonic()
        if now - last_status >= 1.0:
            last_status = now
            _send(conn, {"status": _status(worker, recorder, started)})
        if recorded and worker.counts["refused"]:
            # a recorded clip is scanned whole or not at all: stop rather than skip frames;
            # the next lease scans it again (its alerts keep their ids, stored once)
            lost = "lease lost part-way through the recorded clip"
            break
    worker.stop()
    finished = recorded and not asked_to_stop and worker.error is None and lost is None
    if finished:
        recorder.counters({}, finished=True)
    flushed = recorder.close(timeout=30.0)
    if not flushed:
        log.error("camera %s: %d messages not acknowledged by the stream at exit", cam,
                  recorder.pending)
    _send(conn, {"status": _status(worker, recorder, started), "finished": finished,
                 "error": str(worker.error) if worker.error else lost, "final": True})
    bus.close()


def _status(worker: Any, recorder: BusRecorder, started: datetime) -> dict[str, Any]:
    st = worker.stats()
    total = (st.get("latency") or {}).get("total") or {}
    return {"frames": st["frames"], "dropped": st["dropped"], "faces": st["faces"],
            "frames_per_s": st["frames_per_s"], "reconnects": st["reconnects"],
            "decoded_per_s": st["decoded_per_s"], "source_fps": st["source_fps"] or None,
            "lag_s": (total["p50_ms"] / 1000.0) if total else None,
            "alerts_raised": recorder.raised, "alerts_pending": recorder.pending,
            "refused": st["refused"], "started_at": started.isoformat(),
            "error": str(worker.error) if worker.error else None}


def _send(conn: Any, msg: dict[str, Any]) -> None:
    try:
        conn.send(msg)
    except (OSError, EOFError, BrokenPipeError):
        pass


# --- the node's side ------------------------------------------------------------------------


class CameraProcess:
    """One camera's child process, seen from its node."""

    def __init__(self, payload: dict[str, Any], *,
                 on_exit: Callable[[], None] | None = None) -> None:
        """``on_exit`` runs once the process is gone (the node frees its shared memory)."""
        self.payload = payload
        self._on_exit = on_exit
        self.deployment_id = int(payload["deployment_id"])
        self.camera_id = str(payload["camera_id"])
        ctx = camera_context()
        self._conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=camera_main, args=(child, payload),
                                name=f"camera-{self.deployment_id}-{self.camera_id}")
        self.proc.start()
        child.close()
        self.status: dict[str, Any] = {}
        self.preview: bytes | None = None
        self.finished = False
        self.final = False
        self.error: str | None = None
        self.last_heard = time.monotonic()
        # the child's messages are read as they come, so it never blocks on a full pipe
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"pipe:{self.camera_id}")
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.is_alive()

    def confirm(self, until_monotonic: float, state: DeploymentState) -> None:
        _send(self._conn, {"until_monotonic": until_monotonic,
                           "state": state.model_dump(mode="json")})

    def _read(self) -> None:
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                return
            self.last_heard = time.monotonic()
            if "status" in msg:
                self.status = msg["status"]
            if msg.get("preview") is not None:
                self.preview = msg["preview"]
            if msg.get("final"):
                self.error = msg.get("error")
                self.finished = bool(msg.get("finished"))
                self.final = True

    def poll(self) -> None:
        """Wait a moment for the child's last words once it has exited."""
        if not self.proc.is_alive():
            self._reader.join(1.0)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the camera to end (it publishes what it holds), then make sure it did."""
        _send(self._conn, {"stop": True})
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(3)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(3)
        self._reader.join(2.0)
        self._conn.close()
        self.exited()

    def exited(self) -> None:
        """Run ``on_exit`` once, if the process has ended."""
        if self._on_exit is not None and not self.proc.is_alive():
            on_exit, self._on_exit = self._on_exit, None
            on_exit()

    def kill(self) -> None:
        if self.proc.is_alive():
            os.kill(self.proc.pid, 9)  # type: ignore[arg-type]
            self.proc.join(3)
