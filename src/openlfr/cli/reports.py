"""Report commands: ``openlfr baserate`` and ``openlfr report deployment | transparency``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from openlfr.cli.options import Json, emit, json_option, parse_day
from openlfr.errors import ConfigError
from openlfr.reports import baserate as br
from openlfr.reports import deployment as dep
from openlfr.reports import transparency as tr
from openlfr.reports._format import describe, fmt_one_in, fmt_pct
from openlfr.reports._loader import open_session

__all__ = ["app"]

report_app = typer.Typer(help="Per-deployment and transparency reports (HTML, PDF, JSON).",
                         no_args_is_help=True)
app = typer.Typer()

_EXAMPLES = ("oxford-circus-2020", "npl-2023", "met-2024-2025")
NPL_CROWDS = [1_000, 6_000, 10_000, 60_000]
NPL_PRESENT = [0, 1, 5, 10]


@app.command("baserate")
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
    as_json: Json = False,
) -> None:
    """Expected alerts from a base rate, or observed rates from published counts.

    Expected: --crowd C --present M --tpir T --fpir F gives m*TPIR true and (C-m)*FPIR false
    alerts, the precision this implies and the false alert rate as "1 in N".
    Observed: --faces N --alerts A --false-alerts F gives the false alert rate and the
    precision with Wilson 95% intervals.
    """
    forward = bool(crowd or present or tpir is not None or fpir is not None)
    inverse = faces is not None or alerts is not None or false_alerts is not None
    if sum([forward, inverse, example is not None]) != 1:
        raise ConfigError("give either --crowd/--present/--tpir/--fpir (expected alerts), or "
                          "--faces/--alerts/--false-alerts (observed rates), or --example")
    if example is not None:
        if example == "npl-2023":
            return _expected(NPL_CROWDS, NPL_PRESENT, br.NPL_2023["tpir"], br.NPL_2023["fpir"],
                             as_json, npl=True)
        if example not in br.WORKED_EXAMPLES:
            raise ConfigError(f"unknown example {example!r}; choose from {', '.join(_EXAMPLES)}")
        ex = br.WORKED_EXAMPLES[example]
        out = {"mode": "observed", "example": {"key": ex.key, "title": ex.title,
                                               "source": ex.source},
               **ex.observed.as_dict()}
        return _observed(out, ex.observed, as_json, title=f"{ex.title} ({ex.source})")
    if forward:
        if not crowd or not present or tpir is None or fpir is None:
            raise ConfigError("expected alerts need --crowd, --present, --tpir and --fpir")
        return _expected(crowd, present, br.parse_rate(tpir), br.parse_rate(fpir), as_json)
    if faces is None or alerts is None or false_alerts is None:
        raise ConfigError("observed rates need --faces, --alerts and --false-alerts")
    obs = br.observed_rates(faces, alerts, false_alerts, not_engaged)
    _observed({"mode": "observed", **obs.as_dict()}, obs, as_json)


def _expected(crowd: list[int], present: list[int], tpir_v: float, fpir_v: float,
              as_json: bool, npl: bool = False) -> None:
    scenarios = br.scenario_grid(crowd, present, tpir_v, fpir_v)
    if not scenarios:
        raise ConfigError("every --present is larger than every --crowd")
    out: dict[str, Any] = {"mode": "expected", "tpir": tpir_v, "fpir": fpir_v,
                           "scenarios": [s.as_dict() for s in scenarios]}
    if npl:
        out["example"] = {"key": "npl-2023", "source": "NPL 2023 equitability study",
                          **br.NPL_2023}
    fpir_text = br.format_one_in(1 / fpir_v if fpir_v else None)
    emit(out, as_json, [
        f"TPIR {100 * tpir_v:g}%, FPIR {fpir_text} ({fpir_v:.3g}); expected alerts per crowd:",
        f"{'crowd':>10} {'present':>7} {'true':>8} {'missed':>7} {'false':>8} "
        f"{'total':>8} {'precision':>9} {'wrong':>7}  false alert rate",
        *(f"{s.crowd:>10,} {s.present:>7,} {s.expected_true:>8.2f} "
          f"{s.expected_missed:>7.2f} {s.expected_false:>8.2f} "
          f"{s.expected_total:>8.2f} {fmt_pct(s.precision):>9} "
          f"{fmt_pct(s.share_wrong):>7}  "
          f"{br.format_one_in(s.false_alert_one_in)} faces" for s in scenarios)])


def _observed(out: dict[str, Any], obs: Any, as_json: bool, title: str = "") -> None:
    emit(out, as_json, [
        *([title] if title else []),
        f"{obs.passers_by:,} faces, {obs.alerts:,} alerts, {obs.false_alerts:,} false, "
        f"{obs.not_engaged:,} not engaged",
        f"  false alert rate  {describe(obs.false_alert_rate, 'faces')}, about "
        f"{fmt_one_in(obs.false_alert_rate)}",
        f"  alert precision   {describe(obs.precision, 'adjudicated alerts')}",
        f"  share wrong       {describe(obs.share_wrong, 'adjudicated alerts')}"])


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


def _render(fmt: str, out: Path | None, as_json: Callable[[], str],
            as_pdf: Callable[[], bytes], as_html: Callable[[], str]) -> None:
    """Render the report in the chosen format only, then write it."""
    render = {"json": as_json, "pdf": as_pdf, "html": as_html}[fmt]
    _write(render(), out)


Format = Annotated[str, typer.Option("--format", "-f", help="html, pdf or json.")]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")]
AsJson = json_option("Same as --format json.")


@report_app.command("deployment")
def report_deployment(
    deployment_id: str = typer.Argument(..., help="Deployment id."),
    fmt: Format = "html",
    out: Out = None,
    as_json: AsJson = False,
) -> None:
    """One deployment: counts, outcomes, both rates with intervals, timeline, watchlist."""
    fmt = _report_format(fmt, as_json)
    with open_session() as session:
        figures = dep.load_deployment_figures(session, deployment_id)
    _render(fmt, out, lambda: json.dumps(dep.figures_json(figures)),
            lambda: dep.render_pdf(figures), lambda: dep.render_html(figures))


@report_app.command("transparency")
def report_transparency(
    start: str = typer.Option(..., "--from", help="First day (YYYY-MM-DD, UTC)."),
    end: str = typer.Option(..., "--to", help="Last day, included (YYYY-MM-DD, UTC)."),
    fmt: Format = "html",
    out: Out = None,
    as_json: AsJson = False,
) -> None:
    """Every deployment in a period, with totals and both rates (live and evaluation apart)."""
    fmt = _report_format(fmt, as_json)
    t0, t1 = parse_day(start, end=False), parse_day(end, end=True)
    if t1 <= t0:
        raise ConfigError("--to must not be before --from")
    with open_session() as session:
        report = tr.load_transparency_figures(session, t0, t1)
    _render(fmt, out, lambda: json.dumps(tr.transparency_json(report)),
            lambda: tr.render_pdf(report), lambda: tr.render_html(report))


app.add_typer(report_app, name="report")
