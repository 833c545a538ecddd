"""The report pages open in a real browser and load nothing from outside the page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from openlfr.reports.deployment import render_html

from .conftest import make_figures

pytestmark = pytest.mark.browser


def test_deployment_page_opens_in_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is absent: run scripts/ensure-chromium as root")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    page_file = tmp_path / "report.html"
    page_file.write_text(render_html(make_figures()), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            assert page.title() == "Deployment report: Oxford Street east"
            # the timeline decoded from its data URI at its full size
            assert page.evaluate("document.querySelector('figure img').naturalWidth") == 880
            assert page.locator("#alert-precision .counts").inner_text().startswith(
                "3 of 5 adjudicated alerts")
            assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
        finally:
            browser.close()


def test_report_screenshot_with_the_people_and_each_alert() -> None:
    """``test-artifacts/report.png`` (1280x800), the per-alert table in view: who authorised,
    who decided each alert, their notes (``docs/screenshots/report.png`` is a copy)."""
    from datetime import timedelta

    from openlfr.reports.deployment import REPORT_STATUSES, AlertPoint

    from .conftest import T0

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is absent: run scripts/ensure-chromium as root")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    who = {"confirmed": "PC A. Khan (akhan)", "rejected": "PC J. Doe (jdoe)",
           "not_engaged": "PC A. Khan (akhan)", "disputed": "PC J. Doe (jdoe), PS R. Li (rli)"}
    notes = {"rejected": "different person: older, no scar", "confirmed": "arrested 10:31"}
    timeline = tuple(AlertPoint(T0 + timedelta(minutes=7 * i + 3), o, camera=f"cam{i % 2 + 1}",
                                category="wanted_by_courts", score=0.41 + 0.03 * i,
                                decided_by=who.get(o), note=notes.get(o))
                     for i, o in enumerate(REPORT_STATUSES))
    figures = make_figures(authorising_officer="Supt. M. Reyes (mreyes)",
                           authorised_at=T0 - timedelta(hours=20))
    figures = type(figures).from_timeline(timeline, **{
        k: getattr(figures, k) for k in figures.__dataclass_fields__
        if k not in ("timeline", "alerts", "confirmed", "rejected", "not_engaged",
                     "disputed")})
    out = Path(__file__).resolve().parents[2] / "test-artifacts"
    out.mkdir(exist_ok=True)
    page_file = out / "report.html"
    page_file.write_text(render_html(figures), encoding="utf-8")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(page_file.as_uri())
            assert page.locator("#alerts tbody tr").count() == len(REPORT_STATUSES)
            page.evaluate("document.querySelector('figure').scrollIntoView()")
            page.screenshot(path=str(out / "report.png"))
        finally:
            browser.close()
    assert (out / "report.png").stat().st_size > 10_000
