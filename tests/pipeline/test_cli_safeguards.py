"""``openlfr scan`` refuses live capture outside a governed deployment (safeguard 1)."""

from __future__ import annotations

import sys

import pytest

from openlfr.cli import main


@pytest.mark.parametrize("source, kind", [
    ("rtsp://127.0.0.1:8554/cam", "stream"),
    ("http://127.0.0.1:9/mjpeg", "stream"),
    ("0", "webcam"),
])
def test_live_source_without_deployment_is_refused(monkeypatch, capsys, tmp_path, source, kind):
    ref = tmp_path / "someone.jpg"  # never opened: the refusal comes first
    monkeypatch.setattr(sys, "argv", ["openlfr", "scan", source, "--watchlist", str(ref)])
    with pytest.raises(SystemExit) as exc:
        main()
    out, err = capsys.readouterr()
    assert exc.value.code == 2
    assert f"{kind} sources are scanned only inside an active, authorised deployment" in err
    assert "Traceback" not in err and out == ""
