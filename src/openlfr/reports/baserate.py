"""Base rates: why a low false alert rate and a low alert precision can both be true.

Two different questions, two different denominators (docs/reports.md):

* **false alert rate** = false alerts / faces seen. "1 in 6,000" answers: how often does the
  system wrongly flag a passer-by?
* **alert precision** = correct alerts / alerts. "1 of 8 correct" answers: when the system
  raises an alert, how often is it right?

Precision depends on how many watchlisted people actually walk past (the base rate). With a
crowd of ``C`` faces of whom ``m`` are on the watchlist, a system with true positive
identification rate TPIR and false positive identification rate FPIR is expected to raise

    m * TPIR            true alerts
    (C - m) * FPIR      false alerts

so the precision is ``m*TPIR / (m*TPIR + (C-m)*FPIR)``. When ``m`` is small next to
``C * FPIR`` most alerts are wrong, however small FPIR is.

:func:`expected_alerts` is the forward use (a scenario, before a deployment);
:func:`observed_rates` the inverse use (counts a force published after one), with Wilson
95% intervals because a handful of alerts says little on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from openlfr.errors import ConfigError
from openlfr.metrics import Proportion, alert_precision, false_alert_rate

__all__ = ["BaseRateScenario", "ObservedRates", "WorkedExample", "WORKED_EXAMPLES",
           "NPL_2023", "expected_alerts", "observed_rates", "parse_rate", "scenario_grid",
           "format_one_in"]


def parse_rate(text: str | float) -> float:
    """A rate given as ``0.89``, ``89%``, ``1/6000`` or ``1:6000`` (a number in [0, 1])."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = text.strip().replace(",", "").replace("_", "")
        try:
            if s.endswith("%"):
                value = float(s[:-1]) / 100
            elif "/" in s or ":" in s:
                num, den = s.replace(":", "/").split("/", 1)
                value = float(Fraction(num.strip()) / Fraction(den.strip()))
            else:
                value = float(s)
        except (ValueError, ZeroDivisionError) as exc:
            raise ConfigError(f"cannot read the rate {text!r}: give 0.89, 89%, 1/6000 "
                              f"or 1:6000") from exc
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ConfigError(f"a rate must lie between 0 and 1, got {text!r}")
    return value


def format_one_in(n: float | None) -> str:
    """``1 in 1,229`` (rounded to a whole number); ``none`` when there is nothing to count."""
    return "none" if n is None else f"1 in {n:,.0f}"


@dataclass(frozen=True)
class BaseRateScenario:
    """The expected alerts for one crowd (forward use)."""

    crowd: int
    present: int
    tpir: float
    fpir: float

    @property
    def expected_true(self) -> float:
        """Watchlisted people present who are expected to be alerted on: m * TPIR."""
        return self.present * self.tpir

    @property
    def expected_missed(self) -> float:
        """Watchlisted people present who are expected to pass unnoticed: m * (1 - TPIR)."""
        return self.present * (1 - self.tpir)

    @property
    def expected_false(self) -> float:
        """Passers-by not on the watchlist expected to be alerted on: (C - m) * FPIR."""
        return (self.crowd - self.present) * self.fpir

    @property
    def expected_total(self) -> float:
        return self.expected_true + self.expected_false

    @property
    def precision(self) -> float | None:
        """Expected share of alerts that are correct (None when no alert is expected)."""
        total = self.expected_total
        return None if total == 0 else self.expected_true / total

    @property
    def share_wrong(self) -> float | None:
        """Expected share of alerts that are wrong: 1 - precision."""
        p = self.precision
        return None if p is None else 1 - p

    @property
    def false_alert_rate(self) -> float:
        """Expected false alerts per face seen."""
        return 0.0 if self.crowd == 0 else self.expected_false / self.crowd

    @property
    def false_alert_one_in(self) -> float | None:
        """The false alert rate as "1 in N faces" (None when no false alert is expected)."""
        return None if self.expected_false == 0 else self.crowd / self.expected_false

    def as_dict(self) -> dict[str, object]:
        return {
            "inputs": {"crowd": self.crowd, "present": self.present, "tpir": self.tpir,
                       "fpir": self.fpir},
            "expected_true_alerts": self.expected_true,
            "expected_missed": self.expected_missed,
            "expected_false_alerts": self.expected_false,
            "expected_alerts": self.expected_total,
            "precision": self.precision,
            "share_wrong": self.share_wrong,
            "false_alert_rate": self.false_alert_rate,
            "false_alert_one_in": self.false_alert_one_in,
        }


def expected_alerts(crowd: int, present: int, tpir: float, fpir: float) -> BaseRateScenario:
    """Expected true and false alerts for ``crowd`` faces of whom ``present`` are watchlisted."""
    if crowd < 0 or present < 0:
        raise ConfigError(f"crowd and present must not be negative, got {crowd} and {present}")
    if present > crowd:
        raise ConfigError(f"present ({present}) cannot exceed the crowd ({crowd}): the crowd "
                          f"counts every face seen, watchlisted or not")
    for name, value in (("TPIR", tpir), ("FPIR", fpir)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must lie between 0 and 1, got {value}")
    return BaseRateScenario(crowd, present, tpir, fpir)


def scenario_grid(crowds: list[int], presents: list[int], tpir: float,
                  fpir: float) -> list[BaseRateScenario]:
    """Every (crowd, present) pair with ``present <= crowd``, crowd-major order."""
    return [expected_alerts(c, m, tpir, fpir) for c in crowds for m in presents if m <= c]


@dataclass(frozen=True)
class ObservedRates:
    """Rates from published or recorded counts (inverse use), with Wilson 95% intervals.

    ``passers_by`` is what published figures call "faces seen" (OpenLFR: tracks), not face
    detections; the JSON input key and the CLI option keep the published word, ``faces``.
    """

    passers_by: int
    alerts: int
    false_alerts: int
    not_engaged: int = 0

    @property
    def adjudicated(self) -> int:
        """Alerts with a decision (not-engaged alerts have none)."""
        return self.alerts - self.not_engaged

    @property
    def confirmed(self) -> int:
        return self.adjudicated - self.false_alerts

    @property
    def false_alert_rate(self) -> Proportion:
        return false_alert_rate(self.false_alerts, self.passers_by)

    @property
    def precision(self) -> Proportion:
        return alert_precision(self.confirmed, self.adjudicated)

    @property
    def share_wrong(self) -> Proportion:
        return Proportion(self.false_alerts, self.adjudicated)

    def as_dict(self) -> dict[str, object]:
        return {
            "inputs": {"faces": self.passers_by, "alerts": self.alerts,
                       "false_alerts": self.false_alerts, "not_engaged": self.not_engaged},
            "adjudicated": self.adjudicated,
            "confirmed": self.confirmed,
            "false_alert_rate": self.false_alert_rate.as_dict(),
            "alert_precision": self.precision.as_dict(),
            "share_wrong": self.share_wrong.as_dict(),
        }


def observed_rates(passers_by: int, alerts: int, false_alerts: int,
                   not_engaged: int = 0) -> ObservedRates:
    """False alert rate and precision from counts: false/passers-by, confirmed/adjudicated."""
    if min(passers_by, alerts, false_alerts, not_engaged) < 0:
        raise ConfigError("counts must not be negative")
    if alerts > passers_by:
        raise ConfigError(f"alerts ({alerts}) cannot exceed faces seen ({passers_by})")
    if false_alerts + not_engaged > alerts:
        raise ConfigError(f"false alerts ({false_alerts}) plus not engaged ({not_engaged}) "
                          f"cannot exceed alerts ({alerts})")
    return ObservedRates(passers_by, alerts, false_alerts, not_engaged)


# --- The worked examples (public figures; see docs/baserate.md for the sources) -------------

@dataclass(frozen=True)
class WorkedExample:
    key: str
    title: str
    source: str
    observed: ObservedRates


WORKED_EXAMPLES: dict[str, WorkedExample] = {
    "oxford-circus-2020": WorkedExample(
        "oxford-circus-2020", "Met, Oxford Circus, February 2020",
        "Metropolitan Police Service, published results of its Oxford Circus LFR "
        "deployment, February 2020",
        ObservedRates(passers_by=8_600, alerts=8, false_alerts=7)),
    "met-2024-2025": WorkedExample(
        "met-2024-2025", "Met, September 2024 to September 2025",
        "Metropolitan Police Service, published LFR figures for September 2024 to "
        "September 2025",
        ObservedRates(passers_by=3_147_436, alerts=2_077, false_alerts=10)),
}

#: NPL 2023 (Mansfield, "Facial Recognition Technology in Law Enforcement: Equitability Study",
#: National Physical Laboratory, March 2023): the Met's NEC NeoFace V4 at threshold 0.6 with a
#: 10,000-image watchlist gave TPIR 89% and FPIR 1 in 6,000.
NPL_2023 = {"tpir": 0.89, "fpir": 1 / 6000, "threshold": 0.6, "watchlist": 10_000}
