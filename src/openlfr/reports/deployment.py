"""The per-deployment report: what one deployment saw, alerted on, and how the alerts ended.

Input is a plain typed value, :class:`DeploymentFigures`, built from the store by
:func:`load_deployment_figures` (or directly, in tests and for imported figures). Outputs:

* :func:`figures_json` -> dict, for machines (the API's JSON and ``--format json``);
* :func:`render_html` -> str, a self-contained page (CSS inline, plot as a data URI);
* :func:`render_pdf` -> bytes, the same content for print;
* :func:`timeline_png` -> bytes, alerts over time coloured by outcome.

Definitions (docs/reports.md; ``openlfr.metrics``):

* false alert rate = rejected alerts / tracks (tracks approximate passers-by seen). Next to
  "1 in N tracks" the report says how many tracks the tracker makes per person on the
  reference clips for the settings in use (``openlfr.evaluation.tracking.reference``): a
  tracker that splits people into several tracks makes the rate look better than it is;
* alert precision = confirmed / adjudicated, adjudicated = confirmed + rejected. Alerts not
  engaged (the person was lost in the crowd), disputed (two-person verification disagreed) or
  still pending have no decision and are counted but left out of precision.

Counts and timeline are separate on purpose: alert records are purged after the retention
period, while the per-deployment counters (and so the counts) survive. The timeline shows
the alerts whose records still exist and says how many that is.
"""

from __future__ import annotations

import base64
import functools
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, Paragraph, Spacer

from openlfr import __version__
from openlfr.errors import missing_backend
from openlfr.metrics import Proportion
from openlfr.reports._alerts import ALERT_COLUMNS, alert_cells, alert_records
from openlfr.reports._figures import (
    EXTRA_LABELS,
    OUTCOME_LABELS,
    OUTCOME_STYLE,
    RATE_MEANINGS,
    REPORT_STATUSES,
    AlertPoint,
    DeploymentFigures,
    Kind,
    RateCounts,
    ReportStatus,
    extra_label,
)
from openlfr.reports._format import assume_utc, describe, fmt_dt, fmt_int, fmt_one_in, fmt_pct, iso
from openlfr.reports._loader import load_deployment_figures
from openlfr.reports._pdf import build_pdf, pdf_escape, pdf_table, plural
from openlfr.reports._pdf import pdf_styles as _pdf_styles

__all__ = ["AlertPoint", "DeploymentFigures", "ReportStatus", "Kind", "REPORT_STATUSES",
           "figures_json",
           "render_html", "render_pdf", "timeline_png", "load_deployment_figures",
           "RATE_MEANINGS", "pdf_table", "pdf_escape", "RateCounts", "OUTCOME_LABELS",
           "OUTCOME_STYLE", "EXTRA_LABELS", "extra_label"]

# --- JSON ------------------------------------------------------------------------------------

def figures_json(figures: DeploymentFigures, generated_at: datetime | None = None
                 ) -> dict[str, Any]:
    """The report as one JSON-ready dict (numbers as numbers, times as ISO 8601 UTC)."""
    f = figures
    far: dict[str, Any] = (f.false_alert_rate.as_dict() if f.false_alert_rate is not None
                           else {"count": f.rejected, "of": f.tracks, "rate": None,
                                 "ci95": None, "one_in": None})
    prec: dict[str, Any] = f.alert_precision.as_dict()
    far["definition"] = RATE_MEANINGS["false_alert_rate"]
    far["tracks_per_person"] = f.tracks_per_person
    prec["definition"] = RATE_MEANINGS["alert_precision"]
    return {
        "report": "deployment",
        "generated_at": iso(generated_at or datetime.now(UTC)),
        "deployment": {
            "id": f.deployment_id, "name": f.name, "purpose": f.purpose, "place": f.place,
            "kind": f.kind, "state": f.state,
            "window": {"start": iso(f.window_start), "end": iso(f.window_end)},
            "started_at": iso(f.started_at), "ended_at": iso(f.ended_at),
            "details": dict(f.extra),
        },
        "frames_dropped_means": DROPPED_LABEL[f.paced],
        "counts": {"frames_analysed": f.frames_analysed, "frames_dropped": f.frames_dropped,
                   "faces_detected": f.faces_detected, "tracks": f.tracks},
        "alerts": {"total": f.alert_count, **f.outcome_counts, "adjudicated": f.adjudicated},
        "rates": {"false_alert_rate": far, "alert_precision": prec},
        "watchlist": {"size": f.watchlist_size,
                      "categories": dict(sorted(f.watchlist_categories.items()))},
        "matching": {"threshold": f.threshold, "model": f.model},
        "authorisation": {"officer": f.authorising_officer, "at": iso(f.authorised_at)},
        "timeline": alert_records(f.timeline),
        "timeline_complete": f.timeline_complete,
        "warnings": f.warnings,
    }


# --- Timeline plot ---------------------------------------------------------------------------

#: Below this share of the plotted span, the alerts get an axis of their own (zoomed).
ZOOM_BELOW = 0.25


def _plot_span(f: DeploymentFigures) -> tuple[datetime, datetime, bool]:
    """(start, end, zoomed): the whole window, or, when the alerts on record fill less than
    :data:`ZOOM_BELOW` of it, the alerts' own span, so an 8-hour window with alerts in ten
    minutes does not squeeze them into a few pixels."""
    times = [assume_utc(a.at) for a in f.timeline]
    start = min([assume_utc(f.started_at or f.window_start), *times])
    ends = (assume_utc(f.ended_at), assume_utc(f.window_end))
    end_candidates = [t for t in ends if t is not None]
    end = max([*(end_candidates or [start]), *times])
    zoomed = bool(times) and (max(times) - min(times)) < ZOOM_BELOW * (end - start)
    if zoomed:
        start, end = min(times), max(times)
    if end - start < timedelta(minutes=2):  # identical limits would make matplotlib warn
        start, end = start - timedelta(minutes=1), end + timedelta(minutes=1)
    pad = (end - start) * (0.06 if zoomed else 0.02)  # keep marks at the edge visible
    return start - pad, end + pad, zoomed


def timeline_png(figures: DeploymentFigures, dpi: int = 110) -> bytes:
    """Alerts over time, one row per outcome, colour and marker by outcome (PNG bytes)."""
    try:
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.dates as mdates
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise missing_backend(exc, "the timeline plot", "pip install matplotlib") from exc

    f = figures
    fig = Figure(figsize=(8.0, 2.6), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    rows = list(REPORT_STATUSES)
    start, end, zoomed = _plot_span(f)
    ax.axvspan(assume_utc(f.window_start), assume_utc(f.window_end) if f.window_end else end,
               color="#0b5d8f", alpha=0.06, lw=0, label="authorised window")
    for i, outcome in enumerate(rows):
        ts = [assume_utc(a.at) for a in f.timeline if a.outcome == outcome]
        colour, marker = OUTCOME_STYLE[outcome]
        ax.scatter(ts, [i] * len(ts), c=colour, marker=marker, s=46, zorder=3,
                   edgecolors="white", linewidths=0.5, alpha=0.85 if len(ts) > 20 else 1.0)
    shown = Counter(a.outcome for a in f.timeline)
    ax.set_yticks(range(len(rows)), [f"{o.replace('_', ' ')} ({shown[o]})" for o in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(start, end)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.grid(axis="x", color="#d6dbe3", lw=0.6)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    title = f"Alerts over time ({len(f.timeline)}), times in UTC"
    if not f.timeline_complete:
        title = f"Alerts over time ({len(f.timeline)} of {f.alerts} still on record), UTC"
    if zoomed:
        title += (f"\nzoomed to the alerts; the window runs {fmt_dt(f.window_start)} to "
                  f"{fmt_dt(f.window_end)}")
    if not f.timeline:
        title = ("No alerts in this deployment" if not f.alerts
                 else "No alert records left (deleted under the retention policy)")
    ax.set_title(title, fontsize=10, loc="left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --- HTML ------------------------------------------------------------------------------------

def _context(f: DeploymentFigures, generated_at: datetime | None) -> dict[str, Any]:
    def rate(p: Proportion | None, unit: str) -> dict[str, Any]:
        if p is None:
            return {"value": "undefined", "one_in": "-", "ci": "undefined", "k": 0, "n": 0,
                    "counts": f"{f.rejected:,} false alerts, {f.tracks:,} {unit}: see the "
                              f"warning above", "denominator": ""}
        lo, hi = p.interval
        return {"value": fmt_pct(p.rate), "one_in": fmt_one_in(p), "counts": describe(p, unit),
                "ci": f"{fmt_pct(lo)} to {fmt_pct(hi)}" if p.total else "undefined",
                "k": p.successes, "n": p.total, "denominator": denominator(p, unit)}

    def denominator(p: Proportion, unit: str) -> str:
        if unit != "tracks":
            return ""
        note = f.tracks_per_person["note"]
        return f"{fmt_one_in(p)} tracks; {note}" if p.successes else note.capitalize()

    return {
        "f": f,
        "version": __version__,
        "generated_at": fmt_dt(generated_at or datetime.now(UTC)),
        "window": f"{fmt_dt(f.window_start)} to {fmt_dt(f.window_end)}",
        "kind_sentence": _kind_sentence(f.kind, f.paced),
        "counts": [
            ("Frames analysed", fmt_int(f.frames_analysed)),
            (DROPPED_LABEL[f.paced], fmt_int(f.frames_dropped)),
            ("Faces detected (in all frames)", fmt_int(f.faces_detected)),
            ("Tracks (one per face followed across frames; about one per passer-by)",
             fmt_int(f.tracks)),
        ],
        "outcomes": [(OUTCOME_LABELS[o], o, f.outcome_counts[o]) for o in REPORT_STATUSES],
        "far": rate(f.false_alert_rate, "tracks"),
        "precision": rate(f.alert_precision, "adjudicated alerts"),
        "meanings": RATE_MEANINGS,
        "categories": sorted((c.replace("_", " "), n)
                             for c, n in f.watchlist_categories.items()),
        "watchlist_size": ("not recorded" if f.watchlist_size is None
                           else f"{f.watchlist_size:,}"),
        "threshold": "-" if f.threshold is None else f"{f.threshold:g}",
        "extra": [(extra_label(k), v) for k, v in f.extra.items()],
        "authorised": (f"{f.authorising_officer or 'not recorded'}"
                       + (f", on {fmt_dt(f.authorised_at)}" if f.authorised_at else "")),
        "alert_columns": ALERT_COLUMNS,
        "alert_rows": alert_cells(f.timeline),
        "fmt_dt": fmt_dt,
        "fmt_int": fmt_int,
    }


DROPPED_LABEL = {
    True: "Frames dropped (skipped: the analysis takes the latest frame and could not keep "
          "up with the camera's own frame rate)",
    False: "Frames dropped (not analysed, the system was busy)",
}


def _kind_sentence(kind: str, paced: bool = False) -> str:
    if kind == "evaluation" and paced:
        return ("Evaluation deployment on a recorded clip played in a loop at its own frame "
                "rate, as a live camera would deliver it: the analysis takes the latest "
                "frame, and the frames it could not keep up with are counted as dropped. Not "
                "live use in a public place; reported as an evaluation.")
    if kind == "evaluation":
        return ("Evaluation deployment: recorded footage or a controlled test, not live use "
                "in a public place. Its figures are reported as an evaluation and are not "
                "counted as live use.")
    return "Live deployment: cameras in a public place, authorised for the window below."


@functools.cache
def _env() -> Environment:
    """The reports' templates, one environment per process (it compiles each template once)."""
    env = Environment(loader=PackageLoader("openlfr.reports", "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["plural"] = plural
    return env


def render_html(figures: DeploymentFigures, generated_at: datetime | None = None) -> str:
    """A self-contained HTML page (no external resources)."""
    ctx = _context(figures, generated_at)
    ctx["timeline_uri"] = _data_uri(timeline_png(figures))
    return _env().get_template("deployment.html").render(**ctx)


# --- PDF -------------------------------------------------------------------------------------

def _pdf_rates(ctx: dict[str, Any], st: dict[str, Any]) -> list[Any]:
    e = pdf_escape
    out: list[Any] = []
    for key, title in (("far", "False alert rate (per track)"),
                       ("precision", "Alert precision (per adjudicated alert)")):
        r = ctx[key]
        meaning = RATE_MEANINGS["false_alert_rate" if key == "far" else "alert_precision"]
        extra = f", about {r['one_in']}" if key == "far" and r["k"] else ""
        out += [Paragraph(f"<b>{e(title)}</b>: {e(r['counts'])}{e(extra)}", st["body"])]
        if r["denominator"]:
            out.append(Paragraph(e(r["denominator"]), st["body"]))
        out += [Paragraph(e(meaning), st["small"]), Spacer(1, 4)]
    return out


def _pdf_alerts(ctx: dict[str, Any], st: dict[str, Any]) -> list[Any]:
    title = Paragraph(f"Each alert ({len(ctx['alert_rows'])} on record)", st["h2"])
    if not ctx["alert_rows"]:
        return [title, Paragraph("No alert records.", st["body"])]
    widths = [30 * mm, 18 * mm, 24 * mm, 12 * mm, 20 * mm, 28 * mm, 38 * mm]
    return [title, pdf_table([list(ctx["alert_columns"]),
                              *[[pdf_escape(c) for c in r] for r in ctx["alert_rows"]]],
                             col_widths=widths, numeric_cols=(3,))]


def render_pdf(figures: DeploymentFigures, generated_at: datetime | None = None) -> bytes:
    """The report as a PDF (A4), with the timeline plot."""
    f = figures
    st = _pdf_styles()
    e = pdf_escape
    ctx = _context(f, generated_at)
    story: list[Any] = [
        Paragraph(e(f"Deployment report: {f.name}"), st["title"]),
        Paragraph(e(f"Deployment {f.deployment_id} - {f.place} - {ctx['window']}"), st["body"]),
        Spacer(1, 4),
        Paragraph(e(ctx["kind_sentence"]), st["banner"] if f.kind == "evaluation" else st["body"]),
        *[Paragraph(e("Note: " + w), st["banner"]) for w in f.warnings],
        Paragraph("Deployment", st["h2"]),
        pdf_table([["Purpose", Paragraph(e(f.purpose), st["cell"])],
                   ["Place", e(f.place)], ["Kind", f.kind],
                   ["State", e(f.state or "-")],
                   ["Authorised by", Paragraph(e(ctx["authorised"]), st["cell"])],
                   ["Authorised window", e(ctx["window"])],
                   ["Ran", e(f"{fmt_dt(f.started_at)} to {fmt_dt(f.ended_at)}")],
                   ["Model", e(f.model)], ["Match threshold", ctx["threshold"]],
                   *[[e(k), Paragraph(e(v), st["cell"])] for k, v in ctx["extra"]]],
                  col_widths=[50 * mm, 120 * mm], header=False),
        Paragraph("The two rates", st["h2"]),
        *_pdf_rates(ctx, st),
        Paragraph("What the cameras saw", st["h2"]),
        pdf_table([["Count", "Value"], *[[e(k), v] for k, v in ctx["counts"]]],
                  col_widths=[130 * mm, 40 * mm], numeric_cols=(1,)),
        Paragraph("Alerts and outcomes", st["h2"]),
        pdf_table([["Outcome", "Alerts"],
                   *[[e(label), fmt_int(n)] for label, _o, n in ctx["outcomes"]],
                   ["All alerts", fmt_int(f.alert_count)]],
                  col_widths=[130 * mm, 40 * mm], numeric_cols=(1,), footer=True),
    ]
    story += [KeepTogether([Paragraph("Timeline", st["h2"]),
                            Image(io.BytesIO(timeline_png(f, dpi=150)), width=170 * mm,
                                  height=170 * mm * 2.6 / 8)]),
              *_pdf_alerts(ctx, st),
              Paragraph("Watchlist", st["h2"]),
              Paragraph(e(f"The deployment compared faces with a frozen watchlist snapshot of "
                          f"{ctx['watchlist_size']} entries."), st["body"])]
    if ctx["categories"]:
        story.append(pdf_table([["Category", "Entries"],
                                *[[e(c), "-" if n is None else fmt_int(n)]
                                  for c, n in ctx["categories"]]],
                               col_widths=[130 * mm, 40 * mm], numeric_cols=(1,)))
    story.append(Spacer(1, 8))
    story.append(Paragraph(e(f"Generated by OpenLFR {__version__} on {ctx['generated_at']}. "
                             "Every rate comes with its counts and a Wilson 95% interval."),
                           st["small"]))
    return build_pdf(story, title=f"OpenLFR deployment report {f.deployment_id}: {f.name}",
                     subject=f"Deployment report, {f.place}, {ctx['window']}",
                     generated_at=generated_at, pagesize=A4)

