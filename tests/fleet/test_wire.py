"""What crosses the bus: sealed bundles and alert / counter messages."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from openlfr.alerts.model import AlertEvent
from openlfr.errors import ConfigError
from openlfr.fleet.bundle import Bundle, load_fleet_key, seal, unseal
from openlfr.fleet.events import CountersEvent, alert_from_wire, alert_to_wire, counters_from_wire
from openlfr.pipeline.tracker import settings_fingerprint

KEY = bytes(range(32))


def _bundle(dep: int = 7) -> Bundle:
    emb = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    return Bundle(deployment_id=dep, kind="live", threshold=0.4, embedder_key="e",
                  cameras={"gate": "rtsp://user:secret@cam/1"}, subject_ids=["1", "2", "2"],
                  labels=["A", "B", "B"], categories=["wanted", "missing", "missing"],
                  embeddings=emb)


def test_a_bundle_opens_only_for_its_deployment_under_the_fleet_key() -> None:
    b = _bundle()
    blob, digest = seal(b, KEY)
    assert b"secret" not in blob and b"gate" not in blob  # sources and ids are sealed
    out = unseal(blob, KEY, 7)
    assert out.digest == digest and out.cameras == b.cameras
    np.testing.assert_array_equal(out.embeddings, b.embeddings)
    assert "secret" not in repr(out) and "rtsp" not in repr(out)
    with pytest.raises(ConfigError, match="cannot be opened"):
        unseal(blob, KEY, 8)  # another deployment's key
    with pytest.raises(ConfigError, match="cannot be opened"):
        unseal(blob, bytes(32), 7)  # another fleet
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(ConfigError):
        unseal(bytes(tampered), KEY, 7)
    assert len(out.index()) == 2


def test_fleet_key_sources(tmp_path) -> None:
    value = base64.b64encode(KEY).decode()
    assert load_fleet_key(value, None) == KEY
    with pytest.raises(ConfigError, match="no fleet key"):
        load_fleet_key(None, None)
    with pytest.raises(ConfigError, match="32 bytes"):
        load_fleet_key(base64.b64encode(b"short").decode(), None)
    dev = load_fleet_key(None, None, dev_dir=tmp_path)
    assert len(dev) == 32 and load_fleet_key(None, None, dev_dir=tmp_path) == dev
    assert (tmp_path / "fleet.key").stat().st_mode & 0o777 == 0o600


def _alert() -> AlertEvent:
    return AlertEvent(camera_id="gate", time=datetime(2026, 12, 1, 12, tzinfo=UTC), track_id=4,
                 subject_id="12", label="A", score=0.61, threshold=0.4,
                 probe_jpeg=b"\xff\xd8jpeg\xff\xd9", frame_index=99, media_time_s=3.96,
                 category="wanted", deployment_id=7)


def test_an_alert_keeps_its_id_and_probe_across_the_bus() -> None:
    a = _alert()
    back = alert_from_wire(alert_to_wire(a))
    assert back.alert_id == a.alert_id and back.probe_jpeg == a.probe_jpeg
    assert (back.deployment_id, back.camera_id, back.track_id, back.subject_id,
            back.frame_index, back.time) == (7, "gate", 4, "12", 99, a.time)


@pytest.mark.parametrize("change", [
    {"alert_id": "not hex!"}, {"deployment_id": 0}, {"score": 7}, {"time": "2026-12-01T12:00"},
    {"probe_jpeg_b64": "***"}, {"extra": 1}, {"camera_id": ""}])
def test_malformed_alert_messages_are_refused_clearly(change: dict) -> None:
    d = json.loads(alert_to_wire(_alert()))
    d.update(change)
    with pytest.raises(ConfigError, match="malformed alert message"):
        alert_from_wire(json.dumps(d).encode())
    with pytest.raises(ConfigError, match="malformed alert message"):
        alert_from_wire(b"\x00not json")


def test_counters_round_trip_and_refuse_negative_figures() -> None:
    ev = CountersEvent(run_id="ab" * 16, seq=3, deployment_id=1, camera_id="c", frames=10,
                       faces=4, at=datetime.now(UTC))
    assert counters_from_wire(ev.to_wire()) == ev
    bad = json.loads(ev.to_wire())
    bad["frames"] = -1
    with pytest.raises(ConfigError, match="malformed counters"):
        counters_from_wire(json.dumps(bad).encode())
    fp = ev.model_copy(update={"tracker": settings_fingerprint(None)})
    assert counters_from_wire(fp.to_wire()).tracker == settings_fingerprint(None)
    bad = json.loads(fp.to_wire())
    bad["tracker"] = "md5:whatever"
    with pytest.raises(ConfigError, match="malformed counters"):
        counters_from_wire(json.dumps(bad).encode())
