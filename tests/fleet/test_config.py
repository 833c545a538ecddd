"""The server's one strict config file: defaults, per-camera overrides, sinks, bus and node;
a wrong file is refused naming the key and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from openlfr.errors import ConfigError
from openlfr.fleet.config import (
    CameraSettings,
    ServerConfig,
    deep_merge,
    load_server_config,
    with_cli_sinks,
)
from openlfr.pipeline.tracker import IoUTrackerConfig
from openlfr.pipeline.worker import WorkerConfig
from openlfr.vision.detectors import ScrfdConfig, YunetConfig
from openlfr.vision.engine import VisionConfig
from openlfr.vision.quality import QualityConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "server.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "server.yaml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_server_config(_write(tmp_path, text))
    return str(info.value)


def test_defaults(tmp_path: Path) -> None:
    for cfg in (ServerConfig(), load_server_config(_write(tmp_path, ""))):
        cam = cfg.camera_settings("any")
        assert cam.detector == ScrfdConfig() and cam.quality == QualityConfig()
        assert cam.tracker == IoUTrackerConfig() and cam.min_hits == 1
        assert cam.preview.enabled and cam.preview.every == 2 and cam.sinks == []
        assert cfg.nats.url is None and cfg.nats.servers == []
        assert (cfg.node.name, cfg.node.max_cameras, cfg.node.grace_s) == (None, 4, 10.0)
        assert cfg.node.lease_s == 6.0  # the node stops at its lease's end, grace or not
    # the knobs are the models that define them: bounds and descriptions come along
    assert CameraSettings.model_fields["min_hits"].description
    assert CameraSettings.model_fields["preview"].description


def test_overrides_merge_deep(tmp_path: Path) -> None:
    cfg = load_server_config(_write(tmp_path, """
camera:
  detector: {max_size: 800, score_threshold: 0.45}
  quality: {min_face_px: 40}
  tracker: {max_missed: 8}
  min_hits: 2
cameras:
  gate-1:
    quality: {min_sharpness: 30}
    detector: {max_size: 480}
  van: {detector: {type: yunet}, min_hits: 1, preview: {enabled: false}}
  plain: {}
"""))
    gate = cfg.camera_settings("gate-1")
    assert gate.detector == ScrfdConfig(max_size=480, score_threshold=0.45)  # merged
    assert gate.quality == QualityConfig(min_face_px=40, min_sharpness=30)
    assert gate.tracker.max_missed == 8 and gate.min_hits == 2
    van = cfg.camera_settings("van")
    assert van.detector == YunetConfig()  # another backend: replaced whole, its own defaults
    assert van.min_hits == 1 and not van.preview.enabled and van.quality.min_face_px == 40
    assert cfg.camera_settings("plain") == cfg.camera_settings("unlisted") == \
        cfg.camera.model_copy(update={"sinks": []})
    # what a camera process builds from them
    vision = gate.vision_config(VisionConfig(threads=1))
    assert vision.detector.max_size == 480 and vision.threads == 1
    worker = WorkerConfig(camera_id="gate-1", threshold=0.4, **gate.worker_options())
    assert worker.min_hits == 2 and worker.preview and worker.tracker.max_missed == 8
    # programmatic construction merges the same way (only the fields an override sets)
    built = ServerConfig(camera=CameraSettings(min_hits=3),
                         cameras={"x": CameraSettings(quality=QualityConfig(min_score=0.7))})
    assert built.camera_settings("x").min_hits == 3
    assert built.camera_settings("x").quality.min_score == 0.7


def test_deep_merge() -> None:
    base = {"a": {"b": 1, "c": 2}, "l": [1, 2], "d": {"type": "x", "k": 1}}
    assert deep_merge(base, {"a": {"c": 3}, "l": [3]}) == {
        "a": {"b": 1, "c": 3}, "l": [3], "d": {"type": "x", "k": 1}}
    assert deep_merge(base, {"d": {"type": "y"}})["d"] == {"type": "y"}
    assert deep_merge(base, {"d": {"k": 2}})["d"] == {"type": "x", "k": 2}


def test_unknown_keys_are_refused_with_their_name_and_line(tmp_path: Path) -> None:
    msg = _error(tmp_path, "camera:\n  min_hits: 2\n  min_hit: 3\n")
    assert "camera.min_hit (line 3): Extra inputs are not permitted" in msg
    assert str(tmp_path / "server.yaml") in msg
    msg = _error(tmp_path, "cameras:\n  gate-1:\n    quality:\n      min_face: 10\n")
    assert "cameras.gate-1.quality.min_face (line 4)" in msg
    msg = _error(tmp_path, "nat:\n  url: nats://x:4222\n")
    assert "nat (line 1): Extra inputs" in msg
    msg = _error(tmp_path, "camera:\n  detector: {type: yunet, runtime: {}}\n")
    assert "camera.detector.yunet.runtime (line 2)" in msg  # yunet runs no ONNX model


def test_bad_values_are_refused(tmp_path: Path) -> None:
    cases = {
        "camera:\n  quality: {min_frontality: 1.5}\n": "camera.quality.min_frontality (line 2)",
        "camera:\n  min_hits: 0\n": "camera.min_hits (line 2): Input should be greater",
        "cameras:\n  gate-1:\n    tracker:\n      iou_threshold: 2\n":
            "cameras.gate-1.tracker.iou_threshold (line 4)",
        "camera:\n  detector: {type: retina}\n": "camera.detector (line 2)",
        "camera:\n  preview: {every: 0}\n": "camera.preview.every (line 2)",
        "cameras:\n  'bad id!': {}\n": "cameras.bad id!.[key]",
        "node:\n  max_cameras: 0\n": "node.max_cameras (line 2)",
        "node:\n  lease_s: 1\n": "node.lease_s (line 2)",
        "nats:\n  url: http://x:4222\n": "nats.url (line 2): Value error, expected nats://",
        "nats:\n  tls_cert: /a.pem\n  url: nats://x\n": "tls_cert and tls_key go together",
        "nats:\n  credentials: /c.creds\n": "set url",
        "sinks:\n  a: smtp://x\n": "sinks.a (line 2): sink a: unknown kind",
        "sinks:\n  a: 'webhook:ftp://x'\n": "webhook: expects an http(s) URL",
        "sinks:\n  a: 'mqtt://host/top/#'\n": "no wildcards",
        "min_hits: 2\n": "min_hits (line 1): Extra inputs",
        "camera:\n  min_hits: 1\n  min_hits: 2\n": "camera.min_hits (line 3): given twice",
    }
    for text, expected in cases.items():
        msg = _error(tmp_path, text)
        assert expected in msg, (text, msg)
    # the defaults are wrong: said once, at `camera`, not again for every camera
    msg = _error(tmp_path, "camera:\n  min_hits: 0\ncameras:\n  a: {}\n  b: {}\n")
    assert msg.count("min_hits") == 1
    assert "- 1\n" not in _error(tmp_path, "- 1\n")  # not a mapping: said, not echoed
    assert "not valid YAML" in _error(tmp_path, "camera: [\n")


def test_values_are_not_echoed(tmp_path: Path) -> None:
    msg = _error(tmp_path, "sinks:\n  hook: 'webhook:ftp://user:s3cret@host/x'\n")
    assert "s3cret" not in msg and "sinks.hook (line 2)" in msg


def test_unknown_sink_names_are_refused(tmp_path: Path) -> None:
    sinks = "sinks:\n  archive: 'jsonl:-'\n  room: mqtt://10.0.0.5/openlfr/alerts\n"
    ok = load_server_config(_write(tmp_path, sinks + "default_sinks: [archive]\n"
                                   "cameras:\n  gate-1: {sinks: [room]}\n"))
    assert ok.camera_settings("gate-1").sinks == ["room"]
    assert ok.camera_settings("other").sinks == ["archive"]
    msg = _error(tmp_path, sinks + "default_sinks: [archive, room, archiv]\n")
    assert "default_sinks.2 (line 4): unknown sink 'archiv' (defined under sinks: " \
           "archive, room)" in msg
    msg = _error(tmp_path, sinks + "cameras:\n  gate-1:\n    sinks: [room, rom]\n")
    assert "cameras.gate-1.sinks.1 (line 6): unknown sink 'rom'" in msg
    msg = _error(tmp_path, sinks + "camera:\n  sinks: [nowhere]\n")
    assert "camera.sinks.0 (line 5): unknown sink 'nowhere'" in msg
    msg = _error(tmp_path, "default_sinks: [a]\n")
    assert "unknown sink 'a' (defined under sinks: none)" in msg
    msg = _error(tmp_path, sinks + "default_sinks: [room, room]\n")
    assert "named twice" in msg


def test_example_file_loads() -> None:
    cfg = load_server_config(EXAMPLE)
    assert set(cfg.cameras) == {"gate-1", "concourse-2", "van-rear"}
    gate = cfg.camera_settings("gate-1")
    assert gate.quality.min_face_px == 64 and gate.quality.min_frontality == 0.3
    assert gate.sinks == ["control-room", "archive"]
    assert cfg.camera_settings("concourse-2").detector.max_size == 960
    assert cfg.camera_settings("concourse-2").min_hits == 2
    assert cfg.camera_settings("van-rear").detector.type == "yunet"
    assert cfg.camera_settings("elsewhere").sinks == ["archive"]
    assert cfg.node.name == "centre-1" and cfg.nats.url is None
    assert ServerConfig.from_yaml(EXAMPLE) == cfg


def test_cli_sinks_reach_every_camera() -> None:
    cfg = load_server_config(EXAMPLE)
    assert with_cli_sinks(cfg, []) is cfg and with_cli_sinks(None, []) == ServerConfig()
    both = with_cli_sinks(cfg, ["jsonl:-", "mqtt://127.0.0.1:1883/t"])
    assert both.sinks["cli-1"] == "jsonl:-" and both.default_sinks == ["archive", "cli-1",
                                                                       "cli-2"]
    assert both.camera_settings("gate-1").sinks == ["control-room", "archive", "cli-1", "cli-2"]
    assert both.camera_settings("elsewhere").sinks == ["archive", "cli-1", "cli-2"]
    assert both.camera_settings("concourse-2").detector.max_size == 960  # the rest unchanged
    assert both.camera_settings("van-rear").detector == cfg.camera_settings("van-rear").detector
    with pytest.raises(ConfigError, match=r"sinks.cli-2: sink cli-2: unknown kind"):
        with_cli_sinks(None, ["jsonl:-", "smtp://mail"])


def test_round_trip() -> None:
    cfg = load_server_config(EXAMPLE)
    assert ServerConfig.model_validate(cfg.model_dump()) == cfg
    assert ServerConfig.model_validate(cfg.model_dump(mode="json", exclude_unset=True)) == cfg
