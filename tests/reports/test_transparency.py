"""The transparency report: deployments of a period, totals per kind, both rates."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from openlfr.errors import ConfigError
from openlfr.metrics import Proportion
from openlfr.reports.deployment import DeploymentFigures
from openlfr.reports.transparency import (
    TransparencyFigures,
    render_html,
    render_pdf,
    transparency_json,
)

from .conftest import T0, make_figures
from .helpers import check_html, wilson_reference


def _report() -> TransparencyFigures:
    a = make_figures()  # 8 alerts: 3 confirmed, 2 rejected, 1 each other; 2,400 tracks
    b = DeploymentFigures(**{**make_figures(deployment_id="18", place="Croydon").__dict__,
                             "window_start": T0 + timedelta(days=2),
                             "window_end": T0 + timedelta(days=2, hours=4),
                             "started_at": None, "ended_at": None, "tracks": 10_000,
                             "alerts": 4, "confirmed": 1, "rejected": 1, "not_engaged": 2,
                             "disputed": 0, "timeline": ()})
    ev = make_figures(deployment_id="19", kind="evaluation", tracks=500)
    return TransparencyFigures(T0 - timedelta(days=1), T0 + timedelta(days=30), (b, ev, a))


def test_totals_per_kind() -> None:
    r = _report()
    assert [f.deployment_id for f in r.deployments] == ["17", "19", "18"]  # by start
    live = r.totals("live")
    assert (live.deployments, live.tracks, live.alerts) == (2, 12_400, 12)
    assert (live.confirmed, live.rejected, live.not_engaged, live.disputed, live.pending) == (
        4, 3, 3, 1, 1)
    assert live.false_alert_rate == Proportion(3, 12_400)
    assert live.alert_precision == Proportion(4, 7)
    ev = r.totals("evaluation")
    assert (ev.deployments, ev.tracks, ev.rejected) == (1, 500, 2)


def test_json() -> None:
    out = json.loads(json.dumps(transparency_json(_report())))
    assert out["period"] == {"from": "2025-02-28T10:00:00Z", "to": "2025-03-31T10:00:00Z"}
    assert len(out["deployments"]) == 3
    live = out["totals"]["live"]
    assert (live["false_alert_rate"]["count"], live["false_alert_rate"]["of"]) == (3, 12_400)
    assert live["false_alert_rate"]["ci95"] == pytest.approx(list(wilson_reference(3, 12_400)))
    assert (live["alert_precision"]["count"], live["alert_precision"]["of"]) == (4, 7)
    assert out["totals"]["evaluation"]["alerts"] == 8


def test_html_and_pdf() -> None:
    r = _report()
    html = render_html(r)
    assert check_html(html) == []
    assert "3 of 12,400 tracks" in html and "4 of 7 adjudicated alerts" in html
    assert "Croydon" in html and "evaluation" in html
    pdf = render_pdf(r)
    assert pdf.startswith(b"%PDF-")
    if shutil.which("pdftoppm") is not None:
        text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                              check=True, timeout=60).stdout.decode()
        assert "12,400 tracks" in text


def test_empty_period_renders(tmp_path: Path) -> None:
    r = TransparencyFigures(T0, T0 + timedelta(days=1), ())
    assert "No deployment" in render_html(r)
    assert render_pdf(r).startswith(b"%PDF-")
    assert transparency_json(r)["totals"]["live"]["alert_precision"]["of"] == 0


def test_period_must_be_ordered() -> None:
    with pytest.raises(ConfigError):
        TransparencyFigures(T0, T0, ())


def test_outcome_bars_per_deployment_then_per_month() -> None:
    import io

    import numpy as np
    from PIL import Image

    from openlfr.reports.transparency import MAX_BARS, _bars, outcomes_png

    labels, counts, unit = _bars(_report())
    assert unit == "deployment" and len(labels) == 3 and labels[1].endswith("(eval.)")
    assert counts[2] == {"confirmed": 1, "rejected": 1, "not_engaged": 2, "disputed": 0,
                         "pending": 0}
    a = np.asarray(Image.open(io.BytesIO(outcomes_png(_report()))).convert("L"), dtype=float)
    assert a.std() > 10
    many = tuple(DeploymentFigures(**{**make_figures(deployment_id=str(i)).__dict__,
                                      "window_start": T0 + timedelta(days=i),
                                      "window_end": T0 + timedelta(days=i, hours=2),
                                      "started_at": None, "ended_at": None})
                 for i in range(MAX_BARS + 1))  # 1 March 2025 + 0..40 days
    labels, counts, unit = _bars(TransparencyFigures(T0, T0 + timedelta(days=60), many))
    assert unit == "month" and labels == ["2025-03", "2025-04"]
    assert [c["confirmed"] for c in counts] == [3 * 31, 3 * (MAX_BARS + 1 - 31)]


def test_urgent_use_is_marked() -> None:
    urgent = make_figures(deployment_id="20", extra={"urgent_use": "yes: threat to life"})
    r = TransparencyFigures(T0 - timedelta(days=1), T0 + timedelta(days=30),
                            (urgent, make_figures()))
    rows = {d["id"]: d for d in transparency_json(r)["deployments"]}
    assert rows["20"]["urgent_use"] == "yes: threat to life" and rows["17"]["urgent_use"] is None
    html = render_html(r)
    assert check_html(html) == [] and html.count(">urgent use</strong>") == 1
    if shutil.which("pdftotext") is not None:
        text = subprocess.run(["pdftotext", "-", "-"], input=render_pdf(r), capture_output=True,
                              check=True, timeout=60).stdout.decode()
        assert "[urgent use]" in text
