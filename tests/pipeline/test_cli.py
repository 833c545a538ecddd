"""``openlfr scan`` and ``openlfr watchlist add`` end to end, in-process."""

from __future__ import annotations

import json
import sys

import cv2
import pytest

from openlfr.cli import main

pytestmark = pytest.mark.shared_data


def run(monkeypatch, capsys, *args: str, code: int = 0) -> tuple[str, str]:
    monkeypatch.setattr(sys, "argv", ["openlfr", *args])
    with pytest.raises(SystemExit) as exc:
        main()
        sys.exit(0)
    out, err = capsys.readouterr()
    assert (exc.value.code or 0) == code, f"{args}: exit {exc.value.code}\n{out}\n{err}"
    return out, err


@pytest.fixture(scope="module")
def closeups(hamilton_clip, tmp_path_factory):
    """Frames 80-120 of the Hamilton clip (the cut to the performer's close-ups)."""
    path = tmp_path_factory.mktemp("clip") / "closeups.avi"
    cap = cv2.VideoCapture(str(hamilton_clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 80)
    vw = None
    for _ in range(40):
        ok, img = cap.read()
        assert ok
        if vw is None:
            vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0,
                                 (img.shape[1], img.shape[0]))
        vw.write(img)
    vw.release()
    cap.release()
    return path


def test_scan_prints_alerts_and_a_json_summary(monkeypatch, capsys, tmp_path, closeups,
                                               shared_data):
    ref = shared_data / "video" / "hamilton_references" / "lin-manuel-miranda.png"
    jsonl = tmp_path / "alerts.jsonl"
    preview = tmp_path / "preview.avi"
    out, err = run(monkeypatch, capsys, "scan", str(closeups), "--watchlist", str(ref),
                   "--sink", f"jsonl:{jsonl}", "--preview", str(preview), "--json")
    summary = json.loads(out)
    assert summary["frames"] == 40 and summary["dropped"] == 0
    assert summary["alerts"] == 1 and summary["tracks"] >= 1
    assert summary["alert_list"][0]["subject_id"] == "lin-manuel-miranda"
    assert "threshold" in err and "ALERT possible match" in err  # human lines on stderr
    rows = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert len(rows) == 1 and "jpeg_base64" not in rows[0]["probe"]
    cap = cv2.VideoCapture(str(preview))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    cap.release()


def test_scan_threshold_override_is_reported(monkeypatch, capsys, closeups, shared_data):
    ref = shared_data / "video" / "hamilton_references" / "alex-lacamoire.png"
    out, err = run(monkeypatch, capsys, "scan", str(closeups), "-w", str(ref),
                   "--threshold", "0.9")
    assert "threshold 0.900 (--threshold)" in err
    assert "alerts 0" in out


def test_scan_errors_are_clear(monkeypatch, capsys, tmp_path, shared_data):
    ref = shared_data / "video" / "hamilton_references" / "lin-manuel-miranda.png"
    _, err = run(monkeypatch, capsys, "scan", str(tmp_path / "none.mp4"), "-w", str(ref),
                 code=2)
    assert "video file not found" in err and "Traceback" not in err
    _, err = run(monkeypatch, capsys, "scan", str(tmp_path / "none.mp4"), code=2)
    assert "give a watchlist" in err
    _, err = run(monkeypatch, capsys, "scan", str(tmp_path), "-w", str(ref), "--sink",
                 "smtp:x", code=2)
    assert "unknown sink" in err


def test_watchlist_add_checks_images(monkeypatch, capsys, group_photo, shared_data):
    ref = shared_data / "video" / "hamilton_references" / "lin-manuel-miranda.png"
    out, _ = run(monkeypatch, capsys, "watchlist", "add", "Performer", str(ref), "--check",
                 "--json")
    assert json.loads(out)["usable"] == 1
    _, err = run(monkeypatch, capsys, "watchlist", "add", "Group", str(group_photo),
                 "--check", code=2)
    assert "several usable faces" in err


@pytest.fixture
def governed(tmp_path, monkeypatch, closeups, shared_data):
    """A temporary governed store with the demo's users and an active evaluation
    deployment (camera demo-cam) whose approved snapshot holds the performer."""
    from openlfr.api.demo import seed_demo
    from openlfr.settings import Settings
    from openlfr.vision.engine import VisionEngine

    data = tmp_path / "var"
    data.mkdir()
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(data))
    monkeypatch.setenv("OPENLFR_DEV", "1")
    monkeypatch.delenv("OPENLFR_DATABASE_URL", raising=False)
    settings = Settings()
    ref = shared_data / "video" / "hamilton_references" / "lin-manuel-miranda.png"
    seed = seed_demo(settings, video=closeups, reference=ref, subject_name="Performer",
                     engine=VisionEngine.from_config())
    return settings, seed


def test_scan_inside_a_deployment_records_alerts_and_counters(monkeypatch, capsys, closeups,
                                                              governed):
    from sqlalchemy import create_engine, func, select
    from sqlalchemy.orm import Session

    from openlfr.governance.alerts import get_counters
    from openlfr.store.models import Alert as AlertRow

    settings, seed = governed
    out, err = run(monkeypatch, capsys, "scan", str(closeups), "--deployment",
                   str(seed.deployment_id), "--camera-id", "demo-cam", "--json")
    summary = json.loads(out)
    assert summary["deployment"]["kind"] == "evaluation"
    assert summary["alerts"] == 1 and "authorised threshold" in summary["threshold_source"]
    db = create_engine(settings.resolved_database_url)
    try:
        with Session(db) as s:
            row = s.scalars(select(AlertRow)).one()
            assert row.subject_id == seed.subject_id and row.camera_id == "demo-cam"
            assert s.scalar(select(func.count()).select_from(AlertRow)) == 1
            total = get_counters(s, seed.deployment_id)[0]
            assert total.frames == 40 and total.faces == summary["faces"]
    finally:
        db.dispose()
    # a camera that is not part of the deployment: nothing is analysed
    out, _ = run(monkeypatch, capsys, "scan", str(closeups), "--deployment",
                 str(seed.deployment_id), "--camera-id", "elsewhere", "--json")
    refused = json.loads(out)
    assert refused["frames"] == 0 and refused["refused"] == 40 and refused["alerts"] == 0


def test_watchlist_add_stores_an_accountable_entry(monkeypatch, capsys, governed,
                                                   shared_data):
    ref = shared_data / "video" / "hamilton_references" / "alex-lacamoire.png"
    _, err = run(monkeypatch, capsys, "watchlist", "add", "Pianist", str(ref), "--as",
                 "watchlist", code=2)
    assert "--source" in err  # provenance and justification are required
    out, _ = run(monkeypatch, capsys, "watchlist", "add", "Pianist", str(ref), "--as",
                 "watchlist", "--source", "press photo", "--justification", "test run",
                 "--json")
    res = json.loads(out)
    assert res["stored"] == 1 and res["embedder_key"].startswith("arcface:")
    out, _ = run(monkeypatch, capsys, "watchlist", "subject", "list", "--as", "watchlist",
                 "--json")
    assert "Pianist" in out


def test_scan_config_file_sets_knobs_and_errors_name_the_key(monkeypatch, capsys, tmp_path,
                                                             closeups, shared_data):
    ref = shared_data / "video" / "hamilton_references" / "lin-manuel-miranda.png"
    good = tmp_path / "scan.yaml"
    good.write_text("tracker: {type: iou, max_embeddings: 1}\nmin_hits: 1\n"
                    "threshold: 0.95\n")
    out, err = run(monkeypatch, capsys, "scan", str(closeups), "-w", str(ref), "--config",
                   str(good), "--json")
    summary = json.loads(out)
    assert summary["threshold"] == 0.95 and summary["threshold_source"] == str(good)
    assert summary["faces_embedded"] <= summary["tracks"]  # one embedding per track at most
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracker: {type: iou, max_mised: 3}\n")
    _, err = run(monkeypatch, capsys, "scan", str(closeups), "-w", str(ref), "--config",
                 str(bad), code=2)
    assert "tracker.max_mised" in err and "Traceback" not in err


def test_a_deployment_scan_refuses_a_threshold_override(monkeypatch, capsys, closeups):
    _, err = run(monkeypatch, capsys, "scan", str(closeups), "--deployment", "1",
                 "--threshold", "0.2", code=2)
    assert "authorised threshold" in err
