"""The transparency report: every deployment in a period, with totals and both rates.

Laid out the way police forces that publish their LFR use do it (one row per deployment:
date, place, watchlist size, faces seen, alerts and what became of them), with the two rates
that the public debate confuses given side by side, each with counts and a Wilson 95%
interval. Live deployments and evaluations are totalled apart: an evaluation on recorded
footage is not use in public and must not dilute or inflate the live figures.

A deployment belongs to the period when its authorised window overlaps it; its figures are
counted whole.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import Image, KeepTogether, Paragraph, Spacer

from openlfr import __version__
from openlfr.errors import ConfigError, missing_backend
from openlfr.evaluation.tracking.reference import fragmentation_note
from openlfr.metrics import Proportion
from openlfr.reports._format import assume_utc, describe, fmt_dt, fmt_int, fmt_one_in, fmt_pct, iso
from openlfr.reports._loader import deployment_ids_in_period, load_deployment_figures
from openlfr.reports._pdf import build_pdf, pdf_escape, pdf_table, plural
from openlfr.reports._pdf import pdf_styles as _pdf_styles
from openlfr.reports.deployment import (
    OUTCOME_STYLE,
    RATE_MEANINGS,
    REPORT_STATUSES,
    DeploymentFigures,
    RateCounts,
    _data_uri,
    _env,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["Totals", "TransparencyFigures", "transparency_json", "render_html", "render_pdf",
           "load_transparency_figures"]

KINDS = ("live", "evaluation")


@dataclass(frozen=True)
class Totals(RateCounts):
    """Sums over a set of deployments."""

    deployments: int
    frames_analysed: int
    frames_dropped: int
    faces_detected: int
    tracks: int
    alerts: int
    confirmed: int
    rejected: int
    not_engaged: int
    disputed: int
    pending: int

    @classmethod
    def of(cls, figures: Sequence[DeploymentFigures]) -> Totals:
        return cls(
            deployments=len(figures),
            frames_analysed=sum(f.frames_analysed for f in figures),
            frames_dropped=sum(f.frames_dropped for f in figures),
            faces_detected=sum(f.faces_detected for f in figures),
            tracks=sum(f.tracks for f in figures),
            alerts=sum(f.alert_count for f in figures),
            confirmed=sum(f.confirmed for f in figures),
            rejected=sum(f.rejected for f in figures),
            not_engaged=sum(f.not_engaged for f in figures),
            disputed=sum(f.disputed for f in figures),
            pending=sum(f.pending for f in figures))

    def as_dict(self) -> dict[str, Any]:
        return {
            "deployments": self.deployments, "frames_analysed": self.frames_analysed,
            "frames_dropped": self.frames_dropped, "faces_detected": self.faces_detected,
            "tracks": self.tracks, "alerts": self.alerts, "confirmed": self.confirmed,
            "rejected": self.rejected, "not_engaged": self.not_engaged,
            "disputed": self.disputed, "pending": self.pending, "adjudicated": self.adjudicated,
            "false_alert_rate": _rate_dict(self.false_alert_rate),
            "alert_precision": self.alert_precision.as_dict(),
        }


@dataclass(frozen=True)
class TransparencyFigures:
    """The deployments of one period (start inclusive, end exclusive, UTC)."""

    period_start: datetime
    period_end: datetime
    deployments: tuple[DeploymentFigures, ...]

    def __post_init__(self) -> None:
        if assume_utc(self.period_end) <= assume_utc(self.period_start):
            raise ConfigError("the report period must end after it starts")
        object.__setattr__(self, "deployments", tuple(sorted(
            self.deployments, key=lambda f: (assume_utc(f.window_start), f.deployment_id))))

    def of_kind(self, kind: str) -> tuple[DeploymentFigures, ...]:
        return tuple(f for f in self.deployments if f.kind == kind)

    def totals(self, kind: str) -> Totals:
        return Totals.of(self.of_kind(kind))

    def tracks_per_person(self, kind: str) -> str:
        """The measured fragmentation behind the totals' "1 in N tracks"."""
        settings = {f.tracker_fingerprint for f in self.of_kind(kind)}
        if len(settings) > 1:
            return ("the deployments ran with different tracker settings: see each "
                    "deployment's report for its tracks per person")
        return fragmentation_note(next(iter(settings), None))


def _rate_dict(p: Proportion | None) -> dict[str, Any] | None:
    return None if p is None else p.as_dict()


def _row(f: DeploymentFigures) -> dict[str, Any]:
    return {
        "id": f.deployment_id, "name": f.name, "kind": f.kind, "place": f.place,
        "purpose": f.purpose, "start": iso(f.started_at or f.window_start),
        "end": iso(f.ended_at or f.window_end), "watchlist_size": f.watchlist_size,
        "threshold": f.threshold, "model": f.model, "faces_detected": f.faces_detected,
        "tracks": f.tracks, "alerts": f.alert_count, **f.outcome_counts,
        "false_alert_rate": _rate_dict(f.false_alert_rate),
        "alert_precision": f.alert_precision.as_dict(),
        "urgent_use": f.extra.get("urgent_use"),
    }


def transparency_json(report: TransparencyFigures, generated_at: datetime | None = None
                      ) -> dict[str, Any]:
    return {
        "report": "transparency",
        "generated_at": iso(generated_at or datetime.now(UTC)),
        "period": {"from": iso(report.period_start), "to": iso(report.period_end)},
        "definitions": dict(RATE_MEANINGS),
        "deployments": [_row(f) for f in report.deployments],
        "warnings": [f"{f.deployment_id}: {w}" for f in report.deployments for w in f.warnings],
        "totals": {k: {**report.totals(k).as_dict(),
                       "tracks_per_person": report.tracks_per_person(k)} for k in KINDS},
    }


_n = plural  # the one pluraliser


def _when(start: datetime, end: datetime | None) -> str:
    """``2025-03-01 10:00-15:00`` within a day, else both dates (UTC)."""
    s, e = assume_utc(start), assume_utc(end)
    if e is None:
        return f"{s:%Y-%m-%d %H:%M} to (open)"
    if s.date() == e.date():
        return f"{s:%Y-%m-%d %H:%M}-{e:%H:%M}"
    return f"{s:%Y-%m-%d %H:%M} to {e:%Y-%m-%d %H:%M}"


def _ctx(report: TransparencyFigures, generated_at: datetime | None) -> dict[str, Any]:
    def period_day(dt: datetime, end: bool) -> str:
        d = assume_utc(dt)
        if end and d.time() == datetime.min.time():
            d -= timedelta(days=1)  # the period ends at the start of the day after
        return d.strftime("%Y-%m-%d")

    def rate(p: Proportion | None, unit: str) -> dict[str, Any]:
        if p is None:
            return {"value": "undefined", "one_in": "-", "k": 0, "n": 0,
                    "counts": "undefined: the track counters are incomplete"}
        return {"value": fmt_pct(p.rate), "one_in": fmt_one_in(p), "counts": describe(p, unit),
                "k": p.successes, "n": p.total}

    rows = []
    for f in report.deployments:
        rows.append({
            "f": f,
            "when": _when(f.started_at or f.window_start, f.ended_at or f.window_end),
            "cells": ["-" if f.watchlist_size is None else fmt_int(f.watchlist_size),
                      fmt_int(f.tracks), fmt_int(f.alert_count),
                      *[fmt_int(f.outcome_counts[o]) for o in REPORT_STATUSES]],
            "far": ("undefined" if f.false_alert_rate is None
                    else fmt_one_in(f.false_alert_rate)),
            "precision": (f"{f.confirmed}/{f.adjudicated}" if f.adjudicated else "-"),
        })
    totals = {}
    for k in KINDS:
        t = report.totals(k)
        totals[k] = {
            "t": t,
            "cells": [fmt_int(t.tracks), fmt_int(t.alerts), fmt_int(t.confirmed),
                      fmt_int(t.rejected), fmt_int(t.not_engaged), fmt_int(t.disputed),
                      fmt_int(t.pending)],
            "far": rate(t.false_alert_rate, "tracks"),
            "precision": rate(t.alert_precision, "adjudicated alerts"),
        }
        note = report.tracks_per_person(k)
        far = totals[k]["far"]
        far["denominator"] = (f"{far['one_in']} tracks; {note}" if far["k"]
                              else note[0].upper() + note[1:])
    return {
        "r": report, "rows": rows, "totals": totals, "meanings": RATE_MEANINGS,
        "period": f"{period_day(report.period_start, False)} to "
                  f"{period_day(report.period_end, True)}",
        "version": __version__,
        "generated_at": fmt_dt(generated_at or datetime.now(UTC)),
        "outcome_abbr": [("Conf.", "confirmed"), ("Rej.", "rejected (false alert)"),
                         ("Not eng.", "not engaged"), ("Disp.", "disputed"),
                         ("Pend.", "pending")],
        "outcome_heads": ["confirmed", "rejected (false)", "not engaged", "disputed", "pending"],
    }


MAX_BARS = 40


def _bars(report: TransparencyFigures) -> tuple[list[str], list[dict[str, int]], str]:
    """One bar per deployment, or per month (UTC) when there are more than MAX_BARS."""
    if len(report.deployments) <= MAX_BARS:
        labels = [f"{assume_utc(f.started_at or f.window_start):%Y-%m-%d} {f.name[:28]}"
                  + (" (eval.)" if f.kind == "evaluation" else "") for f in report.deployments]
        return labels, [f.outcome_counts for f in report.deployments], "deployment"
    months: dict[str, dict[str, int]] = {}
    for f in report.deployments:
        m = months.setdefault(f"{assume_utc(f.started_at or f.window_start):%Y-%m}"
                              + (" eval." if f.kind == "evaluation" else ""),
                              dict.fromkeys(REPORT_STATUSES, 0))
        for o, n in f.outcome_counts.items():
            m[o] += n
    return list(months), list(months.values()), "month"


def outcomes_png(report: TransparencyFigures, dpi: int = 110) -> bytes:
    """Alerts per deployment (or month), stacked by outcome (PNG bytes)."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as exc:
        raise missing_backend(exc, "the outcomes plot", "pip install matplotlib") from exc

    labels, counts, unit = _bars(report)
    height = 1.3 + 0.28 * max(1, len(labels))
    fig = Figure(figsize=(8.0, height), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    y = list(range(len(labels)))
    left = [0] * len(labels)
    for o in REPORT_STATUSES:
        widths = [c[o] for c in counts]
        ax.barh(y, widths, left=left, color=OUTCOME_STYLE[o][0], height=0.7,
                label=o.replace("_", " "))
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("alerts")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max([*left, 1]) * 1.05)
    ax.grid(axis="x", color="#d6dbe3", lw=0.6)
    ax.set_axisbelow(True)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(REPORT_STATUSES),
              fontsize=8, frameon=False)
    if not labels:
        ax.text(0.5, 0.5, "No deployments in this period", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_title(f"Alerts per {unit}, by outcome", fontsize=10, loc="left", pad=22)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def render_html(report: TransparencyFigures, generated_at: datetime | None = None) -> str:
    ctx = _ctx(report, generated_at)
    ctx["outcomes_uri"] = _data_uri(outcomes_png(report))
    return _env().get_template("transparency.html").render(**ctx)


def render_pdf(report: TransparencyFigures, generated_at: datetime | None = None) -> bytes:
    """The report as a landscape A4 PDF."""
    e = pdf_escape
    st = _pdf_styles()
    ctx = _ctx(report, generated_at)
    story: list[Any] = [
        Paragraph(e(f"LFR transparency report, {ctx['period']}"), st["title"]),
        Paragraph(e(f"{plural(len(report.deployments), 'deployment')} whose authorised "
                    f"window overlaps the period (figures counted whole). Live use and "
                    f"evaluations are totalled apart."), st["body"]),
        Paragraph("Totals and rates", st["h2"]),
    ]
    for k in KINDS:
        t = ctx["totals"][k]
        story += [
            Paragraph(e(f"{k.capitalize()}: {_n(t['t'].deployments, 'deployment')}, "
                        f"{t['t'].tracks:,} tracks, {t['t'].alerts:,} alerts "
                        f"({t['t'].confirmed:,} confirmed, {t['t'].rejected:,} rejected, "
                        f"{t['t'].not_engaged:,} not engaged, {t['t'].disputed:,} disputed, "
                        f"{t['t'].pending:,} pending)"),
                      st["body"]),
            Paragraph(e(f"False alert rate: {t['far']['counts']}"
                        + (f", about {t['far']['one_in']}" if t["far"]["k"] else "")),
                      st["body"]),
            Paragraph(e(t["far"]["denominator"]), st["body"]),
            Paragraph(e(f"Alert precision: {t['precision']['counts']}"), st["body"]),
            Spacer(1, 4)]
    story += [Paragraph(e("False alert rate: " + RATE_MEANINGS["false_alert_rate"]), st["small"]),
              Paragraph(e("Alert precision: " + RATE_MEANINGS["alert_precision"]), st["small"]),
              Paragraph("Deployments", st["h2"])]
    head = ["Deployment", "Kind", "Place", "When (UTC)", "Watchlist", "Tracks", "Alerts",
            "Conf.", "Rej.", "Not eng.", "Disp.", "Pend.", "False alert rate", "Precision"]
    body = [[Paragraph(e(f"{r['f'].name} ({r['f'].deployment_id})"
                           + (" [urgent use]" if "urgent_use" in r["f"].extra else "")),
                         st["cell"]), r["f"].kind,
             Paragraph(e(r["f"].place), st["cell"]), Paragraph(e(r["when"]), st["cell"]),
             *r["cells"], r["far"], r["precision"]] for r in ctx["rows"]]
    if not body:
        body = [["No deployments in this period", *[""] * (len(head) - 1)]]
    widths = [40 * mm, 17 * mm, 34 * mm, 38 * mm, *[14 * mm] * 8, 19 * mm, 16 * mm]
    story.append(pdf_table([head, *body], col_widths=widths,
                           numeric_cols=tuple(range(4, 14))))
    png = outcomes_png(report, dpi=150)

    w, h = ImageReader(io.BytesIO(png)).getSize()
    width = min(200 * mm, 170 * mm * w / h)
    story.append(KeepTogether([Paragraph("Alerts by outcome", st["h2"]),
                               Image(io.BytesIO(png), width=width, height=width * h / w)]))
    story += [Spacer(1, 8), Paragraph(e(f"Generated by OpenLFR {ctx['version']} on "
                                        f"{ctx['generated_at']}."), st["small"])]
    return build_pdf(story, title=f"OpenLFR transparency report {ctx['period']}",
                     subject=f"LFR use in {ctx['period']}: "
                     f"{plural(len(report.deployments), 'deployment')}",
                     generated_at=generated_at, pagesize=landscape(A4),
                     margins_mm=(12, 12, 14, 14))


def load_transparency_figures(session: Session, start: datetime,
                              end: datetime) -> TransparencyFigures:
    """All deployments whose authorised window overlaps [start, end)."""
    ids = deployment_ids_in_period(session, start, end)
    return TransparencyFigures(start, end, tuple(load_deployment_figures(session, i)
                                                  for i in ids))
