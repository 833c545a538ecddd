"""Number and date formatting shared by the HTML, PDF and text renderings of reports."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from openlfr.metrics import Proportion
from openlfr.reports.baserate import format_one_in

__all__ = ["fmt_int", "fmt_pct", "fmt_dt", "fmt_one_in", "describe", "iso", "assume_utc"]


def fmt_int(n: int | float | None) -> str:
    return "-" if n is None else f"{n:,.0f}"


def fmt_pct(x: float | None) -> str:
    """A share as a percentage with enough digits to stay informative when tiny.

    0.125 -> "12.5%", 0.000813 -> "0.081%", 3.2e-6 -> "0.00032%".
    """
    if x is None:
        return "-"
    pct = 100 * x
    if pct == 0:
        return "0%"
    if pct >= 10:
        return f"{pct:.1f}%"
    decimals = min(8, max(1, 1 - math.floor(math.log10(pct))))
    return f"{pct:.{decimals}f}%"


def fmt_one_in(p: Proportion) -> str:
    return format_one_in(p.one_in)


def describe(p: Proportion, unit: str = "") -> str:
    """``7 of 8,600 = 0.081% (95% CI 0.039%-0.17%)``: counts first, then the rate."""
    of = f"{p.total:,}" + (f" {unit}" if unit else "")
    if p.total == 0:
        return f"{p.successes:,} of {of} (no data: the rate is undefined)"
    lo, hi = p.interval
    return f"{p.successes:,} of {of} = {fmt_pct(p.rate)} (95% CI {fmt_pct(lo)} to {fmt_pct(hi)})"


def assume_utc(dt: datetime | None) -> datetime | None:
    """A value read back from the store: naive means UTC (SQLite keeps no time zone); `None` passes.

    Not `store.types.as_utc`, which refuses a naive datetime on input.
    """
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso(dt: datetime | None) -> str | None:
    d = assume_utc(dt)
    return None if d is None else d.isoformat().replace("+00:00", "Z")


def fmt_dt(dt: datetime | None) -> str:
    d = assume_utc(dt)
    return "-" if d is None else d.strftime("%Y-%m-%d %H:%M UTC")
