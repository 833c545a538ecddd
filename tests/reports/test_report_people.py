"""The deployment report names the authorising officer and who decided each alert, with a
per-alert table (no images, no watchlisted names)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.governance import alerts
from openlfr.reports.deployment import (
    figures_json,
    load_deployment_figures,
    render_html,
    render_pdf,
)
from openlfr.store.models import Alert, User

from .helpers import check_html
from .test_loader import T0, _populate, empty_store, session  # noqa: F401  (fixtures)
from .test_pdf_layout import needs_poppler, overlaps, word_boxes


def _with_a_note(s: Session) -> int:
    dep_id = _populate(s)
    op = s.scalars(select(User).where(User.username == "op")).one()
    op.display_name = "PC Ann Other"
    a = alerts.record_alert(s, dep_id, "cam1", "late", s.scalars(select(Alert)).first()
                            .subject_id, 0.71, b"probe", at=T0 + timedelta(minutes=90))
    alerts.adjudicate(s, op, a.id, "rejected", now=T0 + timedelta(minutes=91),
                      note="different person: older, taller")
    s.flush()
    return dep_id


def test_report_names_the_officer_and_each_decider(session: Session) -> None:  # noqa: F811
    f = load_deployment_figures(session, _with_a_note(session))
    assert f.authorising_officer == "ao" and f.authorised_at == T0 - timedelta(minutes=40)
    last = f.timeline[-1]
    assert (last.camera, last.category, last.score, last.outcome) == (
        "cam1", "wanted_by_courts", 0.71, "rejected")
    assert last.decided_by == "PC Ann Other (op)"
    assert last.note == "different person: older, taller"
    assert f.timeline[0].decided_by == "PC Ann Other (op)"  # decided earlier, same officer
    pending = [p for p in f.timeline if p.outcome == "pending"]
    assert pending and all(p.decided_by is None for p in pending)
    out = figures_json(f)
    assert out["authorisation"]["officer"] == "ao"
    assert out["timeline"][-1] == {"at": "2025-06-02T10:30:00Z", "camera": "cam1",
                                   "category": "wanted_by_courts", "score": 0.71,
                                   "outcome": "rejected", "decided_by": "PC Ann Other (op)",
                                   "note": "different person: older, taller"}
    html = render_html(f)
    assert check_html(html) == []
    assert "Authorised by</dt><dd>ao, on" in html and 'id="alerts"' in html
    assert "older, taller" in html and "Subject 0" not in html  # no watchlisted names


@needs_poppler
def test_the_pdf_alert_table_is_readable(session: Session) -> None:  # noqa: F811
    pdf = render_pdf(load_deployment_figures(session, _with_a_note(session)))
    words = {w for page in word_boxes(pdf) for *_, w in page}
    assert {"Decided", "Ann", "taller", "Authorised"} <= words
    assert overlaps(pdf) == []


def test_the_timeline_zooms_to_alerts_that_fill_little_of_the_window() -> None:
    from datetime import UTC, datetime

    from openlfr.reports.deployment import AlertPoint, _plot_span

    from .conftest import make_figures

    def pending_only(points: list[AlertPoint]):  # type: ignore[no-untyped-def]
        return replace(make_figures(), timeline=tuple(points), alerts=len(points),
                       confirmed=0, rejected=0, not_engaged=0, disputed=0)

    t0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    few = [AlertPoint(t0 + timedelta(hours=3, minutes=m), "pending") for m in (0, 4, 10)]
    start, end, zoomed = _plot_span(pending_only(few))
    assert zoomed and end - start < timedelta(minutes=12)
    assert start < few[0].at and end > few[-1].at  # every mark inside, with a margin
    spread = [AlertPoint(t0 + timedelta(hours=h), "pending") for h in (0, 3, 5)]
    start, end, zoomed = _plot_span(pending_only(spread))
    assert not zoomed and end - start > timedelta(hours=6)  # the whole window


def test_a_looping_clip_reports_its_drops_for_what_they_are() -> None:
    from openlfr.reports._loader import _paced

    from .conftest import make_figures

    assert _paced("file:///var/demo/clip.mp4?loop=1") and _paced("rtsp://u:***@cam/1")
    assert not _paced("file:///var/clips/one-pass.mp4")
    f = make_figures(kind="evaluation", paced=True)
    html = render_html(f)
    assert "played in a loop at its own frame rate" in html
    assert "could not keep up with the camera&#39;s own frame rate" in html
    assert figures_json(f)["frames_dropped_means"].startswith("Frames dropped (skip")
    assert "played in a loop" not in render_html(make_figures(kind="evaluation"))
