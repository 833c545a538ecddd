"""The fleet's bus: NATS with JetStream, reached from synchronous code.

Names on the bus (one place, so the centre, the nodes and the camera processes agree):

- stream ``OPENLFR_EVENTS`` (file storage, 2 min duplicate window) holds what cameras raise:
  ``openlfr.events.alert.<deployment>.<camera>`` (one :class:`~openlfr.fleet.events.AlertEvent`
  each, its id as ``Nats-Msg-Id``, so a re-sent alert is dropped by the stream) and
  ``openlfr.events.counters.<deployment>.<camera>`` (cumulative counters of one camera run);
- key-value bucket ``openlfr_fleet``: ``node.<name>`` (each node's
  :class:`~openlfr.fleet.health.NodeStatus`, put every second) and
  ``lease.<deployment>.<camera>`` (the centre's :class:`~openlfr.fleet.leases.Lease`: which node
  owns the camera, until when, and the deployment's state);
- object store ``openlfr_bundles``: ``deployment.<id>``, the deployment's approved snapshot and
  camera sources, encrypted with a key of that deployment (:mod:`openlfr.fleet.bundle`);
- core subject ``openlfr.recorded.alert``: the centre's word that an alert was committed to the
  store (its database id), which every console process turns into a live event.

:class:`Bus` runs one NATS connection on its own event loop thread and offers blocking calls
with timeouts. The private ``nats-server`` that ``openlfr serve`` starts when no URL is
configured is :class:`openlfr.fleet.embedded.EmbeddedNats`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    KeyValueConfig,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore
from pydantic import BaseModel, ConfigDict, Field, field_validator

from openlfr.errors import ConfigError

__all__ = ["BusConfig", "Bus", "STREAM", "KV_BUCKET", "OBJECT_BUCKET", "RECORDED_SUBJECT",
           "alert_subject", "counters_subject"]

log = logging.getLogger(__name__)

STREAM = "OPENLFR_EVENTS"
EVENTS = "openlfr.events"
KV_BUCKET = "openlfr_fleet"
OBJECT_BUCKET = "openlfr_bundles"
RECORDED_SUBJECT = "openlfr.recorded.alert"

T = TypeVar("T")


def alert_subject(deployment_id: int, camera_id: str) -> str:
    return f"{EVENTS}.alert.{deployment_id}.{_token(camera_id)}"


def counters_subject(deployment_id: int, camera_id: str) -> str:
    return f"{EVENTS}.counters.{deployment_id}.{_token(camera_id)}"


def _token(name: str) -> str:
    """A camera id as one subject token (the id itself travels in the message)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "_"


class BusConfig(BaseModel):
    """How to reach NATS. No ``url``: the server starts an embedded one."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="nats://host:4222 (comma-separated for a "
                            "cluster); None runs an embedded nats-server (serve only).")
    credentials_file: Path | None = Field(None, description="NATS .creds file (JWT + nkey).")
    tls_ca: Path | None = Field(None, description="CA bundle to verify the server.")
    tls_cert: Path | None = Field(None, description="Client certificate (mutual TLS).")
    tls_key: Path | None = Field(None, description="Client certificate's key.")
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    request_timeout_s: float = Field(5.0, gt=0, le=120,
                                     description="Timeout of one publish, KV or object call.")

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is None:
            return v
        for part in v.split(","):
            scheme = part.strip().partition("://")[0]
            if scheme not in ("nats", "tls") or "://" not in part:
                raise ValueError(f"expected nats://host:port or tls://host:port, got "
                                 f"{part.strip().rpartition('@')[-1]!r}")
        return v

    def redacted_url(self) -> str:

        out = []
        for part in (self.url or "").split(","):
            u = urlsplit(part.strip())
            out.append(f"{u.scheme}://{u.hostname}:{u.port or 4222}" if u.hostname else part)
        return ",".join(out)

    def _tls(self) -> Any:
        if self.tls_ca is None and self.tls_cert is None:
            return None

        ctx = ssl.create_default_context(cafile=str(self.tls_ca) if self.tls_ca else None)
        if self.tls_cert is not None:
            ctx.load_cert_chain(str(self.tls_cert), str(self.tls_key) if self.tls_key else None)
        return ctx


class Bus:
    """One NATS connection on a private event loop thread; blocking calls with timeouts.

    ``connect()`` keeps retrying in the background (NATS reconnects by itself once connected),
    so a node or centre started before its server works once the server is up.
    """

    def __init__(self, config: BusConfig, name: str) -> None:
        if not config.url:
            raise ConfigError("the bus needs a NATS URL (nats://host:4222)")
        self.config = config
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"bus:{name}",
                                        daemon=True)
        self._thread.start()
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._objects: ObjectStore | None = None
        self._closing = False
        self._watches: dict[str, tuple[dict[str, bytes], asyncio.Event]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    # --- running coroutines from other threads ------------------------------------------

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout if timeout is not None else
                              self.config.request_timeout_s + 1)
        except TimeoutError:
            fut.cancel()
            raise

    # --- connection ---------------------------------------------------------------------

    def connect(self, *, setup: bool = False, timeout: float | None = 30.0) -> Bus:
        """Connect (retrying until ``timeout``; None: until it works, saying so every 10 s)
        and, with ``setup``, create the stream and buckets if they are missing (the centre
        does this; nodes and cameras only use them)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last: BaseException | None = None
        said = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            try:
                self.call(self._connect(setup), timeout=self.config.connect_timeout_s + 10)
                return self
            except Exception as exc:  # server not up yet, or JetStream still starting
                last = exc
                if time.monotonic() - said >= 10:
                    said = time.monotonic()
                    log.warning("%s: still waiting for NATS at %s: %s", self.name,
                                self.config.redacted_url(), _why(exc))
                time.sleep(0.5)
        raise ConfigError(f"cannot reach NATS at {self.config.redacted_url()}: {_why(last)}")

    async def _connect(self, setup: bool) -> None:
        if self.nc is None or self.nc.is_closed:
            opts: dict[str, Any] = dict(
                servers=[s.strip() for s in (self.config.url or "").split(",")],
                name=self.name, connect_timeout=self.config.connect_timeout_s,
                max_reconnect_attempts=-1, reconnect_time_wait=0.5,
                allow_reconnect=True, error_cb=self._on_error,
                disconnected_cb=self._on_disconnect, reconnected_cb=self._on_reconnect)
            if self.config.credentials_file is not None:
                opts["user_credentials"] = str(self.config.credentials_file)
            tls = self.config._tls()
            if tls is not None:
                opts["tls"] = tls
            self.nc = await nats.connect(**opts)
            self.js = self.nc.jetstream(timeout=self.config.request_timeout_s)
        assert self.js is not None
        if setup:
            await self._setup()
        self._kv = await self.js.key_value(KV_BUCKET)
        self._objects = await self.js.object_store(OBJECT_BUCKET)

    async def _setup(self) -> None:
        assert self.js is not None
        cfg = StreamConfig(name=STREAM, subjects=[f"{EVENTS}.>"],
                           retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                           max_age=7 * 24 * 3600.0, duplicate_window=120.0,
                           discard=DiscardPolicy.OLD, max_msg_size=16 * 1024 * 1024)
        try:
            await self.js.stream_info(STREAM)
            await self.js.update_stream(cfg)
        except NotFoundError:
            await self.js.add_stream(cfg)
        try:
            await self.js.key_value(KV_BUCKET)
        except BucketNotFoundError:
            await self.js.create_key_value(KeyValueConfig(bucket=KV_BUCKET, history=1,
                                                          storage=StorageType.FILE))
        try:
            await self.js.object_store(OBJECT_BUCKET)
        except (BucketNotFoundError, NotFoundError):
            # memory storage: a snapshot never touches the bus's disk, and a bus restart
            # forgets it (the centre publishes it again while the deployment is active)
            await self.js.create_object_store(OBJECT_BUCKET, ObjectStoreConfig(
                storage=StorageType.MEMORY))

    async def _on_error(self, exc: Exception) -> None:
        log.debug("%s: NATS error: %s", self.name, exc)

    async def _on_disconnect(self) -> None:
        if self._closing:
            return
        log.warning("%s: disconnected from NATS", self.name)

    async def _on_reconnect(self) -> None:
        log.info("%s: reconnected to NATS", self.name)

    def close(self) -> None:
        self._closing = True

        async def _close() -> None:
            for task in self._tasks:
                task.cancel()
            if self.nc is not None and not self.nc.is_closed:
                await self.nc.close()  # what mattered was acknowledged already
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        try:
            self.call(_close(), timeout=5)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # --- blocking helpers ----------------------------------------------------------------

    def publish_durable(self, subject: str, payload: bytes, msg_id: str,
                        timeout: float | None = None) -> None:
        """Publish to the stream and wait for its acknowledgement (raises if none came)."""
        assert self.js is not None
        t = timeout or self.config.request_timeout_s
        self.call(self.js.publish(subject, payload, timeout=t,
                                  headers={"Nats-Msg-Id": msg_id}), timeout=t + 1)

    def publish(self, subject: str, payload: bytes) -> None:
        assert self.nc is not None
        self.call(self.nc.publish(subject, payload))

    def kv_put(self, key: str, value: bytes) -> int:
        assert self._kv is not None
        return self.call(self._kv.put(key, value))

    def kv_delete(self, key: str) -> None:
        assert self._kv is not None

        async def delete() -> None:
            assert self._kv is not None
            try:
                await self._kv.purge(key)
            except KeyNotFoundError:
                pass

        self.call(delete())

    def kv_items(self, prefix: str) -> dict[str, bytes]:
        """Every live key under ``prefix`` (``node.``, ``lease.``) with its value, from a
        watch kept for the life of this connection (one consumer per prefix, however often
        this is called), so changes arrive as they happen."""
        return self.call(self._items(prefix), timeout=self.config.request_timeout_s * 3)

    async def _items(self, prefix: str) -> dict[str, bytes]:
        if prefix not in self._watches:
            ready = asyncio.Event()
            self._watches[prefix] = ({}, ready)
            self._tasks.append(asyncio.get_running_loop().create_task(
                self._watch(prefix)))
        cache, ready = self._watches[prefix]
        await asyncio.wait_for(ready.wait(), self.config.request_timeout_s * 2)
        return dict(cache)

    async def _watch(self, prefix: str) -> None:
        cache, ready = self._watches[prefix]
        while not self._closing:
            try:
                assert self._kv is not None
                watcher = await self._kv.watch(f"{prefix}>")
                fresh: dict[str, bytes] = {}
                loaded = False
                async for entry in watcher:
                    if entry is None:  # the current values are in: switch over
                        cache.clear()
                        cache.update(fresh)
                        loaded = True
                        ready.set()
                        continue
                    target = cache if loaded else fresh
                    if entry.operation in ("DEL", "PURGE") or not entry.value:
                        target.pop(entry.key, None)
                    else:
                        target[entry.key] = entry.value
            except asyncio.CancelledError:
                return
            except Exception as exc:  # the server went away: watch again when it is back
                log.debug("%s: watch of %s ended: %s", self.name, prefix, exc)
                await asyncio.sleep(1.0)

    def object_put(self, name: str, data: bytes) -> None:
        assert self._objects is not None
        self.call(self._objects.put(name, data), timeout=self.config.request_timeout_s * 4)

    def object_get(self, name: str) -> bytes | None:
        assert self._objects is not None

        async def get() -> bytes | None:
            assert self._objects is not None
            try:
                res = await self._objects.get(name)
            except (NotFoundError, KeyNotFoundError):
                return None
            return res.data

        return self.call(get(), timeout=self.config.request_timeout_s * 4)

    def object_names(self) -> list[str]:
        assert self._objects is not None

        async def names() -> list[str]:
            assert self._objects is not None
            try:
                infos = await self._objects.list()
            except NotFoundError:
                return []
            return [i.name for i in infos if not i.deleted]

        return self.call(names())

    def object_delete(self, name: str) -> None:
        assert self._objects is not None

        async def delete() -> None:
            assert self._objects is not None
            try:
                await self._objects.delete(name)
            except (NotFoundError, KeyNotFoundError):
                pass

        self.call(delete())

    def subscribe(self, subject: str, handler: Callable[[bytes], Awaitable[None] | None]
                  ) -> None:
        """Core subscription; ``handler(data)`` runs on the bus thread (keep it short)."""
        assert self.nc is not None

        async def cb(msg: Any) -> None:
            res = handler(msg.data)
            if asyncio.iscoroutine(res):
                await res

        self.call(self.nc.subscribe(subject, cb=cb))


def _why(exc: BaseException | None) -> str:
    if isinstance(exc, BucketNotFoundError | NotFoundError):
        return ("the fleet's stream and buckets are not there yet: start the centre "
                "(openlfr serve) on this NATS first")
    return f"{type(exc).__name__}: {exc}" if exc is not None else "no answer"
