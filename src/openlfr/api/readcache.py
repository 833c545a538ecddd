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
    """At most ``max_entries`` answers by key, each at most ``ttl_s`` old."""

    def __init__(self, ttl_s: float = TTL_S, max_entries: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s, self.max_entries, self._clock = ttl_s, max_entries, clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, int, V]] = {}
        self._generation = 0
        self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached answer for ``key``, or ``compute()``'s (stored unless the cache was
        cleared while it ran, so an answer older than a change is never kept)."""
        now = self._clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] < self.ttl_s:
                self.hits += 1
                return found[2]
            self.misses += 1
            generation = self._generation
        value = compute()
        with self._lock:
            if generation == self._generation:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (now, generation, value)
        return value

    def clear(self) -> None:
        """Forget everything: something the answers depend on changed."""
        with self._lock:
            self._generation += 1
            self._entries.clear()
