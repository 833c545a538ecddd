"""Camera credentials are encrypted at rest (issue 14, item 7), and a deployment whose window
passed while nothing noticed ends, in the audit log, at its last frame analysed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError
from openlfr.governance import alerts as GA
from openlfr.governance import deployments as D
from openlfr.governance.crypto import DecryptionError
from openlfr.governance.schemas import CameraSpec, DeploymentPublic
from openlfr.store.models import AuditEntry, DeploymentCamera

from .conftest import T0, People, active_deployment, deployment_data

H = timedelta(hours=1)
URL = "rtsp://user:secret@10.0.0.5/s1"


def _cams(session: Session, dep_id: int) -> dict[str, DeploymentCamera]:
    return {c.camera_id: c for c in session.scalars(select(DeploymentCamera).where(
        DeploymentCamera.deployment_id == dep_id))}


def test_a_camera_password_is_stored_only_encrypted(session: Session, people: People) -> None:
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    session.commit()
    raw = session.execute(text("SELECT camera_id, source_url, source_secret "
                               "FROM deployment_cameras ORDER BY camera_id")).all()
    assert [r[1] for r in raw] == ["rtsp://user:***@10.0.0.5/s1", "rtsp://10.0.0.6/s1"]
    assert all(r[2] is not None and b"secret" not in bytes(r[2]) for r in raw)
    assert D.camera_sources(session, dep) == {"cam1": URL, "cam2": "rtsp://10.0.0.6/s1"}
    shown = DeploymentPublic.model_validate(dep).model_dump(mode="json")["cameras"]
    assert "secret" not in str(shown)


def test_a_sealed_url_moved_to_another_row_does_not_decrypt(session: Session,
                                                            people: People) -> None:
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    session.flush()
    cams = _cams(session, dep.id)
    cams["cam2"].source_secret = cams["cam1"].source_secret
    with pytest.raises(DecryptionError):
        D.camera_source(session, cams["cam2"])


def test_a_url_stored_in_the_clear_before_0003_is_encrypted_on_first_read(
        session: Session, people: People) -> None:
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    session.flush()
    cam = _cams(session, dep.id)["cam1"]
    cam.source_url, cam.source_secret = URL, None  # what revision 0003 leaves behind
    session.commit()
    assert D.camera_source(session, cam) == URL
    session.commit()
    row = session.execute(text("SELECT source_url, source_secret FROM deployment_cameras "
                               "WHERE id = :i"), {"i": cam.id}).one()
    assert row[0] == "rtsp://user:***@10.0.0.5/s1" and row[1] is not None
    assert D.camera_source(session, cam) == URL


def test_without_a_key_a_password_is_refused_not_stored_plain(session: Session,
                                                              people: People) -> None:
    keyring = session.info["keyring"]
    session.info["keyring"] = None
    try:
        with pytest.raises(ConfigError, match="encrypted"):
            D.create_deployment(session, people.ao, deployment_data(), T0)
        session.rollback()
        plain = deployment_data(cameras=[CameraSpec(camera_id="c", source_url="rtsp://h/s")])
        dep = D.create_deployment(session, people.ao, plain, T0)
        assert D.camera_sources(session, dep) == {"c": "rtsp://h/s"}
    finally:
        session.info["keyring"] = keyring


def _end_entry(session: Session, dep_id: int) -> AuditEntry:
    return session.scalars(select(AuditEntry).where(
        AuditEntry.action == "deployment_end",
        AuditEntry.target.like(f"deployment:{dep_id}%"))).one()


def test_a_window_that_passed_unnoticed_ends_at_the_last_frame_analysed(
        session: Session, people: People) -> None:
    dep = active_deployment(session, people)  # window T0+1h .. T0+9h
    GA.add_counters(session, dep.id, "cam1", 10, 0, 2, 1, T0 + 3 * H)
    GA.add_counters(session, dep.id, "cam2", 10, 0, 2, 1, T0 + 4 * H)
    session.commit()
    assert D.end_expired(session, T0 + 30 * H) == [dep.id]  # the server was down
    session.commit()
    assert dep.ended_at == T0 + 4 * H
    assert '"ended_at":"' + (T0 + 4 * H).isoformat() in _end_entry(session, dep.id).details


def test_counters_reported_after_the_window_are_capped_at_its_end(
        session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    GA.add_counters(session, dep.id, "cam1", 10, 0, 2, 1, T0 + 9 * H + timedelta(seconds=3))
    session.commit()
    assert D.end_expired(session, T0 + 12 * H) == [dep.id]
    session.commit()
    assert dep.ended_at == dep.window_end
