"""Each role walks its console pages in headless Chromium against a real ``openlfr serve``
(the ``server`` fixture of test_console_browser): any broken image, console error or 4xx/5xx
response a page gets fails the walk. Then the queue's flows end to end: repeat alerts
grouped, a rejection decided with a reason and a note, the audit log searched and exported.
Screenshots: ``test-artifacts/queue.png`` and ``test-artifacts/audit-search.png``
(``docs/screenshots/`` holds optimised copies).

Seeded before the browsers start: an active deployment (its camera's file does not exist,
so no pipeline runs) with four alerts of one subject, two of another and one of a third.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from openlfr.governance import deployments, watchlist
from openlfr.governance.alerts import record_alert
from openlfr.governance.crypto import load_keyring
from openlfr.governance.runtime import governed_factory
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, SubjectCreate
from openlfr.store import make_engine
from openlfr.store.models import Category, User

from .conftest import EMBEDDER, make_settings
from .test_console_browser import CHROMIUM, CHROMIUM_ARGS, _login, server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROLES = ["operator", "engagement_officer", "authorising_officer", "watchlist_manager",
         "auditor", "admin"]


def _jpeg(rgb: tuple[int, int, int]) -> bytes:
    """A drawn head and shoulders (no real face) on a coloured ground."""
    im = Image.new("RGB", (96, 96), rgb)
    draw = ImageDraw.Draw(im)
    draw.ellipse((30, 14, 66, 56), fill=(235, 205, 180))
    draw.ellipse((14, 60, 82, 120), fill=(60, 60, 70))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def seed(data: Path, *, two_person: bool = False) -> dict[str, Any]:
    settings = make_settings(data)
    engine = make_engine(settings.resolved_database_url)
    sessions = governed_factory(engine, load_keyring(settings, dev=True))
    now = datetime.now(UTC)
    vec = np.ones(128, np.float32) / np.sqrt(128)
    try:
        with sessions() as s:
            user = {u.username: u for u in s.query(User)}
            subjects = [watchlist.add_subject(s, user["watchlist_manager"], SubjectCreate(
                reference=f"ROLE-{i}", name=name, category=Category.WANTED_BY_COURTS,
                source="test", justification="browser test",
                expires_at=now + timedelta(days=3)), [_jpeg(rgb)], [(EMBEDDER, vec)], now)
                for i, (name, rgb) in enumerate([("Repeat Subject", (200, 80, 80)),
                                                 ("Other Subject", (80, 80, 200)),
                                                 ("Third Subject", (80, 160, 90))])]
            ao = user["authorising_officer"]
            dep = deployments.create_deployment(s, ao, DeploymentCreate(
                name="walk", purpose="browser walk", legal_basis="test", location="bench",
                window_start=now - timedelta(minutes=5), window_end=now + timedelta(hours=2),
                cameras=[CameraSpec(camera_id="cam1", source_url="file:/nonexistent/walk.mp4")],
                categories=[Category.WANTED_BY_COURTS], dpia_reference="D",
                signage_confirmed=True, authorising_officer="authorising_officer",
                threshold=0.4, embedder_key=EMBEDDER, two_person_verification=two_person), now)
            deployments.authorise(s, ao, dep.id, now)
            watchlist.create_snapshot(s, ao, dep.id, now)
            watchlist.approve_snapshot(s, ao, dep.id, now)
            deployments.start(s, user["operator"], dep.id, now)
            for i, subject in enumerate([0, 0, 0, 0, 2, 1, 2]):
                record_alert(s, dep.id, "cam1", str(i), subjects[subject].id, 0.6 + i / 100,
                             _jpeg((120, 120 + 20 * i, 120)), now + timedelta(seconds=i))
            s.commit()
            return {"deployment_id": dep.id}
    finally:
        engine.dispose()


class Watch:
    """What went wrong on a page: console errors, 4xx/5xx responses, broken images."""

    def __init__(self, page: Any) -> None:
        self.page, self.problems = page, []
        page.on("console", lambda m: m.type == "error" and self.problems.append(
            f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"{r.status} {r.request.method} {r.url}"))

    def visit(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")
        broken = self.page.evaluate("() => [...document.images].filter(i => !i.complete"
                                    " || i.naturalWidth === 0).map(i => i.src)")
        self.problems += [f"broken image on {url}: {src}" for src in broken]


@pytest.fixture
def seeded(server: tuple[str, Path]) -> tuple[str, dict[str, Any]]:  # noqa: F811
    base, data = server
    return base, seed(data)


@pytest.fixture
def browser() -> Any:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _page(browser: Any, base: str, role: str) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 800},
                               accept_downloads=True).new_page()
    _login(page, base, role)
    return page


@pytest.mark.parametrize("role", ROLES)
def test_each_role_walks_its_pages_cleanly(seeded: tuple[str, dict[str, Any]], browser: Any,
                                           role: str) -> None:
    base, ids = seeded
    page = _page(browser, base, role)
    watch = Watch(page)
    links = page.eval_on_selector_all("header nav a", "els => els.map(e => e.getAttribute('href'))")
    assert links, f"{role} has no pages"
    if "/console/deployments" in links:
        links.append(f"/console/deployments/{ids['deployment_id']}")
    for href in links:
        watch.visit(base + href)
    if "/console/operator" in links:
        page.goto(base + "/console/operator")
        page.wait_for_selector("#pending .alert-card")
        status = page.locator("#active-status")
        assert "Scanning now: deployment" in status.inner_text(), status.inner_text()
        if role in ("auditor",):
            assert page.locator("#pending img").count() == 0
            assert page.locator("#pending .placeholder").count() == 2 * 3  # 3 cards
    assert watch.problems == [], f"{role}: {watch.problems}"


def test_group_decide_with_a_note_then_search_and_export_the_audit(
        seeded: tuple[str, dict[str, Any]], browser: Any) -> None:
    from playwright.sync_api import expect

    base, _ = seeded
    ARTIFACTS.mkdir(exist_ok=True)
    op = _page(browser, base, "operator")
    watch = Watch(op)
    watch.visit(base + "/console/operator")
    cards = op.locator("#pending .alert-card")
    expect(cards).to_have_count(3)
    expect(op.locator("#pending-count")).to_have_text("7")
    group = op.locator('#pending .alert-card[data-count="4"]')
    expect(group).to_contain_text("4 alerts of this subject on this deployment")
    expect(group.locator(".when")).to_contain_text("UTC")
    op.wait_for_function("() => [...document.querySelectorAll('#pending img')]"
                         ".every(i => i.complete && i.naturalWidth > 0)")

    op.keyboard.press("?")
    expect(op.locator("#shortcuts")).to_be_visible()
    op.click("#shortcuts-link")
    expect(op.locator("#shortcuts")).to_be_hidden()
    group.locator("button[data-outcome=rejected]").click()   # the dialog asks first
    dialog = op.locator("#decide")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("all 4 alerts of Repeat Subject")
    op.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(op.locator("#pending-count")).to_have_text("7")
    group.focus()
    op.keyboard.press("r")                                   # the shortcut opens it too
    expect(dialog).to_be_visible()
    op.select_option("#decide-reason", "a different person")
    op.fill("#decide-note", "older man, different hairline")
    op.click("#decide-ok")
    expect(dialog).to_be_hidden()
    expect(op.locator("#pending-count")).to_have_text("3")
    expect(cards).to_have_count(2)
    expect(op.locator('#pending .alert-card[data-count="2"]')).to_contain_text(
        "2 alerts of this subject")
    row = op.locator("#decided .decided-row")
    expect(row).to_have_count(1)                             # one row for the four
    expect(row).to_contain_text("4 alerts (1, 2, 3, 4)")
    expect(row).to_contain_text("rejected")
    expect(row).to_contain_text("by operator at")
    expect(row).to_contain_text("different hairline")
    op.locator("h2:has(#pending-count)").evaluate("e => e.scrollIntoView()")
    op.screenshot(path=str(ARTIFACTS / "queue.png"))
    assert watch.problems == [], watch.problems

    au = _page(browser, base, "auditor")
    watch = Watch(au)
    watch.visit(base + "/console/audit")
    au.fill("#q-actor", "operator")
    au.fill("#q-action", "adjudicate")
    au.fill("#q-since", datetime.now(UTC).strftime("%Y-%m-%d 00:00"))
    au.click("#audit-search button[type=submit]")
    expect(au.locator("#audit-summary")).to_have_text("4 matching entries")
    expect(au.locator("#audit tbody tr")).to_have_count(4)
    au.screenshot(path=str(ARTIFACTS / "audit-search.png"))
    with au.expect_download() as dl:
        au.click("#export-jsonl")
    rows = [json.loads(line) for line in Path(dl.value.path()).read_text().splitlines()]
    assert [(r["actor"], r["action"], r["details"]["reason"]) for r in rows] == [
        ("operator", "adjudicate", "a different person")] * 4
    au.fill("#q-actor", "auditor")
    au.fill("#q-action", "audit_export")
    au.click("#audit-search button[type=submit]")
    expect(au.locator("#audit-summary")).to_have_text("1 matching entry")
    expect(au.locator("#audit tbody")).to_contain_text('"format":"jsonl"')
    assert watch.problems == [], watch.problems


def test_two_person_verification_keeps_the_card_until_a_second_person_agrees(
        server: tuple[str, Path], browser: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    base, data = server
    seed(data, two_person=True)
    pages = {}
    for role in ("operator", "engagement_officer"):
        pages[role] = _page(browser, base, role)
        pages[role].goto(base + "/console/operator")
        expect(pages[role].locator("#pending-count")).to_have_text("7")
    op, eo = pages["operator"], pages["engagement_officer"]
    op.locator('#pending .alert-card[data-count="1"] button[data-outcome=confirmed]').click()
    op.click("#decide-ok")
    card = op.locator('#pending .alert-card[data-count="1"]')
    expect(card).to_contain_text("You have decided; a second person must agree.")
    expect(card.locator("button")).to_have_count(0)
    expect(op.locator("#pending-count")).to_have_text("7")
    other = eo.locator('#pending .alert-card[data-count="1"]')   # pushed to the other console
    expect(other).to_contain_text("1 so far by operator")
    other.locator("button[data-outcome=confirmed]").click()
    eo.click("#decide-ok")
    expect(eo.locator("#pending-count")).to_have_text("6")
    row = eo.locator("#decided .decided-row")
    expect(row).to_contain_text("confirmed")
    expect(row).to_contain_text("by operator and engagement_officer at")
    expect(op.locator("#pending-count")).to_have_text("6")    # and back to the first
