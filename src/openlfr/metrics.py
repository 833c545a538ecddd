"""The figures OpenLFR reports, defined once (docs/reports.md).

Every rate is a :class:`Proportion`: a count over a count, with its Wilson 95% interval.
Never report a bare percentage; ``str(p)`` gives "k/n = r% (95% CI lo-hi%)".

Deployment figures:
    false alert rate = false alerts (rejected) / tracks      ("1 in N faces", Met/NPL)
    alert precision  = confirmed / adjudicated alerts       (1 - precision: "% inaccurate")
Offline open-set figures (NIST/NPL), at threshold t:
    TPIR = mated searches whose top match is the right subject with score >= t
    FPIR = non-mated searches whose top score >= t;  FNIR = 1 - TPIR
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Proportion", "wilson_interval", "false_alert_rate", "alert_precision"]

Z95 = 1.959963984540054


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when total is 0."""
    if total < 0 or successes < 0 or successes > total:
        raise ValueError(f"need 0 <= successes <= total, got {successes}/{total}")
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    z2 = z * z
    denom = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Proportion:
    """``successes`` out of ``total`` with its Wilson 95% interval."""

    successes: int
    total: int

    def __post_init__(self) -> None:
        wilson_interval(self.successes, self.total)  # validates

    @property
    def rate(self) -> float | None:
        return None if self.total == 0 else self.successes / self.total

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.total)

    @property
    def one_in(self) -> float | None:
        """The rate as "1 in N" (None when there were no successes)."""
        return None if self.successes == 0 else self.total / self.successes

    def as_dict(self) -> dict[str, object]:
        lo, hi = self.interval
        return {"count": self.successes, "of": self.total, "rate": self.rate,
                "ci95": [lo, hi], "one_in": self.one_in}

    def __str__(self) -> str:
        if self.total == 0:
            return f"{self.successes}/0 (no data)"
        lo, hi = self.interval
        return (f"{self.successes}/{self.total} = {100 * self.successes / self.total:.2f}% "
                f"(95% CI {100 * lo:.2f}-{100 * hi:.2f}%)")


def false_alert_rate(false_alerts: int, tracks: int) -> Proportion:
    """False alerts per face seen (tracks), the Met/NPL "1 in N" figure."""
    return Proportion(false_alerts, tracks)


def alert_precision(confirmed: int, adjudicated: int) -> Proportion:
    """Share of adjudicated alerts that were confirmed matches."""
    return Proportion(confirmed, adjudicated)
