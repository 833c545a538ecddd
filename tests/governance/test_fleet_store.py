"""The fleet's store side on both databases: alerts recorded idempotently on the camera's id
(also under a concurrent duplicate), judged by when they were raised; idempotent run
counters; recorded-clip progress; outbox rows purged with their alert; migration 0002 with
existing data, up and down."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from openlfr.alerts.model import AlertEvent
from openlfr.errors import ConfigError, StateError
from openlfr.governance import alerts as A
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.retention import RetentionPolicy, run_retention
from openlfr.store import downgrade, upgrade
from openlfr.store.models import Adjudication, Alert, AlertDelivery, AuditEntry, DeliveryStatus

from .conftest import DB, T0, People, active_deployment, deployment_data

H = timedelta(hours=1)
RUN = "0123456789abcdef0123456789abcdef"


def event(dep_id: int, sid: int, at=T0 + 2 * H, *, camera: str = "cam1", **kw) -> AlertEvent:
    base: dict = dict(camera_id=camera, time=at, track_id=7, subject_id=str(sid), label="x",
                      score=0.61, threshold=0.4, probe_jpeg=b"JPEG-probe", frame_index=120,
                      media_time_s=4.8, deployment_id=dep_id)
    return AlertEvent(**(base | kw))


def first_subject(session: Session, dep_id: int) -> int:
    return W.get_snapshot(session, dep_id).subjects[0].subject_id


def count(session: Session, q) -> int:
    return session.scalar(select(func.count()).select_from(q.subquery()))


def alert_entries(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "alert")))


def test_the_same_alert_twice_is_recorded_once(session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    dep.sinks = ["hook", "extra"]
    sid = first_subject(session, dep.id)
    ev = event(dep.id, sid)
    row, created = A.record_alert_event(session, ev, sinks=("mqtt", "hook", "mqtt"))
    session.commit()
    again, created2 = A.record_alert_event(session, ev, sinks=("mqtt", "other"))
    session.commit()
    assert (created, created2, again.id) == (True, False, row.id)
    assert (row.uid, row.frame_index, row.media_time_s) == (ev.alert_id, 120, 4.8)
    assert count(session, select(Alert)) == 1
    entries = alert_entries(session)
    assert len(entries) == 1 and f'"uid":"{ev.alert_id}"' in entries[0].details
    assert A.get_counters(session, dep.id)[0].alerts == 1
    sinks = session.scalars(select(AlertDelivery.sink).order_by(AlertDelivery.id)).all()
    assert sinks == ["mqtt", "hook", "extra"]  # server-wide first, then the deployment's
    assert {d.status for d in session.scalars(select(AlertDelivery))} == {
        DeliveryStatus.PENDING}
    with pytest.raises(ConfigError, match="alert id"):
        A.record_alert_event(session, event(dep.id, sid, alert_id="x" * 33))


def test_concurrent_duplicates_end_as_not_created(db: DB, people: People) -> None:
    with db.sessions() as s:
        dep = active_deployment(s, people)
        ev = event(dep.id, first_subject(s, dep.id))
    results: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait(5)
            with db.sessions() as s:
                results.append(A.record_alert_event(s, ev, sinks=("mqtt",))[1])
                s.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and sorted(results) == [False, False, False, True]
    with db.sessions() as s:
        assert count(s, select(Alert)) == 1 and len(alert_entries(s)) == 1
        assert count(s, select(AlertDelivery)) == 1
        assert A.get_counters(s, dep.id)[0].alerts == 1


def test_a_duplicate_insert_after_the_check_is_caught_by_the_savepoint(
        db: DB, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    with db.sessions() as s:
        dep = active_deployment(s, people)
        ev = event(dep.id, first_subject(s, dep.id))
        first, _ = A.record_alert_event(s, ev)
        s.commit()
    real = A._by_uid
    calls: list[str] = []

    def racing(session: Session, uid: str):  # the first look misses (the race), then sees it
        calls.append(uid)
        return None if len(calls) == 1 else real(session, uid)

    monkeypatch.setattr(A, "_by_uid", racing)
    with db.sessions() as s:
        row, created = A.record_alert_event(s, ev)
        assert (row.id, created, len(calls)) == (first.id, False, 2)
        s.commit()
        assert len(alert_entries(s)) == 1 and A.get_counters(s, dep.id)[0].alerts == 1


def test_alerts_are_judged_by_when_they_were_raised(session: Session, people: People) -> None:
    dep = active_deployment(session, people)  # window T0+1h..T0+9h, started T0+1h
    sid = first_subject(session, dep.id)
    D.stop(session, people.op, dep.id, T0 + 3 * H)
    session.commit()
    # raised before the stop, reaching the store after it: recorded
    row, created = A.record_alert_event(session, event(dep.id, sid, T0 + 3 * H - timedelta(
        seconds=2)))
    assert created and row.created_at == T0 + 3 * H - timedelta(seconds=2)
    refusals = [
        (event(dep.id, sid, T0 + 3 * H), "deployment is ended.*after it ended"),
        (event(dep.id, sid, T0 + H - timedelta(seconds=1)), "before the deployment started"),
        (event(dep.id, sid, camera="cam9"), "camera 'cam9' is not part"),
        (event(dep.id, 9999), "not in deployment"),
        (event(None, sid), "names no deployment"),  # type: ignore[arg-type]
    ]
    for ev, why in refusals:
        with pytest.raises(StateError, match=why):
            A.record_alert_event(session, ev)
    never = D.create_deployment(session, people.ao, deployment_data(name="Never"), T0)
    with pytest.raises(StateError, match="never started"):
        A.record_alert_event(session, event(never.id, sid))
    session.commit()
    assert count(session, select(Alert)) == 1 and len(alert_entries(session)) == 1


def test_alert_after_the_window_is_refused(session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    sid = first_subject(session, dep.id)
    with pytest.raises(StateError, match="after the window"):
        A.record_alert_event(session, event(dep.id, sid, T0 + 9 * H))
    A.record_alert_event(session, event(dep.id, sid, T0 + 9 * H - timedelta(seconds=1)))


def test_run_counters_are_idempotent_and_ignore_older_messages(session: Session,
                                                               people: People) -> None:
    dep = active_deployment(session, people)

    def send(run: str, seq: int, frames: int, faces: int, cam: str = "cam1") -> bool:
        return A.add_run_counters(session, dep.id, cam, run, seq,
                                  {"frames": frames, "dropped": 1, "faces": faces,
                                   "tracks": 2}, T0 + 2 * H)

    assert send(RUN, 1, 100, 10)
    assert send(RUN, 3, 250, 30)
    assert not send(RUN, 3, 250, 30)  # redelivered
    assert not send(RUN, 2, 180, 20)  # older, arriving late
    assert send("run2", 1, 40, 4)  # the camera process restarted: a new run
    assert send(RUN, 4, 250, 30)  # newer, nothing new to add
    session.commit()
    total, cam1 = A.get_counters(session, dep.id)
    assert (total.frames, total.faces, total.dropped, total.tracks) == (290, 34, 2, 4)
    assert cam1.frames == 290
    with pytest.raises(StateError, match="belongs to deployment"):
        send(RUN, 5, 300, 30, cam="cam2")
    with pytest.raises(ConfigError, match="lack tracks"):
        A.add_run_counters(session, dep.id, "cam1", RUN, 9, {"frames": 1, "dropped": 0,
                                                            "faces": 0}, T0)
    with pytest.raises(ConfigError, match="non-negative"):
        A.add_run_counters(session, dep.id, "cam1", RUN, 9, {"frames": -1, "dropped": 0,
                                                            "faces": 0, "tracks": 0}, T0)


def test_a_run_keeps_the_tracker_settings_its_tracks_come_from(session: Session,
                                                                people: People) -> None:
    from openlfr.governance.counters import tracker_settings

    dep = active_deployment(session, people)
    totals = {"frames": 10, "dropped": 0, "faces": 3, "tracks": 1}
    assert tracker_settings(session, dep.id) is None  # nothing reported yet
    A.add_run_counters(session, dep.id, "cam1", "run-a", 1, totals, T0, tracker=None)
    A.add_run_counters(session, dep.id, "cam1", "run-a", 2, totals, T0,
                       tracker="sha256:00000000000000aa")  # a later message fills it in
    assert tracker_settings(session, dep.id) == "sha256:00000000000000aa"
    A.add_run_counters(session, dep.id, "cam1", "run-b", 1, totals, T0,
                       tracker="sha256:00000000000000aa")
    assert tracker_settings(session, dep.id) == "sha256:00000000000000aa"
    A.add_run_counters(session, dep.id, "cam1", "run-c", 1, totals, T0,
                       tracker="sha256:00000000000000bb")
    assert tracker_settings(session, dep.id) == "mixed"


def test_concurrent_redeliveries_of_run_counters_count_once(db: DB, people: People) -> None:
    with db.sessions() as s:
        dep = active_deployment(s, people)
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def worker() -> None:
        try:
            start.wait(5)
            for seq in (1, 2, 3):
                with db.sessions() as s:
                    A.add_run_counters(s, dep.id, "cam1", RUN, seq,
                                       {"frames": 10 * seq, "dropped": 0, "faces": seq,
                                        "tracks": 0}, T0 + 2 * H)
                    s.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with db.sessions() as s:
        total = A.get_counters(s, dep.id)[0]
        assert (total.frames, total.faces) == (30, 3)


def test_progress_of_a_recorded_clip_never_moves_back(session: Session,
                                                      people: People) -> None:
    dep = active_deployment(session, people)
    assert A.get_progress(session, dep.id, "cam1") is None
    A.save_progress(session, dep.id, "cam1", 500, False, T0 + 2 * H)
    A.save_progress(session, dep.id, "cam1", 300, False, T0 + 2 * H)  # late, older
    assert A.get_progress(session, dep.id, "cam1") == (500, False)
    A.save_progress(session, dep.id, "cam1", 900, True, T0 + 3 * H)
    A.save_progress(session, dep.id, "cam1", 800, False, T0 + 3 * H)
    session.commit()
    assert A.get_progress(session, dep.id, "cam1") == (900, True)
    assert A.get_progress(session, dep.id, "cam2") is None


def test_retention_purges_deliveries_with_their_alerts(session: Session,
                                                       people: People) -> None:
    dep = active_deployment(session, people)
    sid = first_subject(session, dep.id)
    old, _ = A.record_alert_event(session, event(dep.id, sid), sinks=("a", "b"))
    young, _ = A.record_alert_event(session, event(dep.id, sid, T0 + 5 * H), sinks=("a",))
    session.commit()
    result = run_retention(session, RetentionPolicy(alert_days=1), T0 + 2 * H + timedelta(
        days=1, minutes=1))
    session.commit()
    assert result.alerts == [old.id]
    left = session.execute(select(AlertDelivery.alert_id, AlertDelivery.sink)).all()
    assert [tuple(r) for r in left] == [(young.id, "a")]


def test_migration_0002_keeps_existing_alerts_both_ways(db: DB, session: Session,
                                                        people: People) -> None:
    dep = active_deployment(session, people)
    sid = first_subject(session, dep.id)
    alerts = [A.record_alert(session, dep.id, "cam1", f"t{i}", sid, 0.6, b"p", T0 + 2 * H)
              for i in range(2)]
    A.adjudicate(session, people.op, alerts[0].id, "confirmed", T0 + 2 * H)
    A.record_alert_event(session, event(dep.id, sid), sinks=("mqtt",))
    ids = [a.id for a in alerts]
    session.commit()
    session.close()
    db.engine.dispose()
    try:
        downgrade(db.url, "0001")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alerts")).scalar() == 3
            assert conn.execute(text("SELECT count(*) FROM adjudications")).scalar() == 1
    finally:
        upgrade(db.url)
    with db.sessions() as s:
        uids = dict(s.execute(select(Alert.id, Alert.uid).where(Alert.id.in_(ids))).all())
        assert uids == {i: "legacy" + str(i).zfill(26) for i in ids}
        assert s.scalar(select(func.count()).select_from(Adjudication)) == 1
        assert s.get(type(dep), dep.id).sinks == []
        # recording goes on after the migration, with fresh uids
        assert A.record_alert_event(s, event(dep.id, sid))[1]
        s.commit()
