"""The false alert rate's denominator is shown with the measured tracks per person."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from openlfr.evaluation.tracking import reference
from openlfr.evaluation.tracking.reference import ReferenceFragmentation, tracker_fingerprint
from openlfr.reports.deployment import figures_json, render_html, render_pdf
from openlfr.reports.transparency import TransparencyFigures, transparency_json
from openlfr.reports.transparency import render_html as transparency_html

from .conftest import T0, make_figures

MEASURED = "1 in 1,200 tracks; on reference clips 1.3x tracks per person"


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A reference file with a figure for the default tracker settings only."""
    path = tmp_path / "tracking-reference.json"
    monkeypatch.setattr(reference, "REFERENCE_PATH", path)
    fp = tracker_fingerprint(None)
    reference.record_reference(ReferenceFragmentation(
        fp, "byte", 1.27, 165, 130, 0.95, ("cross", "demo-pass"), "scrfd (max_size 640)",
        "2026-12-02", {}))
    return fp


def test_deployment_report_with_the_settings_recorded(recorded: str) -> None:
    f = make_figures(tracker_fingerprint=recorded)
    html = render_html(f)
    assert MEASURED in html
    far = figures_json(f)["rates"]["false_alert_rate"]
    assert far["tracks_per_person"]["reference"]["tracks_per_person"] == 1.27
    assert far["tracks_per_person"]["note"] == "on reference clips 1.3x tracks per person"
    assert render_pdf(f).startswith(b"%PDF")


def test_settings_not_recorded_assume_the_defaults_and_say_so(recorded: str) -> None:
    html = render_html(make_figures())
    assert (MEASURED + " (default tracker settings; the settings in use were not recorded)"
            in html)


def test_settings_never_measured(recorded: str) -> None:
    f = make_figures(tracker_fingerprint="sha256:00000000deadbeef")
    html = render_html(f)
    assert "1 in 1,200 tracks; tracks per person not measured for these tracker settings" in html
    assert figures_json(f)["rates"]["false_alert_rate"]["tracks_per_person"]["reference"] is None


def test_no_false_alerts_still_states_the_fragmentation(recorded: str) -> None:
    f = make_figures(tracker_fingerprint=recorded)
    f = type(f).from_timeline([], **{k: getattr(f, k) for k in (
        "deployment_id", "name", "purpose", "place", "kind", "window_start", "window_end",
        "frames_analysed", "frames_dropped", "faces_detected", "tracks", "watchlist_size",
        "watchlist_categories", "threshold", "model", "tracker_fingerprint")})
    assert "On reference clips 1.3x tracks per person" in render_html(f)


def test_transparency_report(recorded: str) -> None:
    one = make_figures(tracker_fingerprint=recorded)
    other = make_figures(deployment_id="18", tracker_fingerprint="sha256:00000000deadbeef")
    period = (T0 - timedelta(days=1), T0 + timedelta(days=1))
    report = TransparencyFigures(*period, (one,))
    assert MEASURED in transparency_html(report)
    assert transparency_json(report)["totals"]["live"]["tracks_per_person"] == (
        "on reference clips 1.3x tracks per person")
    mixed = transparency_json(TransparencyFigures(*period, (one, other)))
    assert "different tracker settings" in mixed["totals"]["live"]["tracks_per_person"]
