"""The deployment wizard and the edit of a draft, end to end in headless Chromium against a
real ``openlfr serve`` (the fixtures of test_console_browser): an authorising officer walks
the six steps (two cameras, a visible category list, UTC times), saves a draft without
signage, is refused authorisation with the reason, edits the draft (only the changed fields
are sent, audited) and authorises it. Screenshots: ``test-artifacts/wizard.png`` and
``test-artifacts/report.png`` (``docs/screenshots/`` holds optimised copies)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from openlfr.store import make_engine
from openlfr.store.models import AuditEntry, Deployment

from .conftest import make_settings
from .test_console_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _login, server  # noqa: F401
from .wizard_steps import fill_wizard

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_wizard_then_edit_a_draft(server: tuple[str, Path]) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, data = server
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ao = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            _login(ao, base, "authorising_officer")  # (the sign-in page asks for a favicon)
            ao.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            ao.on("pageerror", lambda e: errors.append(str(e)))
            ao.goto(f"{base}/console/deployments")
            # times are UTC and say so; the categories are a visible list
            expect(ao.locator("label[for=w-start]")).to_have_text("Window opens (UTC)")
            expect(ao.locator("#w-categories input[type=checkbox]")).to_have_count(7)
            ao.click("#w-next")  # step 1 is incomplete: the wizard stays on it
            expect(ao.locator("fieldset[data-step=purpose]")).to_be_visible()
            fill_wizard(ao, name="Wizard test", kind="live",
                        cameras=[("gate-1", "rtsp://10.0.0.1/s"),
                                 ("gate-2", "rtsp://u:pw@10.0.0.2/s")],
                        categories=["wanted_by_courts", "missing_person_at_risk"],
                        signage=False)
            expect(ao.locator("#w-summary")).to_contain_text("gate-1, gate-2")
            expect(ao.locator("#w-summary")).to_contain_text("NOT confirmed")
            expect(ao.locator("fieldset.step:visible")).to_have_count(1)  # one step at a time
            ao.evaluate("document.getElementById('wizard').closest('section')"
                        ".scrollIntoView()")
            ao.screenshot(path=str(ARTIFACTS / "wizard.png"))
            ao.click("#w-save-authorise")  # saved, but refused: no signage
            ao.wait_for_url("**/edit?refused=*")
            expect(ao.locator("#flash")).to_contain_text("signage is not confirmed")
            dep_id = int(ao.url.split("/deployments/")[1].split("/")[0])

            # the draft, edited: a new place and the signs are up
            expect(ao.locator("#w-name")).to_have_value("Wizard test")
            ao.click("#goto-place")
            ao.fill("#w-place", "North gate")
            ao.click("#goto-safeguards")
            ao.check("#w-sign")
            ao.click("#goto-authorise")
            expect(ao.locator("#w-summary")).to_contain_text("North gate")
            ao.click("#w-save")
            ao.wait_for_url(f"{base}/console/deployments/{dep_id}")
            expect(ao.locator("#deployment-state")).to_have_text("draft")
            expect(ao.locator("main")).to_contain_text("North gate")
            ao.click("#action-authorise")
            ao.wait_for_load_state("load")
            expect(ao.locator("#deployment-state")).to_have_text("authorised", timeout=30_000)
            expect(ao.locator("#action-edit")).to_have_count(0)  # frozen once authorised
        finally:
            browser.close()
    # the one refusal asked for (authorising without signage) is the only failed request
    assert errors == ["Failed to load resource: the server responded with a status of 409 "
                      "(Conflict)"]
    engine = make_engine(make_settings(data).resolved_database_url)
    try:
        with engine.connect() as c:
            dep = c.execute(select(Deployment.location, Deployment.signage_confirmed)
                            .where(Deployment.id == dep_id)).one()
            assert tuple(dep) == ("North gate", True)
            (details,) = c.execute(select(AuditEntry.details).where(
                AuditEntry.action == "deployment_update",
                AuditEntry.target == f"deployment:{dep_id}")).scalars()
            # only what changed was sent: the masked camera URL kept its password
            assert json.loads(details)["changed"] == ["location", "signage_confirmed"]
    finally:
        engine.dispose()
    assert (ARTIFACTS / "wizard.png").stat().st_size > 10_000
