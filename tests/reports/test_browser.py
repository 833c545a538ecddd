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
