"""The per-deployment report: exact counts and intervals, JSON, HTML, PDF, timeline."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from openlfr.errors import ConfigError
from openlfr.metrics import Proportion
from openlfr.reports.deployment import (
    AlertPoint,
    DeploymentFigures,
    figures_json,
    render_html,
    render_pdf,
    timeline_png,
)

from .conftest import T0, make_figures
from .helpers import check_html, wilson_reference


def test_counts_by_outcome(figures: DeploymentFigures) -> None:
    assert figures.alert_count == 8
    assert figures.outcome_counts == {"confirmed": 3, "rejected": 2, "not_engaged": 1,
                                      "disputed": 1, "pending": 1}
    assert figures.adjudicated == 5
    assert figures.timeline_complete and figures.warnings == []


def test_rates_and_intervals(figures: DeploymentFigures) -> None:
    assert figures.false_alert_rate == Proportion(2, 2_400)
    assert figures.false_alert_rate.interval == pytest.approx(wilson_reference(2, 2_400))
    assert figures.false_alert_rate.one_in == 1_200
    assert figures.alert_precision == Proportion(3, 5)
    assert figures.alert_precision.interval == pytest.approx(wilson_reference(3, 5))


def test_json(figures: DeploymentFigures) -> None:
    out = json.loads(json.dumps(figures_json(figures)))  # JSON-safe
    assert out["deployment"]["kind"] == "live"
    assert out["deployment"]["window"] == {"start": "2025-03-01T10:00:00Z",
                                           "end": "2025-03-01T16:00:00Z"}
    assert out["counts"] == {"frames_analysed": 54_000, "frames_dropped": 120,
                             "faces_detected": 9_000, "tracks": 2_400}
    assert out["alerts"] == {"total": 8, "confirmed": 3, "rejected": 2, "not_engaged": 1,
                             "disputed": 1, "pending": 1, "adjudicated": 5}
    far = out["rates"]["false_alert_rate"]
    assert (far["count"], far["of"]) == (2, 2_400)
    assert far["ci95"] == pytest.approx(list(wilson_reference(2, 2_400)))
    prec = out["rates"]["alert_precision"]
    assert (prec["count"], prec["of"], prec["rate"]) == (3, 5, 0.6)
    assert "confirmed + rejected" in prec["definition"]
    assert out["watchlist"] == {"size": 1_200, "categories": {"missing_person_at_risk": 400,
                                                              "wanted_by_courts": 800}}
    assert out["matching"] == {"threshold": 0.6, "model": "arcface-mbf-webface600k"}
    assert [a["outcome"] for a in out["timeline"]][:3] == ["confirmed", "rejected", "rejected"]
    assert out["timeline"][0]["at"] == "2025-03-01T10:03:00Z"


def test_counts_survive_purged_alert_records() -> None:
    """Counters keep the outcomes after the alert records are deleted."""
    full = make_figures()
    f = DeploymentFigures(**{**full.__dict__, "timeline": full.timeline[5:]})
    assert f.outcome_counts == full.outcome_counts
    assert f.alert_precision == Proportion(3, 5)
    assert not f.timeline_complete
    assert any("3 of 8 alerts" in w for w in f.warnings)
    assert "3 of 8 alerts" in render_html(f)


def test_incomplete_track_counter_makes_the_rate_undefined() -> None:
    f = make_figures(tracks=1)
    assert f.false_alert_rate is None
    assert "fewer tracks" in f.warnings[0]
    assert figures_json(f)["rates"]["false_alert_rate"]["rate"] is None
    assert "undefined" in render_html(f)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"kind": "test"}, "kind"),
    ({"tracks": -1}, "negative"),
    ({"window_end": T0 - timedelta(hours=1)}, "ends before"),
])
def test_invalid_figures_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_figures(**overrides)


def test_more_outcomes_than_alerts_is_refused(figures: DeploymentFigures) -> None:
    with pytest.raises(ConfigError, match="cannot have"):
        DeploymentFigures(**{**figures.__dict__, "alerts": 4})
    with pytest.raises(ConfigError, match="outcome"):
        AlertPoint(T0, "maybe")  # type: ignore[arg-type]


def _png_array(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)


def test_timeline_png_is_not_blank(figures: DeploymentFigures) -> None:
    a = _png_array(timeline_png(figures))
    assert a.shape == (286, 880)
    assert a.std() > 10


def test_timeline_without_alerts_or_end() -> None:
    f = make_figures(window_end=None, ended_at=None, started_at=None)
    f = DeploymentFigures(**{**f.__dict__, "timeline": (), "alerts": 0, "confirmed": 0,
                             "rejected": 0, "not_engaged": 0, "disputed": 0})
    assert _png_array(timeline_png(f)).std() > 5  # axes and labels, no warning raised


def test_html_is_well_formed_self_contained_and_states_the_rates(
        figures: DeploymentFigures) -> None:
    html = render_html(figures)
    assert check_html(html) == []
    assert "2 of 2,400 tracks = 0.083%" in html
    assert "about 1 in 1,200" in html
    assert "3 of 5 adjudicated alerts = 60.0%" in html
    assert "How often a passer-by" in html and "How often an alert turned out" in html
    assert "wanted by courts" in html and "arcface-mbf-webface600k" in html
    m = re.search(r'src="data:image/png;base64,([^"]+)"', html)
    assert m is not None
    assert _png_array(base64.b64decode(m.group(1))).std() > 10


def test_html_says_evaluation_and_escapes_text() -> None:
    html = render_html(make_figures(kind="evaluation", name="<script>alert(1)</script>"))
    assert "Evaluation deployment" in html and "not counted as live use" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert check_html(html) == []


def test_pdf_renders_to_a_non_blank_page(figures: DeploymentFigures, tmp_path: Path) -> None:
    pdf = render_pdf(figures)
    assert pdf.startswith(b"%PDF-")
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is absent: run scripts/ensure-chromium as root "
                    "or apt-get install poppler-utils")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1",
                    str(tmp_path / "r.pdf"), str(tmp_path / "page")], check=True, timeout=60)
    (page,) = sorted(tmp_path.glob("page*.png"))
    a = _png_array(page.read_bytes())
    assert a.shape[0] > a.shape[1]  # A4 portrait
    assert a.std() > 10  # text and tables, not a blank page
    assert (a < 128).mean() > 0.005  # some dark ink
