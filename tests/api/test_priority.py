"""Request threads run below the cameras' CPU priority; other threads keep theirs."""

from __future__ import annotations

import sys
import threading

import pytest

from openlfr.api.priority import lower_this_thread, thread_nice

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="per-thread priorities are Linux only")


def _in_thread(fn):  # type: ignore[no-untyped-def]
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_lowers_only_the_calling_thread() -> None:
    before = thread_nice()

    def lowered() -> tuple[int, int]:
        lower_this_thread(7)
        inherited = _in_thread(thread_nice)  # a thread it creates inherits the priority
        return thread_nice(), inherited

    own, inherited = _in_thread(lowered)
    assert own == max(before, 7) and inherited == own
    assert thread_nice() == before  # the caller of the test is untouched


def test_never_raises_a_priority_and_zero_is_a_no_op() -> None:
    def run() -> tuple[int, int]:
        lower_this_thread(12)
        lower_this_thread(3)  # lower number = higher priority: refused
        after_three = thread_nice()
        return after_three, thread_nice()

    assert _in_thread(run) == (max(thread_nice(), 12),) * 2
    assert _in_thread(lambda: (lower_this_thread(0), thread_nice())[1]) == thread_nice()


def _worker_nices() -> list[int]:
    return [thread_nice(t.native_id) for t in threading.enumerate()
            if t.native_id is not None and "worker" in t.name.lower()]


def test_request_threads_are_lowered(api) -> None:  # type: ignore[no-untyped-def]
    """After a request, the threads that ran its route code are lowered; the thread that
    started the app (the tests' own, here) keeps its priority."""
    from openlfr.api.priority import REQUEST_NICE
    from openlfr.store.models import Role

    mine = thread_nice()
    r = api.client.get("/api/alerts", headers={
        "Authorization": f"Bearer {api.tokens[Role.AUDITOR]}"})
    assert r.status_code == 200
    assert any(n >= REQUEST_NICE for n in _worker_nices())
    assert thread_nice() == mine
