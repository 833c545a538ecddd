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
