"""The per-alert list of a deployment report: when, which camera, which watchlist category,
the score, how it ended, who decided and their note. No image and no name of the person on
the watchlist: the report goes to people who may not see those."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from openlfr.reports._format import fmt_dt, iso

__all__ = ["ALERT_COLUMNS", "alert_cells", "alert_records", "officer_label"]

ALERT_COLUMNS = ("Time (UTC)", "Camera", "Category", "Score", "Outcome", "Decided by", "Note")


class _Point(Protocol):
    at: Any
    outcome: str
    camera: str | None
    category: str | None
    score: float | None
    decided_by: str | None
    note: str | None


def officer_label(username: str, display_name: str = "") -> str:
    """``Insp. Jane Roe (jroe)``, or the username alone."""
    return f"{display_name} ({username})" if display_name else username


def alert_cells(points: Sequence[_Point]) -> list[list[str]]:
    """One row of :data:`ALERT_COLUMNS` per alert, oldest first, as text."""
    return [[fmt_dt(p.at).removesuffix(" UTC") + f":{p.at:%S}", p.camera or "-",
             (p.category or "-").replace("_", " "),
             "-" if p.score is None else f"{p.score:.3f}", p.outcome.replace("_", " "),
             p.decided_by or "-", p.note or ""] for p in points]


def alert_records(points: Sequence[_Point]) -> list[dict[str, Any]]:
    """The same, for JSON."""
    return [{"at": iso(p.at), "camera": p.camera, "category": p.category, "score": p.score,
             "outcome": p.outcome, "decided_by": p.decided_by, "note": p.note}
            for p in points]
