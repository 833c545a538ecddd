"""The service loop with a fake model: every camera gets its own results back, in order;
batches form across cameras within max_batch; a request the service cannot answer in time,
or cannot run, fails with a clear error and the camera goes on."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from openlfr.inference.client import InferenceFailed, InferenceUnavailable, RemoteSession
from openlfr.inference.shm import SegmentTooSmall
from openlfr.priority import thread_nice


def _x(cam: int, i: int, n: int = 1) -> np.ndarray:
    return np.full((n, 4), cam * 1000 + i, np.float32) + np.arange(4, dtype=np.float32)


def _in_threads(n: int, fn) -> list:  # noqa: ANN001
    results: list = [None] * n
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            results[k] = fn(k)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_each_camera_gets_its_own_results_in_order(served) -> None:  # noqa: ANN001
    s = served(max_batch=4, max_wait_s=0.002)
    sessions = [RemoteSession(s.client(), "scrfd", {}) for _ in range(4)]

    def camera(k: int) -> list[tuple[np.ndarray, ...]]:
        return [tuple(sessions[k].run(["y", "s"], {"x": _x(k, i, n=1 + i % 3)}))
                for i in range(25)]

    for k, got in enumerate(_in_threads(4, camera)):
        for i, (y, total) in enumerate(got):
            x = _x(k, i, n=1 + i % 3)
            np.testing.assert_array_equal(y, x * 2 + 1)
            np.testing.assert_array_equal(total, x.sum(axis=1, keepdims=True))
    assert sum(s.session.calls) == 4 * sum(1 + i % 3 for i in range(25))


def test_requests_of_several_cameras_form_one_batch(served) -> None:  # noqa: ANN001
    s = served(max_batch=4, max_wait_s=20.0)  # runs when the fourth arrives, not before
    sessions = [RemoteSession(s.client(), "scrfd", {}) for _ in range(4)]
    _in_threads(4, lambda k: sessions[k].run(["y", "s"], {"x": _x(k, 0)}))
    assert s.session.calls == [4]
    assert sessions[0].client.stats()["batches"] == [[sessions[0].model, 4, 1]]


def test_batches_never_exceed_max_batch(served) -> None:  # noqa: ANN001
    s = served(max_batch=3, max_wait_s=0.0)
    s.session.gate = threading.Event()
    sessions = [RemoteSession(s.client(), "scrfd", {}) for _ in range(7)]
    worker = threading.Thread(target=_in_threads, args=(7, lambda k: sessions[k].run(
        ["y", "s"], {"x": _x(k, 0)})))
    worker.start()
    time.sleep(0.5)  # the first call holds the service; the others queue up meanwhile
    s.session.gate.set()
    worker.join(60)
    assert sum(s.session.calls) == 7 and max(s.session.calls) <= 3
    assert max(s.session.calls) > 1  # they were batched


def test_an_unanswered_request_fails_clearly_and_the_next_one_works(served) -> None:  # noqa: ANN001
    s = served()
    s.session.gate = threading.Event()
    session = RemoteSession(s.client(timeout_s=0.3), "scrfd", {})
    with pytest.raises(InferenceUnavailable, match="did not answer a run request within 0.3 s"):
        session.run(["y", "s"], {"x": _x(0, 0)})
    s.session.gate.set()
    y, _ = session.run(["y", "s"], {"x": _x(0, 1)})  # reconnected, its own answer
    np.testing.assert_array_equal(y, _x(0, 1) * 2 + 1)


def test_what_the_service_cannot_run_is_answered_with_an_error(served) -> None:  # noqa: ANN001
    s = served()
    client = s.client(size=4096)
    session = RemoteSession(client, "scrfd", {})
    with pytest.raises(InferenceFailed, match="is not open"):
        client.run("scrfd:unknown", ["y"], _x(0, 0))
    with pytest.raises(InferenceFailed, match="runs scrfd, arcface, not 'yolo'"):
        client.open("yolo", {})
    with pytest.raises(SegmentTooSmall, match="raise node.inference.segment_mb"):
        session.run(["y", "s"], {"x": np.zeros((1000, 4), np.float32)})
    y, _ = session.run(["y", "s"], {"x": _x(0, 2)})  # and it goes on
    np.testing.assert_array_equal(y, _x(0, 2) * 2 + 1)


def test_a_camera_that_goes_away_does_not_stop_the_others(served) -> None:  # noqa: ANN001
    s = served()
    gone, stays = (RemoteSession(s.client(), "scrfd", {}) for _ in range(2))
    gone.run(["y", "s"], {"x": _x(0, 0)})
    gone.client.close()
    y, _ = stays.run(["y", "s"], {"x": _x(1, 0)})
    np.testing.assert_array_equal(y, _x(1, 0) * 2 + 1)


def test_with_two_workers_a_second_batch_runs_while_the_first_is_held(served) -> None:  # noqa: ANN001
    s = served(workers=2)
    s.session.gate = gate = threading.Event()
    held, other = (RemoteSession(s.client(), "scrfd", {}) for _ in range(2))
    first = threading.Thread(target=held.run, args=(["y", "s"], {"x": _x(0, 0)}))
    first.start()
    while not s.session.calls:  # the first call is in the model, held
        time.sleep(0.01)
    s.session.gate = None  # the second call passes
    y, _ = other.run(["y", "s"], {"x": _x(1, 0)})
    np.testing.assert_array_equal(y, _x(1, 0) * 2 + 1)
    assert first.is_alive()  # still held
    gate.set()
    first.join(10)


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="per-thread priorities are Linux only")
def test_only_the_thread_that_runs_models_is_lowered(served) -> None:  # noqa: ANN001
    """``camera_nice`` lowers a camera's analysis thread, not its decoder (or any other)."""
    s = served()
    client = s.client()
    client.nice = 6
    session = RemoteSession(client, "scrfd", {})
    mine = thread_nice()

    def analysis(_: int) -> int:
        session.run(["y"], {"x": _x(0, 0)})
        return thread_nice()

    assert _in_threads(1, analysis) == [max(mine, 6)]
    assert thread_nice() == mine  # the thread that made the client (and starts the others)
