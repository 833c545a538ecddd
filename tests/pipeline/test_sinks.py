"""Alert sinks (JSON lines, webhook to a local HTTP server, MQTT to local Mosquitto) and
off-loop delivery with retries."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from openlfr.alerts.model import AlertEvent
from openlfr.alerts.sinks import Dispatcher, JsonlSink, MqttSink, WebhookSink, sink_from_spec
from openlfr.errors import ConfigError
from openlfr.pipeline.testing import RecordingSink

from ._fakes import webhook_server

PROBE = b"\xff\xd8\xff\xe0fake-jpeg-bytes\xff\xd9"


def alert(**kw) -> AlertEvent:
    base = dict(camera_id="cam1", time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), track_id=7,
                subject_id="s1", label="Subject One", score=0.61, threshold=0.38,
                probe_jpeg=PROBE, watchlist_image_ref="subject:s1/image/0")
    base.update(kw)
    return AlertEvent(**base)


def test_jsonl_file_references_the_crop_instead_of_inlining_it(tmp_path):
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(path)
    sink.send(alert())
    sink.send(alert(track_id=8))
    sink.close()
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["track_id"] for r in rows] == [7, 8]
    assert rows[0]["probe"]["ref"].endswith("/probe.jpg")
    assert len(rows[0]["probe"]["sha256"]) == 64
    assert "jpeg_base64" not in rows[0]["probe"]
    assert "fake-jpeg" not in path.read_text()


def test_jsonl_inlines_the_crop_only_when_asked(tmp_path):
    path = tmp_path / "a.jsonl"
    s = JsonlSink(path, include_probe=True)
    s.send(alert())
    s.close()
    assert "jpeg_base64" in json.loads(path.read_text())["probe"]


def test_webhook_retries_server_errors_with_backoff_then_delivers():
    with webhook_server(fail_first=2) as hook:
        d = Dispatcher([WebhookSink(hook["url"])], retries=4, backoff_s=0.01)
        d.submit(alert())
        assert d.flush(10)
        d.close()
        stats = d.stats()[f"webhook:{hook['url']}"]
    assert stats["delivered"] == 1 and stats["failed_attempts"] == 2
    assert hook["attempts"] == 3
    assert hook["posts"][0]["subject_id"] == "s1"


def test_webhook_client_errors_are_not_retried():
    with webhook_server(fail_first=5, status=403) as hook:
        d = Dispatcher([WebhookSink(hook["url"])], retries=4, backoff_s=0.01)
        d.submit(alert())
        d.close()
        st = next(iter(d.stats().values()))
    assert hook["attempts"] == 1 and st["given_up"] == 1 and st["failed_attempts"] == 1


def test_unreachable_webhook_is_given_up_and_counted_without_blocking_submit():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    gate, entered = threading.Event(), threading.Event()

    class Held(WebhookSink):  # the first delivery attempt waits until the test lets it go
        def send(self, a):
            entered.set()
            assert gate.wait(30)
            super().send(a)

    d = Dispatcher([Held(f"http://127.0.0.1:{port}/x", timeout_s=0.5)], retries=2,
                   backoff_s=0.01)
    for i in range(5):
        d.submit(alert(track_id=i))
    # every submit returned while delivery had not even failed once: the frame loop never
    # waits for a sink
    assert entered.wait(30)
    st = next(iter(d.stats().values()))
    assert st["given_up"] == 0 and st["failed_attempts"] == 0
    gate.set()
    assert d.flush(20)
    d.close()
    st = next(iter(d.stats().values()))
    assert st["given_up"] == 5 and st["delivered"] == 0 and st["failed_attempts"] == 10


def test_a_slow_sink_does_not_block_and_a_full_queue_is_counted():
    gate, entered, got = threading.Event(), threading.Event(), threading.Condition()

    class Slow(RecordingSink):
        def send(self, a):
            entered.set()
            assert gate.wait(30)
            super().send(a)

    class Fast(RecordingSink):
        def send(self, a):
            with got:
                super().send(a)
                got.notify_all()

    def fast_has(n: int) -> bool:
        with got:
            return got.wait_for(lambda: len(fast.alerts) >= n, timeout=30)

    slow, fast = Slow(), Fast()
    d = Dispatcher([slow, fast], queue_size=3, retries=1)
    d.submit(alert(track_id=0))
    assert entered.wait(30)  # the slow sink holds alert 0 in flight
    for i in range(1, 6):
        d.submit(alert(track_id=i))
        # the fast sink takes each one while the slow sink still holds the first: it is
        # not held up by it (waiting here keeps the fast lane's own queue from filling on
        # a loaded machine, which would drop alerts for a reason this test is not about)
        assert fast_has(i + 1)
    # submit never waited for the slow sink: all six went out while it still holds the first
    assert slow.alerts == [] and not gate.is_set()
    gate.set()
    d.close()
    slow_stats, fast_stats = (lane.stats for lane in d._lanes)
    assert slow_stats.dropped == 2 and slow_stats.delivered == 4  # 1 in flight + 3 queued
    assert fast_stats.dropped == 0
    assert [a.track_id for a in slow.alerts] == [0, 1, 2, 3]


def test_failing_sink_is_retried():
    flaky = RecordingSink(fail_times=2)
    d = Dispatcher([flaky], retries=3, backoff_s=0.01)
    d.submit(alert())
    d.close()
    assert len(flaky.alerts) == 1 and d.stats()["recording"]["failed_attempts"] == 2


@pytest.mark.parametrize("spec, error", [
    ("jsonl:-", None), ("webhook:http://127.0.0.1:9/x", None),
    ("mqtt://127.0.0.1:1883/openlfr/test", None), ("smtp:x", ConfigError),
    ("webhook:ftp://x", ConfigError), ("mqtt://127.0.0.1/a/#", ConfigError),
])
def test_sink_specs(spec, error):
    if error:
        with pytest.raises(error):
            sink_from_spec(spec)
    else:
        sink_from_spec(spec).close()


def test_webhook_password_stays_out_of_the_sink_name():
    sink = sink_from_spec("webhook:https://hook:s3cret@127.0.0.1:9/x")
    try:
        assert "s3cret" not in sink.name and sink.name == "webhook:https://hook:***@127.0.0.1:9/x"
    finally:
        sink.close()


def _mqtt_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.mqtt
def test_mqtt_sink_publishes_to_mosquitto():
    if not _mqtt_up():
        pytest.skip("Mosquitto is not reachable on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt

    topic = f"openlfr/test/{uuid.uuid4().hex}"
    got: list[dict] = []
    subscribed = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", 1883)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    try:
        assert subscribed.wait(5)
        d = Dispatcher([MqttSink("127.0.0.1", 1883, topic)], retries=2, backoff_s=0.05)
        d.submit(alert())
        d.close()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert got and got[0]["subject_id"] == "s1" and "jpeg_base64" not in got[0]["probe"]
