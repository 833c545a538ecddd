"""The centre: the one place that holds the store, as seen by the fleet.

Three loops, each on its own thread:

- **assign** (every second): ends deployments whose window has passed, publishes each active
  deployment's sealed bundle (and deletes the bundles of deployments that ended), and renews,
  moves or withdraws the camera leases (:func:`openlfr.fleet.leases.plan`);
- **record**: a durable JetStream consumer of what cameras raised. Each alert is recorded
  idempotently (its id is unique in the store; a redelivery records nothing twice) together
  with its outbox rows, and acknowledged only after the commit. Counters are applied the same
  way, idempotent per camera run. A message that can never be recorded (malformed, outside
  its deployment's window, a subject not in the snapshot) is acknowledged, counted and
  logged, never retried for ever; a store that is busy or down gets the message redelivered;
- **deliver**: the outbox worker feeds the sinks (MQTT, webhook) at least once.

After each commit the centre announces the alert's database id on ``openlfr.recorded.alert``,
so every console process (subscribed through its own connection) shows it live.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from openlfr.errors import OpenLFRError
from openlfr.fleet.bundle import Bundle, bundle_name, seal
from openlfr.fleet.bus import EVENTS, RECORDED_SUBJECT, STREAM, Bus, BusConfig
from openlfr.fleet.events import alert_from_wire, counters_from_wire
from openlfr.fleet.health import NodeStatus
from openlfr.fleet.leases import CameraKey, DeploymentState, Lease, lease_key, plan
from openlfr.governance import alerts as GA
from openlfr.governance.deployments import camera_sources, end_expired
from openlfr.governance.retention import run_retention
from openlfr.governance.urgent import lapse_overdue
from openlfr.governance.watchlist import load_snapshot
from openlfr.store.models import CentreLeader, Deployment, DeploymentStatus

__all__ = ["Centre", "CentreConfig", "claim_leadership"]

log = logging.getLogger(__name__)

CONSUMER = "openlfr-centre"


def claim_leadership(session: Any, holder: str, now: datetime, term_s: float) -> bool:
    """Hold (or renew) the one leader's term, if it is free, lapsed or already ours. Several
    servers on one database (on one bus or not) then never assign cameras twice: only the
    leader leases cameras, publishes bundles, ends expired windows and sweeps retention; every
    centre records what reaches its bus."""


    until = now + timedelta(seconds=term_s)
    res = session.execute(update(CentreLeader).where(
        CentreLeader.id == 1, or_(CentreLeader.holder == holder, CentreLeader.until <= now))
        .values(holder=holder, until=until))
    if res.rowcount:
        return True
    if session.get(CentreLeader, 1) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(CentreLeader(id=1, holder=holder, until=until))
    except IntegrityError:  # another centre took it first
        return False
    return True


class CentreConfig:
    def __init__(self, *, lease_s: float = 6.0, node_timeout_s: float = 3.0,
                 tick_s: float = 1.0, default_sinks: tuple[str, ...] = (),
                 retention_every_s: float = 600.0, forget_node_s: float = 3600.0) -> None:
        self.lease_s, self.node_timeout_s, self.tick_s = lease_s, node_timeout_s, tick_s
        self.default_sinks = tuple(default_sinks)
        self.retention_every_s = retention_every_s
        self.forget_node_s = forget_node_s  # a dead node stays listed (marked) this long


class Centre:
    def __init__(self, store: Any, bus: BusConfig, fleet_key: bytes,
                 config: CentreConfig | None = None, *, outbox: Any = None,
                 holder_id: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.bus_config, self._fleet_key = store, bus, fleet_key
        self.config = config or CentreConfig()
        self.outbox = outbox
        self._clock = clock
        self.bus: Bus | None = None
        self._published: dict[int, str] = {}  # deployment id -> digest on the bus
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._nodes: list[NodeStatus] = []
        self.figures = dict(alerts_recorded=0, alerts_duplicate=0, alerts_refused=0,
                            counters_applied=0, counters_refused=0, redelivered=0,
                            store_errors=0,
                            assign_passes=0)
        self._last_retention = 0.0
        # this centre's id in the leader's row: stable across restarts of one server (its
        # host and data folder), so a restarted centre resumes its term at once
        self.id = holder_id or uuid.uuid4().hex
        self.leader = False

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Centre:
        self.bus = Bus(self.bus_config, "centre").connect(setup=True)
        self._psub = self.bus.call(self.bus.js.pull_subscribe(  # type: ignore[union-attr]
            f"{EVENTS}.>", durable=CONSUMER, stream=STREAM))
        for name, fn in (("assign", self._assign_loop), ("record", self._record_loop)):
            t = threading.Thread(target=fn, name=f"centre:{name}", daemon=True)
            t.start()
            self._threads.append(t)
        if self.outbox is not None:
            self.outbox.start()
        log.info("centre: on %s", self.bus_config.redacted_url())
        return self

    def wake(self) -> None:
        """Run an assignment pass now (a deployment was started or stopped)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(15)
        if self.outbox is not None:
            self.outbox.stop(10)
        if self.leader:  # hand the term over at once rather than let it lapse
            try:
                with self.store.session() as s:
                    s.execute(delete(CentreLeader).where(CentreLeader.holder == self.id))
            except Exception:
                log.warning("centre: could not hand over the leader's term")
        if self.bus is not None:
            self.bus.close()

    # --- views ---------------------------------------------------------------------------

    def nodes(self) -> list[NodeStatus]:
        return list(self._nodes)

    # --- assign --------------------------------------------------------------------------

    def _assign_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.assign()
                self.figures["assign_passes"] += 1
            except Exception:
                log.exception("centre: assignment pass failed")
            if self.leader and (time.monotonic() - self._last_retention
                                >= self.config.retention_every_s):
                self._last_retention = time.monotonic()
                try:
                    self.sweep_retention()
                except Exception:
                    log.exception("centre: retention sweep failed")
            self._wake.wait(self.config.tick_s)
            self._wake.clear()

    def assign(self) -> None:

        assert self.bus is not None
        now = self._clock()
        with self.store.session() as s:
            leader = claim_leadership(s, self.id, now, max(3 * self.config.lease_s, 10.0))
        if leader != self.leader:
            self.leader = leader
            log.info("centre: %s", "assigning cameras (leader)" if leader else
                     "another centre assigns the cameras: recording only")
        self._read_nodes(now)
        if not leader:
            return
        with self.store.session() as s:
            end_expired(s, now=now)
            lapse_overdue(s, now)  # urgent uses without an external decision in time
        wanted: dict[CameraKey, tuple[DeploymentState, str]] = {}
        resume: dict[CameraKey, tuple[int, int]] = {}
        on_bus = set(self.bus.object_names())
        for dep_id in [d for d in self._published if bundle_name(d) not in on_bus]:
            del self._published[dep_id]  # the bus lost it (a restart): publish it again
        with self.store.session() as s:
            active = s.scalars(select(Deployment).where(
                Deployment.status == DeploymentStatus.ACTIVE)).all()
            for dep in active:
                digest = self._publish_bundle(s, dep)
                if digest is None:
                    continue
                state = DeploymentState(status=dep.status, window_start=dep.window_start,
                                        window_end=dep.window_end,
                                        camera_ids=list(dep.camera_ids), kind=dep.kind.value)
                for cam in dep.camera_ids:
                    progress = GA.get_resume_point(s, dep.id, cam)
                    if progress is not None and progress.finished:
                        continue  # a recorded clip that was scanned to its end
                    wanted[(dep.id, cam)] = (state, digest)
                    if progress is not None:  # a recorded clip resumes where it stopped
                        resume[(dep.id, cam)] = (progress.frame_index, progress.next_track_id)
            active_ids = {d.id for d in active}
        for dep_id in [d for d in self._published if d not in active_ids]:
            self.bus.object_delete(bundle_name(dep_id))  # the snapshot leaves the bus
            del self._published[dep_id]
            log.info("centre: deployment %s ended: its bundle is deleted from the bus", dep_id)
        for name in on_bus:  # also those left by an earlier centre
            if name.startswith("deployment.") and int(name.split(".")[1]) not in active_ids:
                self.bus.object_delete(name)
        leases: dict[CameraKey, Lease] = {}
        for key, value in self.bus.kv_items("lease.").items():
            try:
                lease = Lease.model_validate_json(value)
            except ValidationError:
                self.bus.kv_delete(key)
                continue
            leases[lease.key] = lease
        now = self._clock()
        nodes = self._read_nodes(now)
        p = plan(wanted, leases, nodes, now, lease_s=self.config.lease_s,
                 node_timeout_s=self.config.node_timeout_s, resume=resume)
        for key in p.delete:
            self.bus.kv_delete(lease_key(*key))
        for lease in p.put:
            old = leases.get(lease.key)
            if old is None or old.node != lease.node:
                log.info("centre: camera %s of deployment %s leased to node %s (epoch %d)",
                         lease.camera_id, lease.deployment_id, lease.node, lease.epoch)
            self.bus.kv_put(lease_key(*lease.key), lease.to_wire())

    def _read_nodes(self, now: datetime) -> list[NodeStatus]:
        assert self.bus is not None
        nodes = []
        for value in self.bus.kv_items("node.").values():
            try:
                nodes.append(NodeStatus.model_validate_json(value))
            except ValidationError:
                continue
        for n in nodes:
            silent_s = (now - n.reported_at).total_seconds()
            n.alive = silent_s <= self.config.node_timeout_s
            if silent_s > self.config.forget_node_s and self.leader:
                self.bus.kv_delete(f"node.{n.name}")  # long gone: off the control room's list
        nodes = [n for n in nodes if (now - n.reported_at).total_seconds()
                 <= self.config.forget_node_s]
        self._nodes = sorted(nodes, key=lambda n: n.name)
        return nodes

    def _publish_bundle(self, session: Any, dep: Any) -> str | None:

        have = self._published.get(dep.id)
        if have is not None:
            return have
        try:
            snap = load_snapshot(session, dep.id, self.store.keyring, dep.embedder_key)
        except OpenLFRError as exc:
            log.error("centre: deployment %s cannot run: %s", dep.id, exc)
            return None
        try:
            cameras = camera_sources(session, dep, self.store.keyring)
        except OpenLFRError as exc:
            log.error("centre: deployment %s cannot run: %s", dep.id, exc)
            return None
        ids = [str(int(x)) for x in snap.subject_ids]
        bundle = Bundle(deployment_id=dep.id, kind=dep.kind.value,
                        threshold=float(dep.threshold), embedder_key=dep.embedder_key,
                        cameras=cameras,
                        subject_ids=ids, labels=list(snap.labels),
                        categories=[getattr(c, "value", c) for c in snap.categories],
                        embeddings=snap.embeddings)
        blob, digest = seal(bundle, self._fleet_key)
        assert self.bus is not None
        self.bus.object_put(bundle_name(dep.id), blob)
        self._published[dep.id] = digest
        return digest

    def sweep_retention(self) -> None:

        with self.store.session() as s:
            result = run_retention(s, self.store.policy, self._clock())
        if result.alerts or result.snapshots or result.subjects:
            log.info("retention: %d alerts purged, %d snapshots and %d subjects removed",
                     len(result.alerts), len(result.snapshots), len(result.subjects))

    # --- record --------------------------------------------------------------------------

    def _record_loop(self) -> None:
        assert self.bus is not None
        while not self._stop.is_set():
            try:
                msgs = self.bus.call(self._psub.fetch(64, timeout=1.0), timeout=10)
            except Exception as exc:  # nothing waiting (timeout), or the bus is away
                if type(exc).__name__ not in ("TimeoutError", "FetchTimeoutError"):
                    log.debug("centre: fetch: %s", exc)
                    self._stop.wait(0.5)
                continue
            for msg in msgs:
                self._handle(msg)

    def _handle(self, msg: Any) -> None:
        assert self.bus is not None
        kind = msg.subject.split(".")[2] if msg.subject.count(".") >= 2 else ""
        if msg.metadata.num_delivered > 1:
            self.figures["redelivered"] += 1
        try:
            if kind == "alert":
                self._record_alert(msg.data)
            elif kind == "counters":
                self._record_counters(msg.data)
            else:
                raise OpenLFRError(f"unknown event subject {msg.subject}")
        except OpenLFRError as exc:  # can never be recorded: say so once, do not retry
            self.figures["alerts_refused" if kind == "alert" else "counters_refused"] += 1
            log.warning("centre: %s message refused: %s", kind or "unknown", exc)
            self.bus.call(msg.ack())
            return
        except Exception as exc:  # the store is busy or away: have it redelivered
            self.figures["store_errors"] += 1
            log.warning("centre: %s not recorded yet (%s): will be redelivered", kind,
                        type(exc).__name__)
            self.bus.call(msg.nak(delay=1.0))
            return
        self.bus.call(msg.ack())

    def _record_alert(self, data: bytes) -> None:

        alert = alert_from_wire(data)
        with self.store.session() as s:
            row, created = GA.record_alert_event(s, alert, sinks=self.config.default_sinks,
                                                 now=self._clock())
            alert_id = row.id
        if not created:
            self.figures["alerts_duplicate"] += 1
            return
        self.figures["alerts_recorded"] += 1
        if self.outbox is not None:
            self.outbox.wake()
        assert self.bus is not None
        try:
            self.bus.publish(RECORDED_SUBJECT, json.dumps(
                {"id": alert_id, "uid": alert.alert_id}).encode())
        except Exception:
            log.warning("centre: live announcement of alert %s failed", alert_id)

    def _record_counters(self, data: bytes) -> None:

        ev = counters_from_wire(data)
        with self.store.session() as s:
            if GA.add_run_counters(s, ev.deployment_id, ev.camera_id, ev.run_id, ev.seq,
                                   ev.totals, ev.at, tracker=ev.tracker):
                self.figures["counters_applied"] += 1
            if ev.frame_index is not None or ev.finished:  # how far a recorded clip got
                GA.save_progress(s, ev.deployment_id, ev.camera_id, ev.frame_index or 0,
                                 ev.finished, ev.at, next_track_id=ev.next_track_id or 1)
