"""The public page and feed: no sign-in, only the allowed fields, rate limited, audited.

A real app on a temporary SQLite store holds a live deployment that ran and ended (counts and
adjudicated alerts), an upcoming one, a draft and an evaluation. The JSON, the Atom feed and
the page (in headless Chromium) must show the first two and nothing outside
``PUBLIC_FIELDS``, and none of what is secret (watchlist entries, cameras, model, threshold,
officers, references).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from openlfr.api.app import create_app
from openlfr.api.routes.public import PUBLIC_FIELDS, PublicRateLimit
from openlfr.governance import alerts, deployments, watchlist
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, SubjectCreate
from openlfr.store.models import AuditEntry, Category, DeploymentKind, Role, User

from .conftest import make_settings, seed_users

EMBEDDER = "arcface:5ec2e7"
SECRETS = ("Jane Watchlisted", "REF-SECRET-9", "rtsp://", "cam-secret", EMBEDDER, "0.4321",
           "DPIA-SECRET", "authorising_officer", "Draft place", "Evaluation bench")
ATOM = "{http://www.w3.org/2005/Atom}"


def _dep(s: Any, ao: User, now: datetime, place: str, start: datetime, hours: float = 4,
         kind: DeploymentKind = DeploymentKind.LIVE) -> Any:
    return deployments.create_deployment(s, ao, DeploymentCreate(
        name=f"name of {place}", kind=kind, purpose=f"Find people wanted at {place}",
        legal_basis="Police and Criminal Evidence Act <s.1> & common law", location=place,
        window_start=start, window_end=start + timedelta(hours=hours),
        cameras=[CameraSpec(camera_id="cam-secret", source_url="rtsp://u:pw@10.0.0.9/1")],
        categories=[Category.WANTED_BY_COURTS], dpia_reference="DPIA-SECRET",
        signage_confirmed=True, authorising_officer="authorising_officer",
        threshold=0.4321, embedder_key=EMBEDDER), now)


def seed(sessions: Any, users: dict[Role, User], now: datetime) -> dict[str, int]:
    """Ended (ran two hours ago), upcoming, draft and evaluation deployments."""
    with sessions() as s:
        ao, wm, op = (s.get(User, users[r].id) for r in (
            Role.AUTHORISING_OFFICER, Role.WATCHLIST_MANAGER, Role.OPERATOR))
        vec = np.random.default_rng(0).normal(size=64).astype(np.float32)
        subj = watchlist.add_subject(s, wm, SubjectCreate(
            reference="REF-SECRET-9", name="Jane Watchlisted", category=Category.WANTED_BY_COURTS,
            source="court", justification="warrant", expires_at=now + timedelta(days=30)),
            [b"\xff\xd8\xff" + b"1" * 50], [(EMBEDDER, vec / np.linalg.norm(vec))],
            now - timedelta(hours=5))
        t0 = now - timedelta(hours=3)
        ended = _dep(s, ao, t0 - timedelta(hours=1), "Market Square", t0)
        watchlist.create_snapshot(s, wm, ended.id, now=t0 - timedelta(minutes=30))
        watchlist.approve_snapshot(s, ao, ended.id, now=t0 - timedelta(minutes=20))
        deployments.authorise(s, ao, ended.id, now=t0 - timedelta(minutes=10))
        deployments.start(s, ao, ended.id, now=t0 + timedelta(minutes=1))
        alerts.add_counters(s, ended.id, "cam-secret", frames=5000, dropped=0, faces=2000,
                            tracks=900, now=t0 + timedelta(minutes=30))
        for i, outcome in enumerate(["confirmed", "rejected", "rejected"]):
            a = alerts.record_alert(s, ended.id, "cam-secret", f"t{i}", subj.id, 0.61,
                                    b"probe", at=t0 + timedelta(minutes=10 + i))
            alerts.adjudicate(s, op, a.id, outcome, now=t0 + timedelta(minutes=20 + i))
        deployments.stop(s, ao, ended.id, now=t0 + timedelta(hours=1))
        upcoming = _dep(s, ao, now, "Station <Forecourt> & Co", now + timedelta(days=2))
        deployments.authorise(s, ao, upcoming.id, now=now)
        _dep(s, ao, now, "Draft place", now + timedelta(days=3))
        _dep(s, ao, now, "Evaluation bench", now + timedelta(days=1),
             kind=DeploymentKind.EVALUATION)
        s.commit()
        return {"ended": ended.id, "upcoming": upcoming.id}


@dataclass
class Site:
    client: TestClient
    app: Any
    ids: dict[str, int]

    def audit(self) -> list[AuditEntry]:
        with self.app.state.ctx.sessions() as s:
            return list(s.scalars(select(AuditEntry).where(
                AuditEntry.action == "public_view").order_by(AuditEntry.seq)))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    settings = make_settings(tmp_path_factory.mktemp("public"))
    app = create_app(settings, run_cameras=False, session_key=b"p" * 32)
    users, _ = seed_users(app.state.ctx.sessions)
    ids = seed(app.state.ctx.sessions, users, datetime.now(UTC))
    with TestClient(app, base_url="http://testserver") as client:
        yield Site(client, app, ids)


@pytest.fixture(autouse=True)
def fresh_limit(site: Site) -> None:
    site.app.state.public_rate_limit = PublicRateLimit()


def _paths(obj: Any, prefix: str = "") -> set[str]:
    """Dotted field paths of a JSON value (list items share their list's path; the
    definitions are text keyed by rate name, so their keys are data, not fields)."""
    if isinstance(obj, list):
        return set().union(*(_paths(x, prefix) for x in obj)) if obj else set()
    if isinstance(obj, dict) and prefix not in ("definitions.",) and not (
            prefix.endswith("ci95.")):
        out = set()
        for k, v in obj.items():
            out.add(prefix + k)
            out |= _paths(v, f"{prefix}{k}.")
        return out
    return set()


def test_json_lists_only_allowed_fields_without_sign_in(site: Site) -> None:
    r = site.client.get("/public/deployments.json")
    assert r.status_code == 200, r.text
    body = r.json()
    assert _paths(body) - PUBLIC_FIELDS == set()
    by_id = {d["id"]: d for d in body["deployments"]}
    assert set(by_id) == {site.ids["ended"], site.ids["upcoming"]}
    ended, upcoming = by_id[site.ids["ended"]], by_id[site.ids["upcoming"]]
    assert (ended["state"], upcoming["state"]) == ("ended", "upcoming")
    assert upcoming["results"] is None
    res = ended["results"]
    assert (res["tracks"], res["alerts"]) == (900, 3)
    assert "tracks per person" in res["tracks_note"]
    assert (res["false_alert_rate"]["count"], res["false_alert_rate"]["of"]) == (2, 900)
    assert (res["alert_precision"]["count"], res["alert_precision"]["of"]) == (1, 3)
    for secret in SECRETS:
        assert secret not in r.text


def test_atom_feed_is_escaped_and_holds_only_the_list(site: Site) -> None:
    r = site.client.get("/public/deployments.atom")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(r.content)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 2
    titles = [e.findtext(f"{ATOM}title") for e in entries]
    assert any(t.startswith("Station <Forecourt> & Co:") for t in titles)
    assert b"<Forecourt>" not in r.content  # escaped in the XML text
    allowed = {f"{ATOM}{t}" for t in ("id", "title", "updated", "link", "summary")}
    for e in entries:
        assert {c.tag for c in e} <= allowed
    summary = " ".join(e.findtext(f"{ATOM}summary") or "" for e in entries)
    assert "False alerts: 2 of 900 tracks (" in summary
    for secret in SECRETS:
        assert secret not in r.text


def test_every_view_is_audited_without_the_reader(site: Site) -> None:
    before = len(site.audit())
    for path in ("/public/deployments", "/public/deployments.json", "/public/deployments.atom"):
        assert site.client.get(path).status_code == 200
    new = site.audit()[before:]
    assert [e.actor for e in new] == ["anonymous"] * 3
    assert ['"format":"html"' in new[0].details, '"format":"json"' in new[1].details] == [
        True, True]
    assert all('"deployments":2' in e.details and "testclient" not in e.details for e in new)


def test_rate_limited_per_client_and_not_audited_past_it(site: Site) -> None:
    clock = [1000.0]
    site.app.state.public_rate_limit = PublicRateLimit(per_client=3, total=5, window_s=60,
                                                       clock=lambda: clock[0])
    for _ in range(3):
        assert site.client.get("/public/deployments.json").status_code == 200
    before = len(site.audit())
    refused = site.client.get("/public/deployments.atom")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert len(site.audit()) == before
    clock[0] += 61
    assert site.client.get("/public/deployments.json").status_code == 200


def test_total_limit_across_clients() -> None:
    clock = [0.0]
    limit = PublicRateLimit(per_client=2, total=3, window_s=10, clock=lambda: clock[0])
    assert [limit.check(k) for k in ("a", "b", "c")] == [None, None, None]
    assert limit.check("d") == 10
    clock[0] = 10.5
    assert limit.check("d") is None
    with pytest.raises(ValueError):
        PublicRateLimit(per_client=5, total=2)


def test_the_page_shows_no_image_or_secret(site: Site) -> None:
    r = site.client.get("/public/deployments")
    assert r.status_code == 200 and "<img" not in r.text
    assert "Station &lt;Forecourt&gt; &amp; Co" in r.text
    for secret in SECRETS:
        assert secret not in r.text


# --- the page in a real browser ----------------------------------------------------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def served(site: Site) -> Iterator[str]:
    import uvicorn

    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (run scripts/ensure-chromium as root)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(site.app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # until it listens, or its thread has died
        if not thread.is_alive():
            pytest.fail("the test server exited before it started")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.browser
def test_public_page_in_the_browser_shows_only_allowed_fields(site: Site, served: str) -> None:
    from playwright.sync_api import sync_playwright

    from .test_console_browser import CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()  # no cookie: never signed in
            page.goto(f"{served}/public/deployments")
            shown = set(page.eval_on_selector_all(
                "[data-field]", "els => els.map(e => e.dataset.field)"))
            assert shown - PUBLIC_FIELDS == set(), shown - PUBLIC_FIELDS
            assert {"deployments.place", "deployments.purpose", "deployments.legal_basis",
                    "deployments.window_start", "deployments.results.false_alert_rate",
                    "deployments.results.alert_precision"} <= shown
            assert page.locator("img, video, canvas, iframe, form, input").count() == 0
            articles = page.locator("article.deployment")
            assert articles.count() == 2
            text = page.inner_text("body")
            assert "Station <Forecourt> & Co" in text
            assert "2 false alerts of 900 tracks" in text
            for secret in SECRETS:
                assert secret not in text and secret not in page.content()
        finally:
            browser.close()
