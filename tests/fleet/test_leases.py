"""The lease plan (pure): renew live owners, never two owners, move after the lease ran out,
place by room, drop what is no longer wanted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openlfr.fleet.health import NodeStatus
from openlfr.fleet.leases import DeploymentState, Lease, plan
from openlfr.store.models import DeploymentStatus

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STATE = DeploymentState(status=DeploymentStatus.ACTIVE, window_start=T0 - timedelta(hours=1),
                        window_end=T0 + timedelta(hours=1), camera_ids=["a", "b", "c"],
                        kind="live")


def _node(name: str, at: datetime, cams: int = 4) -> NodeStatus:
    return NodeStatus(name=name, host="h", pid=1, max_cameras=cams, started_at=T0,
                      reported_at=at)


def _lease(cam: str, node: str, until: datetime, epoch: int = 1) -> Lease:
    return Lease(deployment_id=1, camera_id=cam, node=node, epoch=epoch, issued_at=T0,
                 until=until, state=STATE, bundle_digest="d")


def _wanted(*cams: str) -> dict:
    return {(1, c): (STATE, "d") for c in cams}


def test_new_cameras_go_to_the_nodes_with_most_room() -> None:
    p = plan(_wanted("a", "b", "c"), {}, [_node("n1", T0, 2), _node("n2", T0, 2)], T0,
             lease_s=6, node_timeout_s=3)
    owners = sorted((lease.camera_id, lease.node) for lease in p.put)
    assert owners == [("a", "n1"), ("b", "n2"), ("c", "n1")]
    assert all(lease.until == T0 + timedelta(seconds=6) and lease.epoch == 1 for lease in p.put)


def test_a_live_owner_keeps_its_camera_and_the_lease_is_renewed() -> None:
    now = T0 + timedelta(seconds=2)
    p = plan(_wanted("a"), {(1, "a"): _lease("a", "n2", T0 + timedelta(seconds=6), 3)},
             [_node("n1", now), _node("n2", now)], now, lease_s=6, node_timeout_s=3)
    (lease,) = p.put
    assert (lease.node, lease.epoch, lease.until) == ("n2", 3, now + timedelta(seconds=6))


def test_a_dead_owners_camera_waits_for_its_lease_then_moves() -> None:
    leases = {(1, "a"): _lease("a", "n1", T0 + timedelta(seconds=6), 2)}
    silent = _node("n1", T0)  # last report at T0
    for dt in (4, 5.9):  # n1 counts as dead after 3 s, but its lease still holds
        now = T0 + timedelta(seconds=dt)
        p = plan(_wanted("a"), leases, [silent, _node("n2", now)], now, lease_s=6,
                 node_timeout_s=3)
        assert p.put == [] and p.waiting == [(1, "a")]
    now = T0 + timedelta(seconds=6)
    p = plan(_wanted("a"), leases, [silent, _node("n2", now)], now, lease_s=6,
             node_timeout_s=3)
    (lease,) = p.put
    assert (lease.node, lease.epoch) == ("n2", 3)


def test_no_room_leaves_cameras_unplaced_and_unwanted_leases_are_deleted() -> None:
    leases = {(1, "a"): _lease("a", "n1", T0 + timedelta(seconds=6)),
              (1, "z"): _lease("z", "n1", T0 + timedelta(seconds=6))}
    p = plan(_wanted("a", "b"), leases, [_node("n1", T0, 1)], T0, lease_s=6,
             node_timeout_s=3)
    assert [lease.camera_id for lease in p.put] == ["a"]
    assert p.unplaced == [(1, "b")] and p.delete == [(1, "z")]
    p = plan(_wanted("a"), leases, [], T0, lease_s=6, node_timeout_s=3)
    assert p.put == [] and p.waiting == [(1, "a")]
