"""Which requests run together: grouped by model and input shape, at most ``max_batch`` in
one call, the first of a group waiting at most ``max_wait`` for others.

Pure (no sockets, no clock of its own): the service passes ``now``, so the policy is tested
without waiting.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Request", "Batcher"]


@dataclass
class Request:
    """One camera's call of one model, its input in the camera's segment."""

    client: Any  # whatever the service answers through (its connection)
    seq: int
    model: str
    outputs: tuple[str, ...]
    offset: int
    shape: tuple[int, ...]
    dtype: str
    arrived: float
    #: most items (faces) per model call, 0: no limit (the embedder's configured batch_size:
    #: a batch of requests then runs as several calls, in order)
    chunk: int = 0

    @property
    def group(self) -> tuple[Any, ...]:
        """Requests that can share one model call: same model, outputs and item shape
        (SCRFD's input follows the frame's size: one resolution, one group)."""
        return (self.model, self.outputs, self.shape[1:], self.dtype, self.chunk)


@dataclass
class Batcher:
    max_batch: int
    max_wait_s: float
    _groups: dict[tuple[Any, ...], list[Request]] = field(default_factory=dict)
    #: (model, batch size) -> model calls of that size
    sizes: Counter[tuple[str, int]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_wait_s < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_s >= 0")

    def __len__(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def add(self, request: Request) -> None:
        self._groups.setdefault(request.group, []).append(request)

    def _due_at(self, group: list[Request]) -> float:
        return float("-inf") if len(group) >= self.max_batch else \
            group[0].arrived + self.max_wait_s

    def wait_s(self, now: float) -> float | None:
        """Seconds until a batch is due (0: now); None when nothing is pending."""
        if not self._groups:
            return None
        return max(0.0, min(self._due_at(g) for g in self._groups.values()) - now)

    def take(self, now: float) -> list[Request]:
        """The due batch whose first request came first (empty when none is due), at most
        ``max_batch`` requests, in arrival order."""
        due = [(g[0].arrived, key) for key, g in self._groups.items()
               if self._due_at(g) <= now]
        if not due:
            return []
        key = min(due)[1]
        group = self._groups[key]
        batch, rest = group[:self.max_batch], group[self.max_batch:]
        if rest:
            self._groups[key] = rest
        else:
            del self._groups[key]
        self.sizes[(batch[0].model, len(batch))] += 1
        return batch

    def drop(self, client: Any) -> int:
        """Forget a disconnected client's pending requests; how many there were."""
        dropped = 0
        for key in list(self._groups):
            keep = [r for r in self._groups[key] if r.client is not client]
            dropped += len(self._groups[key]) - len(keep)
            if keep:
                self._groups[key] = keep
            else:
                del self._groups[key]
        return dropped
