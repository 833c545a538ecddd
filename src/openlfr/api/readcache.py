"""A read cache for the busiest list routes: a control room polls the same page many times a
second, and the store should answer it once.

An entry lives :data:`TTL_S` at most, and everything is dropped at once when this process
changes what the cache holds (an alert recorded by the centre, a decision, a hold), so a
reader sees this process's own changes at once and another process's within ``TTL_S``. The
caller checks the reader's permission before asking: the cache holds answers, not rights.
Nothing biometric is cached: alert lists carry no images.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["ReadCache", "TTL_S"]

#: How stale a cached answer may be, in seconds, for changes made by other processes.
TTL_S = 1.0

V = TypeVar("V")


class ReadCache(Generic[V]):
    """At most ``max_entries`` answers by key, each at most ``ttl_s`` old.

    One computation per key at a time: readers that ask for a key while its answer is being
    computed wait for that answer instead of asking the store again (an expiring page under
    50 readers costs one query, not 50)."""

    def __init__(self, ttl_s: float = TTL_S, max_entries: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.max_entries, self._clock = ttl_s, max_entries, clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, int, V]] = {}
        self._running: dict[Hashable, _Flight[V]] = {}
        self._generation = 0
        self.hits = self.misses = 0

    def _fresh(self, key: Hashable, now: float) -> tuple[bool, V | None]:
        """(True, the answer) for a fresh entry, else (False, None); holds the lock."""
        found = self._entries.get(key)
        if found is not None and now - found[0] < self.ttl_s:
            self.hits += 1
            return True, found[2]
        return False, None

    def peek(self, key: Hashable) -> V | None:
        """The cached answer for ``key`` if there is a fresh one, else None; never computes
        (for callers that must not block, such as the event loop)."""
        with self._lock:
            return self._fresh(key, self._clock())[1]

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached answer for ``key``, or ``compute()``'s (stored unless the cache was
        cleared while it ran, so an answer older than a change is never kept). Blocks while
        another thread computes the same key of the same generation."""
        now = self._clock()
        with self._lock:
            hit, value = self._fresh(key, now)
            if hit:
                return value  # type: ignore[return-value]
            flight = self._running.get(key)
            if flight is not None and flight.generation == self._generation:
                self.hits += 1
                owner = False
            else:
                self.misses += 1
                flight = self._running[key] = _Flight(self._generation)
                owner = True
        if not owner:
            return flight.wait()
        try:
            value = compute()
        except BaseException as exc:
            flight.fail(exc)
            raise
        finally:
            with self._lock:
                if self._running.get(key) is flight:
                    del self._running[key]
        with self._lock:
            if flight.generation == self._generation:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (now, flight.generation, value)
        flight.done(value)
        return value

    def clear(self) -> None:
        """Forget everything: something the answers depend on changed. Computations already
        running finish for their own callers but are neither kept nor shared further."""
        with self._lock:
            self._generation += 1
            self._entries.clear()


class _Flight(Generic[V]):
    """One running computation that other readers of its key wait for."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self._event = threading.Event()
        self._value: V | None = None
        self._error: BaseException | None = None

    def done(self, value: V) -> None:
        self._value = value
        self._event.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._event.set()

    def wait(self) -> V:
        self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
