"""Replaying a recorded clip (a camera restarted mid-clip, or after its end) raises the same
alert ids, so the store, which keeps one alert per id, stores none twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from openlfr.demoscene import sample_photo
from openlfr.fleet.camera import CameraSpec, build_camera
from openlfr.fleet.leases import DeploymentState
from openlfr.fleet.process import LeaseGuard
from openlfr.store.models import DeploymentStatus
from openlfr.watchlist.enrol import enrol_image
from openlfr.watchlist.index import WatchlistIndex


class _Ids:
    def __init__(self) -> None:
        self.ids: list[str] = []

    def alert(self, alert) -> None:  # noqa: ANN001
        self.ids.append(alert.alert_id)

    def counters(self, delta) -> None:  # noqa: ANN001
        pass


def test_a_replayed_clip_raises_the_same_alert_ids(short_clip) -> None:
    from openlfr.vision.engine import VisionEngine

    engine = VisionEngine.from_config()
    _, template = enrol_image(engine, sample_photo("yaoming.jpg"))
    index = WatchlistIndex(["1"], ["demo"], template[None, :])
    now = datetime.now(UTC)
    state = DeploymentState(status=DeploymentStatus.ACTIVE, window_start=now - timedelta(1),
                            window_end=now + timedelta(1), camera_ids=["cam"],
                            kind="evaluation")
    runs = []
    for _ in range(2):
        guard = LeaseGuard(grace_s=1e9)
        guard.confirm(float("inf"), state)
        ids = _Ids()
        spec = CameraSpec(4, "cam", str(short_clip), threshold=engine.threshold.value,
                          evaluation=True, index=index)
        build_camera(spec, engine, guard=guard, recorder=ids).run()
        runs.append(ids.ids)
    assert runs[0] and runs[0] == runs[1]
    assert len(set(runs[0])) == len(runs[0])
    # a live camera draws fresh ids: the same face seen again is a new alert
    live = build_camera(CameraSpec(4, "cam", f"file://{short_clip}?loop=1", 0.4, True, index),
                        engine, guard=guard, recorder=_Ids())
    assert not live.config.stable_alert_ids
