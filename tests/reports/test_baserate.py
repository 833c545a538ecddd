"""The base-rate calculator reproduces the published figures of the three worked cases."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.errors import ConfigError
from openlfr.reports.baserate import (
    NPL_2023,
    WORKED_EXAMPLES,
    expected_alerts,
    observed_rates,
    parse_rate,
    scenario_grid,
)

from .helpers import wilson_reference


def test_oxford_circus_2020_published_counts() -> None:
    # Published: 8,600 faces scanned, 8 alerts, 7 of them false.
    obs = WORKED_EXAMPLES["oxford-circus-2020"].observed
    assert (obs.passers_by, obs.alerts, obs.false_alerts) == (8_600, 8, 7)
    assert round(obs.false_alert_rate.one_in) == 1_229  # "1 in 1,229"
    assert (obs.precision.successes, obs.precision.total) == (1, 8)  # 1 of 8 correct
    assert obs.share_wrong.rate == pytest.approx(0.875)
    assert obs.precision.interval == pytest.approx(wilson_reference(1, 8), abs=1e-12)
    assert obs.false_alert_rate.interval == pytest.approx(wilson_reference(7, 8_600), abs=1e-12)


def test_met_2024_2025_published_counts() -> None:
    # Published: 3,147,436 faces, 2,077 alerts, 10 false.
    obs = WORKED_EXAMPLES["met-2024-2025"].observed
    assert round(obs.false_alert_rate.one_in) == 314_744  # "1 in 314,744"
    assert obs.confirmed == 2_067
    assert round(100 * obs.precision.rate, 1) == 99.5  # "99.5% of alerts correct"
    assert obs.share_wrong.interval == pytest.approx(wilson_reference(10, 2_077), abs=1e-12)
    lo, hi = wilson_reference(10, 2_077)
    assert obs.precision.interval == pytest.approx((1 - hi, 1 - lo), abs=1e-12)  # symmetric


def test_npl_2023_one_watchlisted_person_in_6000_faces() -> None:
    s = expected_alerts(6_000, 1, NPL_2023["tpir"], NPL_2023["fpir"])
    assert s.expected_true == pytest.approx(0.89)
    assert s.expected_false == pytest.approx(5_999 / 6_000)  # ~1 false alert
    assert s.expected_missed == pytest.approx(0.11)
    assert s.precision == pytest.approx(0.89 / (0.89 + 5_999 / 6_000))
    assert round(s.precision, 3) == 0.471  # fewer than half the alerts are right
    assert s.share_wrong == pytest.approx(1 - s.precision)


def test_npl_fpir_is_the_one_in_6000_when_nobody_is_watchlisted() -> None:
    s = expected_alerts(60_000, 0, 0.89, 1 / 6000)
    assert s.false_alert_one_in == pytest.approx(6_000)
    assert s.expected_false == pytest.approx(10.0)
    assert s.precision == 0.0 and s.share_wrong == 1.0


def test_precision_rises_with_the_base_rate_and_falls_with_the_crowd() -> None:
    grid = {(s.crowd, s.present): s.precision
            for s in scenario_grid([1_000, 60_000], [1, 10], 0.89, 1 / 6000)}
    assert grid[(1_000, 1)] < grid[(1_000, 10)]
    assert grid[(60_000, 10)] < grid[(1_000, 10)]
    assert grid[(60_000, 1)] == pytest.approx(0.89 / (0.89 + 59_999 / 6_000))


def test_no_expected_alert_gives_no_precision() -> None:
    s = expected_alerts(100, 0, 0.9, 0.0)
    assert s.precision is None and s.share_wrong is None and s.false_alert_one_in is None


@pytest.mark.parametrize(("text", "value"), [
    ("0.89", 0.89), ("89%", 0.89), ("1/6000", 1 / 6000), ("1:6,000", 1 / 6000), (0.5, 0.5)])
def test_parse_rate(text: str | float, value: float) -> None:
    assert parse_rate(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["1.5", "-0.1", "abc", "1/0", "120%"])
def test_parse_rate_refuses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_rate(text)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: expected_alerts(10, 11, 0.9, 0.01), "cannot exceed the crowd"),
    (lambda: expected_alerts(10, 1, 1.2, 0.01), "TPIR"),
    (lambda: observed_rates(10, 11, 0), "cannot exceed faces"),
    (lambda: observed_rates(100, 5, 4, 2), "cannot exceed alerts"),
])
def test_impossible_inputs_are_refused(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        call()


def test_not_engaged_alerts_are_left_out_of_precision() -> None:
    obs = observed_rates(passers_by=1_000, alerts=10, false_alerts=2, not_engaged=3)
    assert (obs.precision.successes, obs.precision.total) == (5, 7)
    assert (obs.false_alert_rate.successes, obs.false_alert_rate.total) == (2, 1_000)


runner = CliRunner()


def test_cli_expected_json_is_one_object() -> None:
    res = runner.invoke(app, ["baserate", "--crowd", "6000", "--present", "1", "--tpir", "89%",
                              "--fpir", "1/6000", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["mode"] == "expected"
    (s,) = out["scenarios"]
    assert s["expected_true_alerts"] == pytest.approx(0.89)
    assert s["expected_false_alerts"] == pytest.approx(5_999 / 6_000)


def test_cli_observed_json() -> None:
    res = runner.invoke(app, ["baserate", "--faces", "8600", "--alerts", "8",
                              "--false-alerts", "7", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["false_alert_rate"]["count"] == 7 and out["false_alert_rate"]["of"] == 8_600
    assert round(out["false_alert_rate"]["one_in"]) == 1_229
    assert out["alert_precision"]["count"] == 1 and out["alert_precision"]["of"] == 8


def test_cli_examples_and_text() -> None:
    res = runner.invoke(app, ["baserate", "--example", "met-2024-2025"])
    assert res.exit_code == 0 and "1 in 314,744" in res.stdout
    res = runner.invoke(app, ["baserate", "--example", "npl-2023", "--json"])
    out = json.loads(res.stdout)
    assert len(out["scenarios"]) == 16
    res = runner.invoke(app, ["baserate", "--crowd", "6000", "--present", "1", "--tpir", "0.89",
                              "--fpir", "1/6000"])
    assert "47.1%" in res.stdout and "1 in 6,001 faces" in res.stdout


def test_cli_refuses_mixed_modes() -> None:
    res = runner.invoke(app, ["baserate", "--crowd", "10", "--faces", "10"])
    assert res.exit_code != 0
    assert isinstance(res.exception, ConfigError)


def test_docs_tables_match_the_calculator() -> None:
    """docs/baserate.md quotes figures the calculator gives (kept in step by this test)."""
    from pathlib import Path

    from openlfr.reports._format import describe, fmt_one_in, fmt_pct

    doc = (Path(__file__).resolve().parents[2] / "docs" / "baserate.md").read_text()
    for key in ("oxford-circus-2020", "met-2024-2025"):
        obs = WORKED_EXAMPLES[key].observed
        assert f"**{fmt_one_in(obs.false_alert_rate)}**" in doc
        assert f"**{fmt_pct(obs.precision.rate)}**" in doc
        for p in (obs.false_alert_rate, obs.precision, obs.share_wrong):
            lo, hi = p.interval
            assert f"{fmt_pct(lo)} to {fmt_pct(hi)}" in doc, describe(p)
    rows = 0
    for s in scenario_grid([1_000, 6_000, 10_000, 60_000], [0, 1, 10], 0.89, 1 / 6000):
        if f"| {s.crowd:,} | {s.present} |" in doc:
            assert (f"| {s.crowd:,} | {s.present} | {s.expected_true:.2f} | "
                    f"{s.expected_false:.2f} | {fmt_pct(s.precision)} |") in doc
            rows += 1
    assert rows == 8
