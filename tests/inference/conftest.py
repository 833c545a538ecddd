"""Fixtures of the inference tests: a service loop in a thread with a fake model (cheap,
controllable), and the real service process with the real models."""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from openlfr.inference.client import ServiceClient
from openlfr.inference.service import ModelHost, serve
from openlfr.inference.shm import Segment


class FakeSession:
    """y = 2x + 1 and the row sums; records each call's batch size; ``gate`` (if set)
    holds every call until it is set."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.gate: threading.Event | None = None

    def get_inputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="x", shape=["?", 4])]

    def get_outputs(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(name="y", shape=["?", 4]),
                SimpleNamespace(name="s", shape=["?", 1])]

    def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        x = feeds["x"]
        self.calls.append(len(x))
        if self.gate is not None:
            self.gate.wait(30)
        return [x * 2 + 1, x.sum(axis=1, keepdims=True)]


class Served(SimpleNamespace):
    session: FakeSession
    address: str
    segments: list[Segment]

    def client(self, timeout_s: float = 30.0, size: int = 1 << 16) -> ServiceClient:
        seg = Segment.create(size, tag="test_")
        self.segments.append(seg)
        c = ServiceClient(self.address, b"k" * 32, seg.name, timeout_s=timeout_s)
        self.clients.append(c)
        return c


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``served(max_batch, max_wait_s)``: the service loop in a thread, a fake model."""
    started: list[tuple[threading.Thread, object, Served]] = []

    def start(max_batch: int = 8, max_wait_s: float = 0.0, workers: int = 1) -> Served:
        session = FakeSession()
        address = str(tmp_path / f"s{len(started)}.sock")
        parent, child = mp.Pipe()
        host = ModelHost(opener=lambda kind, config: (session, "f" * 64))
        t = threading.Thread(target=serve, args=(address, b"k" * 32, child), daemon=True,
                             kwargs={"max_batch": max_batch, "max_wait_s": max_wait_s,
                                     "host": host, "workers": workers})
        t.start()
        assert parent.poll(10) and "ready" in parent.recv()
        s = Served(session=session, address=address, segments=[], clients=[])
        started.append((t, parent, s))
        return s

    yield start
    for t, parent, s in started:
        if s.session.gate is not None:
            s.session.gate.set()
        for c in s.clients:
            c.close()
        parent.send({"stop": True})  # type: ignore[attr-defined]
        t.join(10)
        for seg in s.segments:
            seg.unlink()
