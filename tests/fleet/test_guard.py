"""A camera on a node analyses a frame only while its lease holds and its node spoke within
the grace period: after either runs out, not one more frame is analysed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from openlfr.fleet.camera import CameraSpec, build_camera
from openlfr.fleet.leases import DeploymentState
from openlfr.fleet.process import LeaseGuard
from openlfr.store.models import DeploymentStatus
from openlfr.watchlist.index import WatchlistIndex

NOW = datetime.now(UTC)


def _state(**change) -> DeploymentState:  # noqa: ANN003
    return DeploymentState(**{"status": DeploymentStatus.ACTIVE,
                              "window_start": NOW - timedelta(hours=1),
                              "window_end": NOW + timedelta(hours=1),
                              "camera_ids": ["cam"], "kind": "evaluation", **change})


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_lease_guard_refusals() -> None:
    clock = Clock()
    g = LeaseGuard(grace_s=10, monotonic=clock)
    assert g.refusal("cam", NOW) == "no lease"
    g.confirm(clock.t + 6, _state())
    assert g("cam", NOW) and not g("other", NOW)
    clock.t += 6
    assert "lease ran out" in g.refusal("cam", NOW)
    g.confirm(clock.t + 30, _state())  # a long lease, but the node falls silent
    clock.t += 10
    assert "no word from the node" in g.refusal("cam", NOW)
    g.confirm(clock.t + 6, _state(status=DeploymentStatus.ENDED))
    assert "not active" in g.refusal("cam", NOW)
    g.confirm(clock.t + 6, _state())
    assert not g("cam", NOW + timedelta(hours=2))  # past the window by the wall clock
    g.revoke()
    assert g.refusal("cam", NOW) == "no lease"


class CountingDetector:
    def __init__(self, inner, on_call) -> None:  # noqa: ANN001
        self.inner, self.on_call, self.calls = inner, on_call, 0
        self.cfg = getattr(inner, "cfg", None)

    def detect(self, image, **kw):  # noqa: ANN001, ANN003, ANN201
        self.calls += 1
        self.on_call()
        return self.inner.detect(image, **kw)


class _Recorder:
    def __init__(self) -> None:
        self.alerts: list = []

    def alert(self, alert) -> None:  # noqa: ANN001
        self.alerts.append(alert)

    def counters(self, delta) -> None:  # noqa: ANN001
        pass


@pytest.mark.parametrize("cut", ["lease", "grace"])
def test_no_frame_is_analysed_after_the_guard_runs_out(short_clip, cut: str) -> None:
    from openlfr.vision.engine import VisionEngine

    engine = VisionEngine.from_config()
    clock = Clock()
    guard = LeaseGuard(grace_s=10, monotonic=clock)
    # lease: 5 s from now, renewed never; grace: a 1,000 s lease, but no word after 5 s
    guard.confirm(clock.t + (5 if cut == "lease" else 1000), _state())
    if cut == "grace":
        guard.grace_s = 5
    # every analysed frame moves the clock by one second
    engine.detector = CountingDetector(engine.detector, lambda: setattr(clock, "t", clock.t + 1))
    vec = np.ones((1, engine.embedder.dim), np.float32)
    spec = CameraSpec(1, "cam", str(short_clip), threshold=0.99, evaluation=True,
                      index=WatchlistIndex(["1"], ["x"], vec))
    worker = build_camera(spec, engine, guard=guard, recorder=_Recorder())
    stats = worker.run()
    assert engine.detector.calls == 5  # frames at t = 100 .. 104; refused from t = 105 on
    assert stats["frames"] == 5 and stats["refused"] == 45 - 5
