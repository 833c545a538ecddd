"""Alerts, adjudication and counters on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError, StateError
from openlfr.governance import alerts as A
from openlfr.governance import audit
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.store.models import AlertStatus, AuditEntry, Outcome

from .conftest import DB, T0, People, active_deployment

H = timedelta(hours=1)


def test_alerts_refused_outside_an_active_window(session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    sid = W.get_snapshot(session, dep.id).subjects[0].subject_id
    with pytest.raises(StateError, match="camera 'cam9' is not part"):
        A.record_alert(session, dep.id, "cam9", "t1", sid, 0.6, b"probe", T0 + 2 * H)
    with pytest.raises(StateError, match="after the window"):
        A.record_alert(session, dep.id, "cam1", "t1", sid, 0.6, b"probe", T0 + 9 * H)
    with pytest.raises(StateError, match="not in deployment"):
        A.record_alert(session, dep.id, "cam1", "t1", 9999, 0.6, b"probe", T0 + 2 * H)
    alert = A.record_alert(session, dep.id, "cam1", "t1", sid, 0.6, b"probe", T0 + 2 * H)
    assert alert.status is AlertStatus.PENDING and alert.subject_reference == "S0"
    D.stop(session, people.op, dep.id, T0 + 3 * H)
    with pytest.raises(StateError, match="deployment is ended"):
        A.record_alert(session, dep.id, "cam1", "t2", sid, 0.6, b"probe", T0 + 4 * H)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "alert")).one()
    # Art. 12(3): the reference database checked and the input that produced the match.
    for key in ('"snapshot_hash"', '"probe_sha256"', '"snapshot_id"'):
        assert key in entry.details
    assert "probe" not in entry.details.replace("probe_sha256", "")


def test_single_and_two_person_adjudication(session: Session, people: People) -> None:
    dep = active_deployment(session, people, two_person_verification=True)
    sid = W.get_snapshot(session, dep.id).subjects[0].subject_id
    a1 = A.record_alert(session, dep.id, "cam1", "t1", sid, 0.7, b"p1", T0 + 2 * H)
    a2 = A.record_alert(session, dep.id, "cam2", "t2", sid, 0.5, b"p2", T0 + 2 * H)
    A.adjudicate(session, people.op, a1.id, "confirmed", T0 + 2 * H, note="looks right")
    assert a1.status is AlertStatus.PENDING
    with pytest.raises(StateError, match="different second user"):
        A.adjudicate(session, people.op, a1.id, Outcome.CONFIRMED, T0 + 2 * H)
    A.adjudicate(session, people.eo, a1.id, Outcome.CONFIRMED, T0 + 2 * H)
    assert a1.status is AlertStatus.CONFIRMED and a1.decided_at == T0 + 2 * H
    with pytest.raises(StateError, match="already decided"):
        A.adjudicate(session, people.eo2, a1.id, Outcome.REJECTED, T0 + 2 * H)
    A.adjudicate(session, people.op, a2.id, Outcome.CONFIRMED, T0 + 2 * H)
    A.adjudicate(session, people.eo, a2.id, Outcome.REJECTED, T0 + 2 * H)
    assert a2.status is AlertStatus.DISPUTED
    A.adjudicate(session, people.eo2, a2.id, Outcome.REJECTED, T0 + 2 * H)
    assert a2.status is AlertStatus.REJECTED
    with pytest.raises(ConfigError, match="unknown outcome"):
        A.adjudicate(session, people.eo2, a1.id, "maybe", T0 + 2 * H)
    session.commit()
    total = A.get_counters(session, dep.id)[0]
    assert (total.alerts, total.confirmed, total.rejected, total.not_engaged) == (2, 1, 1, 0)
    final = session.scalars(select(AuditEntry).where(AuditEntry.action == "adjudicate")
                            .order_by(AuditEntry.seq)).all()[1]
    assert '"verified_by":["eo","op"]' in final.details  # who verified the result


def test_counters_add_up_per_camera(session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    A.add_counters(session, dep.id, "cam1", 100, 3, 40, 9)
    A.add_counters(session, dep.id, "cam1", 50, 0, 10, 2)
    A.add_counters(session, dep.id, "cam2", 10, 1, 0, 0)
    session.commit()
    total, cam1, cam2 = A.get_counters(session, dep.id)
    assert (total.frames, total.dropped, total.faces, total.tracks) == (160, 4, 50, 11)
    assert (cam1.camera_id, cam1.frames, cam2.camera_id, cam2.frames) == ("cam1", 150, "cam2", 10)
    with pytest.raises(ConfigError, match="non-negative"):
        A.add_counters(session, dep.id, "cam1", -1, 0, 0, 0)


def test_concurrent_counters_and_alerts_lose_nothing(db: DB, people: People) -> None:
    with db.sessions() as s:
        dep = active_deployment(s, people)
        sid = W.get_snapshot(s, dep.id).subjects[0].subject_id
    errors: list[BaseException] = []

    def worker(cam: str) -> None:
        try:
            for i in range(10):
                with db.sessions() as s:
                    A.add_counters(s, dep.id, cam, 1, 0, 2, 1)
                    A.record_alert(s, dep.id, cam, f"{cam}-{i}", sid, 0.5, b"p", T0 + 2 * H)
                    s.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(c,)) for c in ("cam1", "cam2", "cam1")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.sessions() as s:
        total = A.get_counters(s, dep.id)[0]
        assert (total.frames, total.faces, total.alerts) == (30, 60, 30)
        report = audit.verify(s)
        assert report.ok, report.problems
