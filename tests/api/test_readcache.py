"""The alert-list read cache: shared answers, never older than a change made here."""

from __future__ import annotations

from openlfr.api.readcache import ReadCache


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_answers_are_shared_until_they_expire() -> None:
    clock, calls = Clock(), []
    cache: ReadCache[int] = ReadCache(ttl_s=1.0, clock=clock)

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get("page", compute) == 1
    clock.t = 0.9
    assert cache.get("page", compute) == 1 and cache.get("other", compute) == 2
    clock.t = 1.0  # expired
    assert cache.get("page", compute) == 3
    assert (cache.hits, cache.misses) == (1, 3)


def test_a_clear_during_a_computation_keeps_its_answer_out() -> None:
    cache: ReadCache[str] = ReadCache(ttl_s=60.0, clock=Clock())

    def stale() -> str:
        cache.clear()  # a change committed while this answer was being read
        return "before the change"

    assert cache.get("page", stale) == "before the change"
    assert cache.get("page", lambda: "after") == "after"  # the stale answer was not kept
    cache.clear()
    assert cache.get("page", lambda: "fresh") == "fresh"


def test_the_cache_stays_bounded() -> None:
    cache: ReadCache[int] = ReadCache(ttl_s=60.0, max_entries=3, clock=Clock())
    for i in range(10):
        cache.get(i, lambda i=i: i)
    assert len(cache._entries) <= 3
