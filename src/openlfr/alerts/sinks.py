"""Alert sinks: JSON lines, webhook (HTTP POST), MQTT; and off-loop delivery.

A sink's ``send(alert)`` delivers one alert synchronously and raises on failure.
:class:`Dispatcher` runs each sink in its own background thread behind a bounded queue:
the frame loop only calls :meth:`Dispatcher.submit`, which never blocks. Failed deliveries
are retried with exponential backoff and counted; an alert is given up (and counted) after
``retries`` attempts; a full queue drops the alert for that sink (counted, logged). The
alert itself is kept by the store whatever happens to its notifications.

Sinks never put the probe crop into a message unless asked (``include_probe``); by default
they reference it (sha256 and ``probe_ref``). Log lines carry ids and scores only.

Sink specs (CLI ``--sink``): ``jsonl:-`` (stdout), ``jsonl:PATH``, ``webhook:URL``
(``http://...``), ``mqtt://HOST:PORT/TOPIC``.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import httpx

from openlfr.alerts.model import AlertEvent
from openlfr.errors import ConfigError, import_backend
from openlfr.urls import redact_url

__all__ = ["AlertSink", "JsonlSink", "WebhookSink", "MqttSink", "CallbackSink",
           "Dispatcher", "DeliveryStats", "DeliveryRefused", "sink_from_spec"]

log = logging.getLogger(__name__)


class DeliveryRefused(Exception):
    """The receiver refused the alert for good (e.g. HTTP 400/401/403/404): retrying cannot
    help, so the dispatcher gives up at once (counted as given up)."""


class AlertSink(Protocol):
    name: str

    def send(self, alert: AlertEvent) -> None: ...

    def close(self) -> None: ...


class JsonlSink:
    """One JSON object per line, to a file (appended) or a stream (stdout)."""

    def __init__(self, target: str | Path | IO[str] = "-", *, include_probe: bool = False
                 ) -> None:
        self.include_probe = include_probe
        self._lock = threading.Lock()
        if isinstance(target, (str, Path)) and str(target) != "-":
            path = Path(target)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fh: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise ConfigError(f"jsonl sink: cannot open {path}: {exc.strerror}") from None
            self._owned = True
            self.name = f"jsonl:{path}"
        else:
            self._fh = sys.stdout if target == "-" else target  # type: ignore[assignment]
            self._owned = False
            self.name = "jsonl:-"

    def send(self, alert: AlertEvent) -> None:
        line = json.dumps(alert.to_public(include_probe=self.include_probe))
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._owned:
            self._fh.close()


class WebhookSink:
    """HTTP POST of the alert's JSON with an ``Idempotency-Key: <alert id>`` header (the
    same on every retry and redelivery). 2xx is success; anything else raises (retried)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, include_probe: bool = False,
                 headers: dict[str, str] | None = None) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ConfigError(f"webhook sink: expected an http(s) URL, got {redact_url(url)!r}")
        self.url = url
        self.include_probe = include_probe
        self.name = f"webhook:{redact_url(url)}"  # logged: no password
        self._client = httpx.Client(timeout=timeout_s, headers=headers or {})

    def send(self, alert: AlertEvent) -> None:
        # The same key on every retry of one alert: a receiver that saw it can drop the copy.
        r = self._client.post(self.url, json=alert.to_public(include_probe=self.include_probe),
                              headers={"Idempotency-Key": alert.alert_id})
        if 200 <= r.status_code < 300:
            return
        if 400 <= r.status_code < 500 and r.status_code not in (408, 425, 429):
            raise DeliveryRefused(f"webhook answered HTTP {r.status_code}")
        raise ConnectionError(f"webhook answered HTTP {r.status_code}")

    def close(self) -> None:
        self._client.close()


class MqttSink:
    """Publishes the alert's JSON to ``topic`` with paho-mqtt 2, QoS 1 by default.

    ``send`` returns once the broker acknowledged the message (PUBACK, within
    ``timeout_s``) and raises otherwise (not connected, no CONNACK, no PUBACK), so the
    caller retries. After a failure the client is dropped, with whatever paho still queued
    for it, and the next ``send`` connects afresh."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, topic: str = "openlfr/alerts",
                 *, qos: int = 1, timeout_s: float = 5.0, include_probe: bool = False,
                 client_id: str = "") -> None:
        # fail at configuration time if missing
        import_backend("paho.mqtt.client", "the mqtt sink", "pip install paho-mqtt")

        if not topic or any(c in topic for c in "#+"):
            raise ConfigError(f"mqtt sink: invalid topic {topic!r} (no wildcards)")
        if qos not in (0, 1, 2):
            raise ConfigError(f"mqtt sink: qos must be 0, 1 or 2, got {qos!r}")
        self.topic, self.qos, self.timeout_s = topic, qos, timeout_s
        self.include_probe = include_probe
        self.name = f"mqtt://{host}:{port}/{topic}"
        self._host, self._port, self._client_id = host, port, client_id
        self._client: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        if self._client is not None and self._client.is_connected():
            return self._client
        self._drop()
        import paho.mqtt.client as mqtt

        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self._client_id)
        client.connect_timeout = self.timeout_s
        acked = threading.Event()
        refused: list[str] = []

        def on_connect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            if getattr(reason, "is_failure", False):
                refused.append(str(reason))
            acked.set()

        client.on_connect = on_connect
        self._client = client
        try:
            client.connect(self._host, self._port, keepalive=30)
        except OSError as exc:
            self._client = None
            raise ConnectionError(f"mqtt: cannot connect to {self._host}:{self._port}: "
                                  f"{exc.strerror or exc}") from None
        client.loop_start()
        if not acked.wait(self.timeout_s) or refused or not client.is_connected():
            self._drop()
            why = f"refused ({refused[0]})" if refused else f"no CONNACK in {self.timeout_s} s"
            raise ConnectionError(f"mqtt: broker {self._host}:{self._port} {why}")
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.disconnect()
        except Exception:  # already gone
            pass
        client.loop_stop()

    def send(self, alert: AlertEvent) -> None:
        payload = json.dumps(alert.to_public(include_probe=self.include_probe))
        with self._lock:
            client = self._connect()
            info = client.publish(self.topic, payload, qos=self.qos)
            try:
                info.wait_for_publish(timeout=self.timeout_s)
            except (RuntimeError, ValueError) as exc:  # not connected, queue full
                self._drop()
                raise ConnectionError(f"mqtt: publish failed: {exc}") from None
            if not info.is_published():
                self._drop()
                raise ConnectionError(f"mqtt: publish not acknowledged in {self.timeout_s} s "
                                      f"(rc={info.rc})")

    def close(self) -> None:
        with self._lock:
            self._drop()


class CallbackSink:
    """Calls a function with each alert (e.g. the API's console push)."""

    def __init__(self, fn: Callable[[AlertEvent], None], name: str = "callback") -> None:
        self._fn = fn
        self.name = name

    def send(self, alert: AlertEvent) -> None:
        self._fn(alert)

    def close(self) -> None:
        pass


def sink_from_spec(spec: str, *, include_probe: bool = False) -> AlertSink:
    """``jsonl:-``, ``jsonl:PATH``, ``webhook:URL`` or ``mqtt://HOST[:PORT]/TOPIC``."""
    if spec.startswith("jsonl:"):
        return JsonlSink(spec[len("jsonl:"):] or "-", include_probe=include_probe)
    if spec.startswith("webhook:"):
        return WebhookSink(spec[len("webhook:"):], include_probe=include_probe)
    if spec.startswith("mqtt://"):
        u = urlsplit(spec)
        rest = spec[len("mqtt://"):]
        topic = rest.split("/", 1)[1] if "/" in rest else "openlfr/alerts"
        return MqttSink(u.hostname or "127.0.0.1", u.port or 1883, topic,
                        include_probe=include_probe)
    raise ConfigError(f"unknown sink {spec!r}; use jsonl:-, jsonl:PATH, webhook:URL or "
                      "mqtt://HOST:PORT/TOPIC")


@dataclass
class DeliveryStats:
    submitted: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    dropped: int = 0  # queue full

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


_STOP = object()


class _Lane:
    def __init__(self, sink: AlertSink, queue_size: int, retries: int, backoff_s: float,
                 backoff_max_s: float) -> None:
        self.sink = sink
        self.stats = DeliveryStats()
        self.q: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self.retries, self.backoff_s, self.backoff_max_s = retries, backoff_s, backoff_max_s
        self.stop = threading.Event()
        self.idle = threading.Condition()
        self.pending = 0
        self.thread = threading.Thread(target=self._run, name=f"sink:{sink.name}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is _STOP:
                return
            alert: AlertEvent = item  # type: ignore[assignment]
            for attempt in range(1, self.retries + 1):
                try:
                    self.sink.send(alert)
                    self.stats.delivered += 1
                    break
                except Exception as exc:  # any failure of a sink is counted and retried
                    self.stats.failed_attempts += 1
                    final = isinstance(exc, DeliveryRefused)
                    if attempt == self.retries or self.stop.is_set() or final:
                        self.stats.given_up += 1
                        log.error("sink %s: alert %s not delivered after %d attempt(s): %s",
                                  self.sink.name, alert.alert_id, attempt, exc)
                        break
                    wait = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
                    log.warning("sink %s: delivery of alert %s failed (%s); retry %d in "
                                "%.2f s", self.sink.name, alert.alert_id, exc, attempt, wait)
                    self.stop.wait(wait)
            with self.idle:
                self.pending -= 1
                self.idle.notify_all()


class Dispatcher:
    """Delivers alerts to sinks off the frame loop (one thread and bounded queue per sink)."""

    def __init__(self, sinks: list[AlertSink], *, queue_size: int = 256, retries: int = 5,
                 backoff_s: float = 0.5, backoff_max_s: float = 30.0) -> None:
        if retries < 1:
            raise ConfigError("retries must be at least 1")
        self._lanes = [_Lane(s, queue_size, retries, backoff_s, backoff_max_s) for s in sinks]

    def submit(self, alert: AlertEvent) -> None:
        """Queue ``alert`` for every sink. Never blocks."""
        for lane in self._lanes:
            lane.stats.submitted += 1
            with lane.idle:
                lane.pending += 1
            try:
                lane.q.put_nowait(alert)
            except queue.Full:
                with lane.idle:
                    lane.pending -= 1
                lane.stats.dropped += 1
                log.error("sink %s: queue full, alert %s not delivered to it",
                          lane.sink.name, alert.alert_id)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued alert is delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        for lane in self._lanes:
            with lane.idle:
                while lane.pending > 0:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    lane.idle.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the threads and sinks."""
        self.flush(timeout)
        for lane in self._lanes:
            lane.stop.set()
            try:
                lane.q.put_nowait(_STOP)
            except queue.Full:
                pass
        for lane in self._lanes:
            lane.thread.join(timeout=2.0)
            try:
                lane.sink.close()
            except Exception as exc:  # closing is best effort
                log.warning("sink %s: close failed: %s", lane.sink.name, exc)

    def stats(self) -> dict[str, dict[str, int]]:
        return {lane.sink.name: lane.stats.as_dict() for lane in self._lanes}
