"""The Art. 5(4) notification: the fields the Act asks for, counts for the watchlist, nothing
biometric or identifying; audited; a PDF with the same content."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import NotFound
from openlfr.governance import deployments, watchlist
from openlfr.governance.auth import create_user
from openlfr.governance.crypto import Keyring
from openlfr.governance.runtime import governed_factory
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, SubjectCreate, UserCreate
from openlfr.reports.notice import NOTICE_FIELDS, build_notice, notice_pdf
from openlfr.store.db import make_engine, upgrade
from openlfr.store.models import AuditEntry, Category, Deployment, Role

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
EMBEDDER = "arcface:9cc6e4a7"
NAMES = ["Ann Example", "Bob Example", "Cy Example"]


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url)
    s = governed_factory(engine, Keyring(os.urandom(32)))()
    try:
        yield s
    finally:
        s.close()
        engine.dispose()


def _deployment(s: Session) -> int:
    admin = create_user(s, None, UserCreate(username="admin", roles=[Role.ADMIN]), now=T0)
    ao = create_user(s, admin, UserCreate(username="ao", display_name="Chief Insp. Officer",
                                          roles=[Role.AUTHORISING_OFFICER]), now=T0)
    wm = create_user(s, admin, UserCreate(username="wm", roles=[Role.WATCHLIST_MANAGER]),
                     now=T0)
    rng = np.random.default_rng(1)
    cats = [Category.WANTED_BY_COURTS, Category.WANTED_BY_COURTS,
            Category.MISSING_PERSON_AT_RISK]
    for i, (name, cat) in enumerate(zip(NAMES, cats, strict=True)):
        v = rng.normal(size=128).astype(np.float32)
        watchlist.add_subject(s, wm, SubjectCreate(
            reference=f"WL-{i}", name=name, category=cat, source="court record",
            justification="warrant", expires_at=T0 + timedelta(days=60)),
            images=[b"\xff\xd8img" + bytes([i])], templates=[(EMBEDDER, v / np.linalg.norm(v))],
            now=T0 - timedelta(days=1))
    dep = deployments.create_deployment(s, ao, DeploymentCreate(
        name="Bridge", purpose="Locate missing people at risk and people wanted by the courts",
        legal_basis="Art. 5(1)(h)(i) and (iii); national law X", location="Old Bridge, Town",
        window_start=T0, window_end=T0 + timedelta(hours=6),
        cameras=[CameraSpec(camera_id="c1", source_url="rtsp://user:pw@10.1.1.1/live")],
        categories=[Category.WANTED_BY_COURTS, Category.MISSING_PERSON_AT_RISK],
        dpia_reference="DPIA-22", signage_confirmed=True, authorising_officer="ao",
        threshold=0.41, embedder_key=EMBEDDER), now=T0 - timedelta(hours=3))
    row = s.get(Deployment, dep.id)
    row.external_authority, row.external_reference = "District Court", "XY-2026-7"
    row.external_decision, row.notification_reference = "granted", "MSA-2026-0042"
    row.fria_reference, row.authorising_officer_rank = "FRIA-3", "Chief Inspector"
    watchlist.create_snapshot(s, wm, dep.id, now=T0 - timedelta(hours=2))
    watchlist.approve_snapshot(s, ao, dep.id, now=T0 - timedelta(hours=1))
    deployments.authorise(s, ao, dep.id, now=T0 - timedelta(minutes=30))
    s.commit()
    return dep.id


def _strings(obj: object) -> str:
    return json.dumps(obj, default=str)


def test_notice_has_the_fields_and_counts_only(session: Session) -> None:
    dep_id = _deployment(session)
    n = build_notice(session, dep_id, actor="ao", now=T0, deployer="Town Police")
    assert tuple(n) == NOTICE_FIELDS
    assert (n["deployer"], n["place"], n["purpose"][:6]) == ("Town Police", "Old Bridge, Town",
                                                             "Locate")
    assert n["window"] == {"start": "2026-04-01T08:00:00Z", "end": "2026-04-01T14:00:00Z"}
    assert n["legal_basis"].startswith("Art. 5(1)(h)")
    a = n["authorisation"]
    assert a["authorising_officer"] == {"name": "Chief Insp. Officer", "rank": "Chief Inspector"}
    assert a["external"]["authority"] == "District Court"
    assert a["external"]["decision"] == "granted"
    assert (a["dpia_reference"], a["fria_reference"]) == ("DPIA-22", "FRIA-3")
    assert n["authorities_notified"]["notification_reference"] == "MSA-2026-0042"
    assert n["watchlist"]["size"] == 3
    assert n["watchlist"]["categories"] == [
        {"category": "missing_person_at_risk", "entries": 1},
        {"category": "wanted_by_courts", "entries": 2}]
    assert n["system"]["cameras"] == 1
    text = _strings(n)
    for secret in [*NAMES, "WL-0", "rtsp://", "10.1.1.1", "pw@"]:
        assert secret not in text
    snap_hash = session.get(Deployment, dep_id).snapshot_hash
    assert snap_hash is None or snap_hash not in text


def test_notice_is_audited(session: Session) -> None:
    dep_id = _deployment(session)
    build_notice(session, dep_id, actor="ao", now=T0)
    session.commit()
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert (entry.action, entry.actor, entry.target) == ("deployment_notice", "ao",
                                                         f"deployment:{dep_id}")
    assert len(json.loads(entry.details)["sha256"]) == 64


def test_unknown_deployment(session: Session) -> None:
    with pytest.raises(NotFound):
        build_notice(session, 404)


def test_pdf_holds_the_notice(session: Session, tmp_path: Path) -> None:
    n = build_notice(session, _deployment(session), now=T0, deployer="Town <Police> & Co")
    pdf = notice_pdf(n)
    assert pdf.startswith(b"%PDF") and pdf == notice_pdf(n)  # invariant: same bytes
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: text not checked")
    (tmp_path / "n.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "n.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    for expected in ("Town <Police> & Co", "Old Bridge, Town", "MSA-2026-0042",
                     "wanted_by_courts: 2", "District Court"):
        assert expected in text
    for secret in NAMES:
        assert secret not in text
