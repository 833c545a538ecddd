"""The loader builds the report figures from a real (temporary SQLite) store, filled through
the governance services, and the report commands read that store."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from openlfr.errors import NotFound
from openlfr.governance import alerts, deployments, watchlist
from openlfr.governance.auth import create_user
from openlfr.governance.crypto import Keyring
from openlfr.governance.runtime import governed_factory
from openlfr.governance.schemas import (
    CameraSpec,
    DeploymentCreate,
    SubjectCreate,
    UserCreate,
)
from openlfr.metrics import Proportion
from openlfr.reports.deployment import figures_json, render_html
from openlfr.reports.transparency import load_transparency_figures
from openlfr.store.db import make_engine, upgrade
from openlfr.store.models import Category, Role, Snapshot, User

from .helpers import check_html

T0 = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
EMBEDDER = "arcface-mbf:0123abcd"
# (minutes after start, subject index, outcome or None for pending)
ALERTS = [(5, 0, "confirmed"), (12, 1, "rejected"), (20, 2, "rejected"), (31, 0, "not_engaged"),
          (44, 1, None), (50, 2, "confirmed")]


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite store, made once and copied for each test."""
    path = tmp_path_factory.mktemp("store") / "empty.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def session(empty_store: Path, tmp_path: Path) -> Iterator[Session]:
    path = tmp_path / "store.db"
    shutil.copyfile(empty_store, path)
    engine = make_engine(f"sqlite:///{path}")
    factory = governed_factory(engine, Keyring(os.urandom(32)))
    s = factory()
    try:
        yield s
    finally:
        s.close()
        engine.dispose()


def _populate(s: Session) -> int:
    """One live deployment, two cameras, three subjects, six alerts (see ALERTS)."""
    admin = create_user(s, None, UserCreate(username="admin", roles=[Role.ADMIN]), now=T0)

    def user(name: str, role: Role) -> User:
        return create_user(s, admin, UserCreate(username=name, roles=[role]), now=T0)

    officer = user("ao", Role.AUTHORISING_OFFICER)
    manager = user("wm", Role.WATCHLIST_MANAGER)
    operator = user("op", Role.OPERATOR)
    rng = np.random.default_rng(0)
    cats = [Category.WANTED_BY_COURTS, Category.WANTED_BY_COURTS,
            Category.MISSING_PERSON_AT_RISK]
    subjects = []
    for i, cat in enumerate(cats):
        v = rng.normal(size=512).astype(np.float32)
        subjects.append(watchlist.add_subject(
            s, manager, SubjectCreate(reference=f"S{i}", name=f"Subject {i}", category=cat,
                                      source="court record", justification="warrant",
                                      expires_at=T0 + timedelta(days=90)),
            images=[b"\xff\xd8jpeg" + bytes([i])], templates=[(EMBEDDER, v / np.linalg.norm(v))],
            now=T0 - timedelta(days=1)))
    dep = deployments.create_deployment(s, officer, DeploymentCreate(
        name="High Street", purpose="Locate people wanted by the courts", legal_basis="common law",
        location="High Street, Croydon", window_start=T0, window_end=T0 + timedelta(hours=4),
        cameras=[CameraSpec(camera_id="cam1", source_url="rtsp://cam1/stream"),
                 CameraSpec(camera_id="cam2", source_url="rtsp://cam2/stream")],
        categories=[Category.WANTED_BY_COURTS, Category.MISSING_PERSON_AT_RISK],
        dpia_reference="DPIA-7", signage_confirmed=True, authorising_officer="ao",
        threshold=0.45, embedder_key=EMBEDDER), now=T0 - timedelta(hours=2))
    watchlist.create_snapshot(s, manager, dep.id, now=T0 - timedelta(hours=1))
    watchlist.approve_snapshot(s, officer, dep.id, now=T0 - timedelta(minutes=50))
    deployments.authorise(s, officer, dep.id, now=T0 - timedelta(minutes=40))
    deployments.start(s, officer, dep.id, now=T0 + timedelta(minutes=1))
    alerts.add_counters(s, dep.id, "cam1", frames=9_000, dropped=40, faces=3_100, tracks=700,
                        now=T0 + timedelta(hours=1))
    alerts.add_counters(s, dep.id, "cam2", frames=8_000, dropped=10, faces=2_500, tracks=500,
                        now=T0 + timedelta(hours=1))
    for minutes, subject, outcome in ALERTS:
        at = T0 + timedelta(minutes=minutes)
        a = alerts.record_alert(s, dep.id, "cam1" if minutes % 2 else "cam2", f"t{minutes}",
                                subjects[subject].id, 0.6, b"probe", at=at)
        if outcome is not None:
            alerts.adjudicate(s, operator, a.id, outcome, now=at + timedelta(minutes=2))
    deployments.stop(s, officer, dep.id, now=T0 + timedelta(hours=2))
    s.flush()
    return dep.id


def test_loader_gives_the_deployment_figures(session: Session) -> None:
    dep_id = _populate(session)
    from openlfr.reports.deployment import load_deployment_figures

    f = load_deployment_figures(session, dep_id)
    assert (f.kind, f.state, f.place) == ("live", "ended", "High Street, Croydon")
    assert (f.frames_analysed, f.frames_dropped, f.faces_detected, f.tracks) == (
        17_000, 50, 5_600, 1_200)
    assert f.outcome_counts == {"confirmed": 2, "rejected": 2, "not_engaged": 1,
                                "disputed": 0, "pending": 1}
    assert f.alert_count == 6 and f.timeline_complete
    assert [a.outcome for a in f.timeline] == [o or "pending" for _m, _s, o in ALERTS]
    assert f.timeline[0].at == T0 + timedelta(minutes=5)
    assert f.false_alert_rate == Proportion(2, 1_200)
    assert f.alert_precision == Proportion(2, 4)
    assert f.watchlist_size == 3
    assert dict(f.watchlist_categories) == {"wanted_by_courts": 2, "missing_person_at_risk": 1}
    assert (f.threshold, f.model) == (0.45, EMBEDDER)
    assert f.started_at == T0 + timedelta(minutes=1) and f.ended_at == T0 + timedelta(hours=2)
    assert f.extra["dpia_reference"] == "DPIA-7"
    assert figures_json(f)["deployment"]["details"]["dpia_reference"] == "DPIA-7"
    assert check_html(render_html(f)) == []
    assert figures_json(f)["alerts"]["total"] == 6


def test_the_report_marks_urgent_use_and_the_external_decision(session: Session) -> None:
    dep_id = _populate(session)
    from openlfr.reports.deployment import load_deployment_figures
    from openlfr.store.models import Deployment

    f = load_deployment_figures(session, dep_id)
    assert f.extra["rule_profile"].startswith("custom") and "urgent_use" not in f.extra
    dep = session.get(Deployment, dep_id)
    dep.urgent, dep.urgent_reason = True, "imminent threat to life"
    dep.urgent_deadline = T0 + timedelta(hours=25)
    dep.external_authority, dep.external_decision = "Magistrates' court", "refused"
    dep.urgent_purged_at = T0 + timedelta(hours=3)
    session.flush()
    f = load_deployment_figures(session, dep_id)
    urgent = f.extra["urgent_use"]
    assert urgent.startswith("yes: imminent threat to life")
    assert "due by 2025-06-03 10:00 UTC" in urgent and "deleted on 2025-06-02 12:00" in urgent
    assert f.extra["external_authorisation"].startswith("refused (Magistrates' court")
    html = render_html(f)
    assert "Urgent use" in html and "External authorisation" in html
    assert figures_json(f)["deployment"]["details"]["urgent_use"] == urgent


def test_the_report_names_the_tracker_settings_the_cameras_reported(session: Session) -> None:
    from openlfr.pipeline.tracker import settings_fingerprint
    from openlfr.reports.deployment import load_deployment_figures

    dep_id = _populate(session)
    assert load_deployment_figures(session, dep_id).tracker_fingerprint is None
    alerts.add_run_counters(session, dep_id, "cam1", "run-1", 1,
                            {"frames": 0, "dropped": 0, "faces": 0, "tracks": 0}, T0,
                            tracker=settings_fingerprint(None))
    f = load_deployment_figures(session, dep_id)
    assert f.tracker_fingerprint == settings_fingerprint(None)
    note = figures_json(f)["rates"]["false_alert_rate"]["tracks_per_person"]["note"]
    assert "not recorded" not in note


def test_counts_survive_the_snapshot_and_alert_purge(session: Session) -> None:
    """After retention deletes the snapshot and the alert records, the counts remain."""
    dep_id = _populate(session)
    from openlfr.reports.deployment import load_deployment_figures
    from openlfr.store.models import Alert

    session.delete(session.query(Snapshot).filter_by(deployment_id=dep_id).one())
    for a in session.query(Alert).filter(Alert.status != "pending"):
        session.delete(a)
    session.flush()
    f = load_deployment_figures(session, dep_id)
    assert f.outcome_counts == {"confirmed": 2, "rejected": 2, "not_engaged": 1,
                                "disputed": 0, "pending": 1}
    assert len(f.timeline) == 1 and not f.timeline_complete
    assert f.watchlist_size == 3  # from the audit entry of the snapshot's approval
    assert dict(f.watchlist_categories) == {"wanted_by_courts": None,
                                            "missing_person_at_risk": None}


def test_transparency_period_and_unknown_deployment(session: Session) -> None:
    dep_id = _populate(session)
    r = load_transparency_figures(session, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert [f.deployment_id for f in r.deployments] == [str(dep_id)]
    assert r.totals("live").alert_precision == Proportion(2, 4)
    assert load_transparency_figures(session, T0 + timedelta(days=1),
                                     T0 + timedelta(days=2)).deployments == ()
    from openlfr.reports.deployment import load_deployment_figures

    with pytest.raises(NotFound):
        load_deployment_figures(session, 999)
    with pytest.raises(NotFound):
        load_deployment_figures(session, "abc")


def test_report_commands_read_the_store(session: Session, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    dep_id = _populate(session)
    session.commit()
    monkeypatch.setenv("OPENLFR_DATABASE_URL", str(session.get_bind().url))
    from openlfr.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["report", "deployment", str(dep_id), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["rates"]["false_alert_rate"]["count"] == 2
    assert out["rates"]["false_alert_rate"]["of"] == 1_200
    res = runner.invoke(app, ["report", "deployment", str(dep_id), "--format", "pdf",
                              "--out", str(tmp_path / "r.pdf")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF-")
    res = runner.invoke(app, ["report", "transparency", "--from", "2025-06-01", "--to",
                              "2025-06-02", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["totals"]["live"]["alerts"] == 6
    res = runner.invoke(app, ["report", "transparency", "--from", "2025-06-03", "--to",
                              "2025-06-30", "--format", "html", "--out",
                              str(tmp_path / "t.html")])
    assert res.exit_code == 0
    assert "No deployment" in (tmp_path / "t.html").read_text()


def test_report_refuses_a_missing_store_without_creating_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from openlfr.cli import app
    from openlfr.errors import ConfigError

    monkeypatch.delenv("OPENLFR_DATABASE_URL", raising=False)
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path / "var"))
    res = CliRunner().invoke(app, ["report", "deployment", "1", "--json"])
    assert isinstance(res.exception, ConfigError)
    assert "no OpenLFR store" in str(res.exception)
    assert not (tmp_path / "var").exists()
