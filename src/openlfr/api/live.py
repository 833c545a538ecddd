"""Live channels: the alert hub behind the console's server-sent events, and MJPEG streams.

Alerts are raised on camera worker threads; :class:`AlertHub` hands them to the event loop
(``call_soon_threadsafe``) and fans them out to every subscriber's bounded queue. A slow
subscriber loses its oldest events rather than slowing the cameras; the loss is counted.
Events carry only the public alert fields (ids, score, threshold, category), never images
or templates: the console fetches images through the permission-checked image endpoints.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AlertHub", "Subscription", "sse_stream", "mjpeg_stream", "MJPEG_BOUNDARY"]

log = logging.getLogger(__name__)

MJPEG_BOUNDARY = "openlfrframe"
_CLOSE: dict[str, Any] = {"type": "_close"}  # sentinel: the server is shutting down


@dataclass(eq=False)
class Subscription:
    """One listener: a bounded queue plus the filter deciding which events it may see."""

    queue: asyncio.Queue[dict[str, Any]]
    accept: Callable[[dict[str, Any]], bool]
    dropped: int = 0


@dataclass(eq=False)
class AlertHub:
    """Fan-out of alert events from camera threads to console listeners."""

    queue_size: int = 100
    _subs: set[Subscription] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    published: int = 0
    closed: bool = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the event loop that owns the subscriber queues (done at app start)."""
        self._loop = loop

    def subscribe(self, accept: Callable[[dict[str, Any]], bool] = lambda e: True) -> Subscription:
        sub = Subscription(asyncio.Queue(maxsize=self.queue_size), accept)
        with self._lock:
            self._subs.add(sub)
        if self.closed:
            sub.queue.put_nowait(_CLOSE)
        return sub

    def close(self) -> None:
        """End every stream (server shutdown); thread-safe."""
        self.closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._deliver, _CLOSE)
            except RuntimeError:
                pass

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(self, event: dict[str, Any]) -> None:
        """Thread-safe: may be called from any thread, never blocks."""
        self.published += 1
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._deliver, event)
        except RuntimeError:  # loop closing during shutdown
            pass

    def _deliver(self, event: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                if event is not _CLOSE and not sub.accept(event):
                    continue
            except Exception:  # a filter must never break delivery to others
                log.exception("alert filter failed")
                continue
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(event)


async def sse_stream(hub: AlertHub, sub: Subscription, *, is_disconnected: Callable[[], Any],
                     keepalive_s: float = 15.0) -> AsyncIterator[str]:
    """Server-sent events for one subscriber, with keep-alive comments; ends on disconnect."""
    try:
        yield "retry: 3000\n: connected\n\n"
        while True:
            try:
                event = await asyncio.wait_for(sub.queue.get(), timeout=keepalive_s)
            except TimeoutError:
                if await is_disconnected():
                    return
                yield ": keep-alive\n\n"
                continue
            if event is _CLOSE:
                return
            kind = event.get("type", "alert")
            yield f"event: {kind}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
    finally:
        hub.unsubscribe(sub)


async def mjpeg_stream(latest: Callable[[], bytes | None], *,
                       is_disconnected: Callable[[], Any], max_fps: float = 10.0,
                       still_running: Callable[[], bool] = lambda: True,
                       max_frames: int | None = None) -> AsyncIterator[bytes]:
    """``multipart/x-mixed-replace`` parts from ``latest()`` (the worker's blurred preview).

    A part is sent only when the frame changed, at most ``max_fps`` a second. The stream ends
    when the client goes away, the camera stops, or after ``max_frames`` parts.
    """
    period = 1.0 / max_fps
    last: bytes | None = None
    sent = 0
    while still_running():
        frame = latest()
        if frame is not None and frame is not last:
            last = frame
            yield (f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                   f"Content-Length: {len(frame)}\r\n\r\n").encode() + frame + b"\r\n"
            sent += 1
            if max_frames is not None and sent >= max_frames:
                return
        if await is_disconnected():
            return
        await asyncio.sleep(period)
