"""Report commands: ``openlfr baserate`` and ``openlfr report deployment|transparency``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.errors import ConfigError

report_app = typer.Typer(help="Per-deployment and transparency reports (HTML, PDF, JSON).",
                         no_args_is_help=True)

_EXAMPLES = ("oxford-circus-2020", "npl-2023", "met-2024-2025")
NPL_CROWDS = [1_000, 6_000, 10_000, 60_000]
NPL_PRESENT = [0, 1, 5, 10]


def baserate(
    crowd: Annotated[list[int] | None, typer.Option(
        "--crowd", "-C", help="Faces seen (repeat for several crowd sizes).")] = None,
    present: Annotated[list[int] | None, typer.Option(
        "--present", "-m", help="Watchlisted people among them (repeatable).")] = None,
    tpir: str = typer.Option(None, "--tpir", help="True positive identification rate: 0.89, "
                             "89% ..."),
    fpir: str = typer.Option(None, "--fpir", help="False positive identification rate: "
                             "1/6000, 0.000167 ..."),
    faces: int = typer.Option(None, "--faces", help="Observed: faces (tracks) seen."),
    alerts: int = typer.Option(None, "--alerts", help="Observed: alerts raised."),
    false_alerts: int = typer.Option(None, "--false-alerts", help="Observed: alerts found "
                                     "to be wrong."),
    not_engaged: int = typer.Option(0, "--not-engaged", help="Observed: alerts with no "
                                    "decision (left out of precision)."),
    example: str = typer.Option(None, "--example", help="A worked public case: "
                                + ", ".join(_EXAMPLES) + "."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Expected alerts from a base rate, or observed rates from published counts.

    Expected: --crowd C --present M --tpir T --fpir F gives m*TPIR true and (C-m)*FPIR false
    alerts, the precision this implies and the false alert rate as "1 in N".
    Observed: --faces N --alerts A --false-alerts F gives the false alert rate and the
    precision with Wilson 95% intervals.
    """
    from openlfr.reports import baserate as br

    forward = bool(crowd or present or tpir is not None or fpir is not None)
    inverse = faces is not None or alerts is not None or false_alerts is not None
    if sum([forward, inverse, example is not None]) != 1:
        raise ConfigError("give either --crowd/--present/--tpir/--fpir (expected alerts), or "
                          "--faces/--alerts/--false-alerts (observed rates), or --example")
    out: dict[str, Any]
    if example is not None:
        if example == "npl-2023":
            crowd, present = NPL_CROWDS, NPL_PRESENT
            tpir_v, fpir_v = br.NPL_2023["tpir"], br.NPL_2023["fpir"]
            forward = True
        elif example in br.WORKED_EXAMPLES:
            ex = br.WORKED_EXAMPLES[example]
            out = {"mode": "observed", "example": {"key": ex.key, "title": ex.title,
                                                   "source": ex.source},
                   **ex.observed.as_dict()}
            _emit_observed(out, ex.observed, as_json, title=f"{ex.title} ({ex.source})")
            return
        else:
            raise ConfigError(f"unknown example {example!r}; choose from {', '.join(_EXAMPLES)}")
    if forward:
        if example is None:
            if not crowd or not present or tpir is None or fpir is None:
                raise ConfigError("expected alerts need --crowd, --present, --tpir and --fpir")
            tpir_v, fpir_v = br.parse_rate(tpir), br.parse_rate(fpir)
        scenarios = br.scenario_grid(crowd, present, tpir_v, fpir_v)
        if not scenarios:
            raise ConfigError("every --present is larger than every --crowd")
        out = {"mode": "expected", "tpir": tpir_v, "fpir": fpir_v,
               "scenarios": [s.as_dict() for s in scenarios]}
        if example == "npl-2023":
            out["example"] = {"key": "npl-2023", "source": "NPL 2023 equitability study",
                              **br.NPL_2023}
        if as_json:
            typer.echo(json.dumps(out))
            return
        fpir_text = br.format_one_in(1 / fpir_v if fpir_v else None)
        typer.echo(f"TPIR {100 * tpir_v:g}%, FPIR {fpir_text} ({fpir_v:.3g}); "
                   f"expected alerts per crowd:")
        head = (f"{'crowd':>10} {'present':>7} {'true':>8} {'missed':>7} {'false':>8} "
                f"{'total':>8} {'precision':>9} {'wrong':>7}  false alert rate")
        typer.echo(head)
        from openlfr.reports._format import fmt_pct

        for s in scenarios:
            typer.echo(f"{s.crowd:>10,} {s.present:>7,} {s.expected_true:>8.2f} "
                       f"{s.expected_missed:>7.2f} {s.expected_false:>8.2f} "
                       f"{s.expected_total:>8.2f} {fmt_pct(s.precision):>9} "
                       f"{fmt_pct(s.share_wrong):>7}  "
                       f"{br.format_one_in(s.false_alert_one_in)} faces")
        return
    if faces is None or alerts is None or false_alerts is None:
        raise ConfigError("observed rates need --faces, --alerts and --false-alerts")
    obs = br.observed_rates(faces, alerts, false_alerts, not_engaged)
    _emit_observed({"mode": "observed", **obs.as_dict()}, obs, as_json)


def _emit_observed(out: dict[str, Any], obs: Any, as_json: bool, title: str = "") -> None:
    from openlfr.reports._format import describe, fmt_one_in

    if as_json:
        typer.echo(json.dumps(out))
        return
    if title:
        typer.echo(title)
    typer.echo(f"{obs.faces:,} faces, {obs.alerts:,} alerts, {obs.false_alerts:,} false, "
               f"{obs.not_engaged:,} not engaged")
    typer.echo(f"  false alert rate  {describe(obs.false_alert_rate, 'faces')}, about "
               f"{fmt_one_in(obs.false_alert_rate)}")
    typer.echo(f"  alert precision   {describe(obs.precision, 'adjudicated alerts')}")
    typer.echo(f"  share wrong       {describe(obs.share_wrong, 'adjudicated alerts')}")


# --- openlfr report ... ----------------------------------------------------------------------

def _write(payload: str | bytes, out: Path | None) -> None:
    if out is None:
        if isinstance(payload, bytes):
            if sys.stdout.isatty():
                raise ConfigError("a PDF is binary: give --out PATH")
            sys.stdout.buffer.write(payload)
            sys.stdout.flush()
        else:
            typer.echo(payload)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(payload, bytes):
        out.write_bytes(payload)
    else:
        out.write_text(payload, encoding="utf-8")
    typer.echo(f"wrote {out}", err=True)


def _report_format(fmt: str, as_json: bool) -> str:
    fmt = "json" if as_json else fmt.lower()
    if fmt not in ("html", "pdf", "json"):
        raise ConfigError(f"--format must be html, pdf or json, got {fmt!r}")
    return fmt


def _emit(fmt: str, out: Path | None, as_json: Callable[[], str],
          as_pdf: Callable[[], bytes], as_html: Callable[[], str]) -> None:
    """Render the report in the chosen format only, then write it."""
    render = {"json": as_json, "pdf": as_pdf, "html": as_html}[fmt]
    _write(render(), out)


def _session():  # type: ignore[no-untyped-def]
    from openlfr.reports._loader import open_session

    return open_session()


Format = Annotated[str, typer.Option("--format", "-f", help="html, pdf or json.")]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")]
AsJson = Annotated[bool, typer.Option("--json", help="Same as --format json.")]


@report_app.command("deployment")
def report_deployment(
    deployment_id: str = typer.Argument(..., help="Deployment id."),
    fmt: Format = "html",
    out: Out = None,
    as_json: AsJson = False,
) -> None:
    """One deployment: counts, outcomes, both rates with intervals, timeline, watchlist."""
    from openlfr.reports import deployment as dep

    fmt = _report_format(fmt, as_json)
    with _session() as session:
        figures = dep.load_deployment_figures(session, deployment_id)
    _emit(fmt, out, lambda: json.dumps(dep.figures_json(figures)),
          lambda: dep.render_pdf(figures), lambda: dep.render_html(figures))


def _parse_day(text: str, end: bool) -> datetime:
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            t = datetime.combine(d, time(0, 0), tzinfo=UTC)
            return t + timedelta(days=1) if end else t  # --to DATE includes that day
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"cannot read the date {text!r}: use YYYY-MM-DD or ISO 8601") from exc
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@report_app.command("transparency")
def report_transparency(
    start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD, UTC)."),
    end: str = typer.Option(..., "--to", help="Last day, included (YYYY-MM-DD, UTC)."),
    fmt: Format = "html",
    out: Out = None,
    as_json: AsJson = False,
) -> None:
    """Every deployment in a period, with totals and both rates (live and evaluation apart)."""
    from openlfr.reports import transparency as tr

    fmt = _report_format(fmt, as_json)
    t0, t1 = _parse_day(start, end=False), _parse_day(end, end=True)
    if t1 <= t0:
        raise ConfigError("--to must not be before --from")
    with _session() as session:
        report = tr.load_transparency_figures(session, t0, t1)
    _emit(fmt, out, lambda: json.dumps(tr.transparency_json(report)),
          lambda: tr.render_pdf(report), lambda: tr.render_html(report))


def register(app: typer.Typer) -> None:
    app.command("baserate")(baserate)
    app.add_typer(report_app, name="report")
