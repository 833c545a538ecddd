"""The sink outbox on both databases: at least once through a failing then recovering sink,
given up after max attempts / max age or a refusal (visible in stats() and failed()), an
unknown sink left pending, webhook idempotency keys, and a real Mosquitto broker (our own,
on a free port) stopped and restarted under the deliveries."""

from __future__ import annotations

import getpass
import http.server
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from openlfr.alerts.model import AlertEvent
from openlfr.alerts.outbox_worker import OutboxDelivery
from openlfr.alerts.sinks import DeliveryRefused, MqttSink, WebhookSink
from openlfr.governance import alerts as A
from openlfr.governance import watchlist as W
from openlfr.governance.outbox import RetryPolicy, short_error
from openlfr.governance.runtime import governed_factory
from openlfr.store import make_engine

from .conftest import DB, T0, People, active_deployment

H = timedelta(hours=1)
AT = T0 + 2 * H


class Clock:
    def __init__(self, at: datetime = AT) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


class FakeSink:
    """Test-only sink: fails the first ``fail_first`` sends (or always), keeps the rest."""

    def __init__(self, name: str = "fake", fail_first: int = 0, *, include_probe: bool = False,
                 error: Exception | None = None) -> None:
        self.name, self.fail_first, self.include_probe = name, fail_first, include_probe
        self.error = error or ConnectionError("broker down")
        self.calls = 0
        self.got: list[AlertEvent] = []
        self.closed = False

    def send(self, alert: AlertEvent) -> None:
        self.calls += 1
        if self.fail_first < 0 or self.calls <= self.fail_first:
            raise self.error
        self.got.append(alert)

    def close(self) -> None:
        self.closed = True


def record(db: DB, dep_id: int, sid: int, n: int, sinks: tuple[str, ...]) -> list[str]:
    uids = []
    with db.sessions() as s:
        for i in range(n):
            ev = AlertEvent(camera_id="cam1", time=AT, track_id=i, subject_id=str(sid),
                            label="x", score=0.6, threshold=0.4, probe_jpeg=b"JPEG%d" % i,
                            deployment_id=dep_id, frame_index=i)
            A.record_alert_event(s, ev, sinks=sinks)
            uids.append(ev.alert_id)
        s.commit()
    return uids


@pytest.fixture
def dep_sid(db: DB, people: People) -> tuple[int, int]:
    with db.sessions() as s:
        dep = active_deployment(s, people)
        return dep.id, W.get_snapshot(s, dep.id).subjects[0].subject_id


def test_retry_policy_and_error_text_are_pure() -> None:
    p = RetryPolicy(max_attempts=5, max_age=H)
    assert [p.delay_s(a) for a in range(1, 8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert not p.gives_up(4, T0, T0) and p.gives_up(5, T0, T0)
    assert p.gives_up(1, T0, T0 + H) and not RetryPolicy().gives_up(10_000, T0, T0 + H)
    err = short_error(ConnectionError("POST https://bot:s3cret@hooks.example/x failed\n" +
                                      "y" * 500))
    assert "s3cret" not in err and "https://***@hooks.example/x" in err and len(err) <= 300


def test_at_least_once_through_a_failing_then_recovering_sink(db: DB, dep_sid) -> None:
    uids = record(db, *dep_sid, 3, ("fake", "probe"))
    clock = Clock()
    fake, probe = FakeSink(fail_first=3), FakeSink("probe", include_probe=True)
    out = OutboxDelivery(db.sessions, {"fake": fake, "probe": probe}, keyring=db.keyring,
                         clock=clock)
    assert out.run_once() == 4  # fake: one failed attempt (rest handed back); probe: 3
    assert out.stats()["fake"] == {"pending": 3, "delivered": 0, "failed": 0, "retries": 1,
                                   "configured": 1}
    assert out.run_once() == 0  # not due yet (backoff)
    for _ in range(10):
        clock.advance(5)
        out.run_once()
    assert sorted(a.alert_id for a in fake.got) == sorted(uids)
    assert out.stats()["fake"] == {"pending": 0, "delivered": 3, "failed": 0, "retries": 3,
                                   "configured": 1}
    assert fake.calls == 6 and out.failed() == []
    # the payload is the alert as the camera raised it; the crop only where asked for
    pub = fake.got[0].to_public()
    assert pub["alert_id"] in uids and "jpeg_base64" not in pub["probe"]
    assert pub["probe"]["bytes"] == 5 and pub["frame_index"] in (0, 1, 2)
    with pytest.raises(ValueError, match="no probe bytes"):
        fake.got[0].to_public(include_probe=True)
    by_uid = {a.alert_id: a for a in probe.got}
    for i, uid in enumerate(uids):
        assert by_uid[uid].probe_jpeg == b"JPEG%d" % i
    assert {a.probe_sha256 for a in fake.got} == {a.probe_sha256 for a in probe.got}
    out.stop()
    assert fake.closed and probe.closed


def test_given_up_after_max_attempts_refusal_or_age(db: DB, dep_sid) -> None:
    record(db, *dep_sid, 1, ("down", "refuses"))
    clock = Clock()
    down = FakeSink("down", fail_first=-1,
                    error=ConnectionError("POST http://u:pw@10.0.0.9/hook: refused"))
    refuses = FakeSink("refuses", fail_first=-1, error=DeliveryRefused("HTTP 403"))
    out = OutboxDelivery(db.sessions, {"down": down, "refuses": refuses}, clock=clock,
                         keyring=db.keyring, max_attempts=3)
    for _ in range(6):
        out.run_once()
        clock.advance(10)
    stats = out.stats()
    assert stats["down"] == {"pending": 0, "delivered": 0, "failed": 1, "retries": 2,
                             "configured": 1}
    assert stats["refuses"]["failed"] == 1 and refuses.calls == 1  # refused: no retry
    failed = {f.sink: f for f in out.failed()}
    assert failed["down"].attempts == 3 and "pw" not in (failed["down"].last_error or "")
    assert "refused" in (failed["down"].last_error or "")
    assert failed["refuses"].last_error == "DeliveryRefused: HTTP 403"
    assert failed["down"].to_dict()["alert_uid"] == failed["refuses"].alert_uid

    record(db, *dep_sid, 1, ("old",))
    old = FakeSink("old", fail_first=-1)
    out2 = OutboxDelivery(db.sessions, {"old": old}, clock=Clock(AT + timedelta(hours=25)),
                          keyring=db.keyring)
    assert out2.run_once() == 1 and out2.stats()["old"]["failed"] == 1  # past max_age


def test_a_row_for_an_unknown_sink_stays_pending_and_is_reported(db: DB, dep_sid) -> None:
    record(db, *dep_sid, 2, ("gone", "fake"))
    fake = FakeSink()
    reader = make_engine(db.url, read_only=True)  # stats and failed() need no write lock
    out = OutboxDelivery(db.sessions, {"fake": fake}, clock=Clock(), keyring=db.keyring,
                         read_sessions=governed_factory(reader, db.keyring))
    try:
        assert out.run_once() == 2
        stats = out.stats()
        assert out.failed() == []
    finally:
        reader.dispose()
    assert stats["gone"] == {"pending": 2, "delivered": 0, "failed": 0, "retries": 0,
                             "configured": 0}
    assert stats["fake"]["delivered"] == 2


def test_the_thread_delivers_on_wake(db: DB, dep_sid) -> None:
    fake = FakeSink()
    out = OutboxDelivery(db.sessions, {"fake": fake}, keyring=db.keyring, clock=Clock(),
                         poll_s=30.0)
    out.start()
    try:
        time.sleep(0.2)  # the lane is now waiting (up to poll_s)
        uids = record(db, *dep_sid, 2, ("fake",))
        out.wake()
        deadline = time.monotonic() + 10
        while len(fake.got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(a.alert_id for a in fake.got) == sorted(uids)
    finally:
        out.stop(5)


@contextmanager
def header_server() -> Iterator[dict]:
    state: dict = {"keys": [], "url": ""}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["keys"].append((self.headers.get("Idempotency-Key"), body["alert_id"]))
            fail = len(state["keys"]) == 1
            self.send_response(503 if fail else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    try:
        yield state
    finally:
        srv.shutdown()
        srv.server_close()


def test_webhook_sends_the_alert_id_as_idempotency_key_on_every_try(db: DB, dep_sid) -> None:
    (uid,) = record(db, *dep_sid, 1, ("hook",))
    clock = Clock()
    with header_server() as hook:
        out = OutboxDelivery(db.sessions, {"hook": WebhookSink(hook["url"], timeout_s=5)},
                             clock=clock, keyring=db.keyring)
        out.run_once()
        clock.advance(1)
        out.run_once()
        out.stop()
    assert hook["keys"] == [(uid, uid), (uid, uid)]  # 503, then the same key again: 204


# --- a real broker ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """Our own Mosquitto on a free loopback port, with persistence (a subscriber's QoS 1
    session survives a restart); stopped by its PID, never the system's broker.

    It runs as the test's own user (``user``): started by root, Mosquitto would otherwise
    switch to the ``mosquitto`` user, which cannot write the test's folder, and save
    nothing. The subscriber's session and subscription would then be gone after a restart,
    and whatever the outbox sent before the subscriber came back would reach no one.
    :meth:`stop` checks that the state was saved."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.conf = tmp / "mosquitto.conf"
        self.data = tmp / "data"
        self.data.mkdir()
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             f"user {getpass.getuser()}\n"
                             f"persistence true\npersistence_location {self.data}/\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["mosquitto", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            assert (self.data / "mosquitto.db").exists(), "mosquitto saved no state"
        self.proc = None


def wait_for(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="mosquitto is not installed")
def test_mqtt_outage_then_every_alert_arrives(db: DB, dep_sid, tmp_path: Path) -> None:
    import paho.mqtt.client as mqtt

    broker = Broker(tmp_path)
    broker.start()
    topic = f"openlfr/test/{tmp_path.name}"
    got: list[str] = []
    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{broker.port}",
                      clean_session=False)
    sub.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload)["alert_id"])
    sub.reconnect_delay_set(0.1, 0.5)
    m0 = time.monotonic()
    # injected clock: the deployment's time, running at wall speed
    out = OutboxDelivery(
        db.sessions, {"mqtt": MqttSink("127.0.0.1", broker.port, topic, timeout_s=1.0)},
        keyring=db.keyring, backoff_s=0.1, backoff_max_s=0.5, poll_s=0.5,
        clock=lambda: AT + timedelta(seconds=time.monotonic() - m0))
    try:
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        assert subscribed.wait(10)
        out.start()
        first = record(db, *dep_sid, 1, ("mqtt",))
        out.wake()
        assert wait_for(lambda: set(first) <= set(got), 10)
        broker.stop()
        later = record(db, *dep_sid, 3, ("mqtt",))
        out.wake()
        assert wait_for(lambda: out.stats()["mqtt"]["retries"] >= 2, 15)
        assert out.stats()["mqtt"]["pending"] == 3
        broker.start()
        assert wait_for(lambda: set(first + later) <= set(got), 20), (got, out.stats())
        assert wait_for(lambda: out.stats()["mqtt"]["delivered"] == 4, 5)
        assert out.stats()["mqtt"]["pending"] == 0 and out.failed() == []
    finally:
        out.stop(5)
        sub.loop_stop()
        sub.disconnect()
        broker.stop()
