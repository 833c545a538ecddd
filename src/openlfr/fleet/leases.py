"""Leases: which node owns which camera, for how long, and the state it may scan under.

The centre holds one :class:`Lease` per camera of each active deployment in the bus's key-value
bucket and renews it every second for as long as its node reports itself alive. A node runs a
camera only while it holds an unexpired lease naming it. The centre never gives a camera to a
second node before the first node's lease has run out, so a camera has at most one owner at a
time, even when the first node is merely cut off rather than dead: cut off, it stops at its
lease's end because no renewal reaches it.

The node measures a lease's end on its own monotonic clock (received + (until - issued)), so
a skewed wall clock between machines cannot stretch it.

:func:`plan` is pure: the leases to put and the keys to delete, from what should run, the
current leases and the nodes' reports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from openlfr.fleet.bus import _token
from openlfr.fleet.health import NodeStatus
from openlfr.store.models import DeploymentStatus

__all__ = ["DeploymentState", "Lease", "Plan", "plan", "lease_key", "CameraKey"]

CameraKey = tuple[int, str]


def lease_key(deployment_id: int, camera_id: str) -> str:
    return f"lease.{deployment_id}.{_token(camera_id)}"


class DeploymentState(BaseModel):
    """What the scan guard needs (see ``openlfr.governance.deployments.scan_refusal``)."""

    model_config = ConfigDict(extra="forbid")

    status: DeploymentStatus
    window_start: datetime
    window_end: datetime
    camera_ids: list[str]
    kind: str


class Lease(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deployment_id: int
    camera_id: str
    node: str
    epoch: int = Field(ge=1, description="Grows each time the camera changes owner.")
    issued_at: datetime
    until: datetime
    state: DeploymentState
    bundle_digest: str
    start_frame: int = Field(0, ge=0, lt=2**62, description="A recorded clip's stored "
                             "progress: the camera starts (or restarts) at this frame.")
    start_track_id: int = Field(1, ge=1, lt=2**62)

    @property
    def key(self) -> CameraKey:
        return (self.deployment_id, self.camera_id)

    def to_wire(self) -> bytes:
        return self.model_dump_json().encode()


@dataclass
class Plan:
    put: list[Lease]
    delete: list[CameraKey]
    waiting: list[CameraKey]  # an old owner's lease has not run out yet
    unplaced: list[CameraKey]  # no live node has room


def plan(wanted: Mapping[CameraKey, tuple[DeploymentState, str]],
         leases: Mapping[CameraKey, Lease], nodes: Iterable[NodeStatus], now: datetime, *,
         lease_s: float, node_timeout_s: float,
         resume: Mapping[CameraKey, tuple[int, int]] | None = None) -> Plan:
    """Renew the leases of live owners, move cameras whose owner is gone once its lease has
    run out, place new cameras on the live node with the most room, and drop leases of
    cameras no longer wanted. ``wanted`` maps each camera to its deployment's state and the
    digest of the deployment's current bundle; ``resume`` the (start frame, start track id)
    of recorded clips with stored progress, carried by their leases (renewals included, so a
    camera restarted by its node resumes from the latest progress)."""
    resume = resume or {}
    alive = {n.name: n for n in nodes
             if (now - n.reported_at).total_seconds() <= node_timeout_s}
    load = {name: 0 for name in alive}
    for key, lease in leases.items():
        if key in wanted and lease.node in alive:
            load[lease.node] += 1
    until = now + timedelta(seconds=lease_s)
    out = Plan([], [k for k in leases if k not in wanted], [], [])
    for key in sorted(wanted):
        state, digest = wanted[key]
        start_frame, start_track = resume.get(key, (0, 1))
        lease = leases.get(key)
        if lease is not None and lease.node in alive:
            out.put.append(lease.model_copy(update={
                "issued_at": now, "until": until, "state": state, "bundle_digest": digest,
                "start_frame": start_frame, "start_track_id": start_track}))
            continue
        if lease is not None and lease.until > now:
            out.waiting.append(key)
            continue
        room = [n for n in alive.values() if load[n.name] < n.max_cameras]
        if not room:
            out.unplaced.append(key)
            continue
        best = min(room, key=lambda n: (load[n.name] / n.max_cameras, load[n.name], n.name))
        load[best.name] += 1
        out.put.append(Lease(deployment_id=key[0], camera_id=key[1], node=best.name,
                             epoch=(lease.epoch + 1) if lease is not None else 1,
                             issued_at=now, until=until, state=state, bundle_digest=digest,
                             start_frame=start_frame, start_track_id=start_track))
    return out
