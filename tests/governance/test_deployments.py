"""Deployments on both databases: lifecycle, refusals with clear messages, automatic end."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import StateError
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.schemas import DeploymentPublic, DeploymentUpdate
from openlfr.store.models import AuditEntry, DeploymentStatus

from .conftest import DB, T0, People, active_deployment, deployment_data, make_subject

S = DeploymentStatus
H = timedelta(hours=1)


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


def test_lifecycle_and_scanning_only_inside_the_active_window(session: Session,
                                                              people: People) -> None:
    make_subject(session, people.wm, "S1")
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    inside = T0 + 2 * H
    assert dep.status is S.DRAFT and not D.may_scan(dep, "cam1", inside)
    D.authorise(session, people.ao, dep.id, T0)
    assert not D.may_scan(dep, "cam1", inside)  # authorised is not active
    W.create_snapshot(session, people.wm, dep.id, T0)
    W.approve_snapshot(session, people.ao, dep.id, T0)
    D.start(session, people.op, dep.id, T0 + H)
    session.commit()
    guard = D.ScanGuard.load(session, dep.id)
    assert guard.allows("cam1", inside) and guard.allows("cam2", inside)
    assert not guard.allows("cam3", inside)
    assert not guard.allows("cam1", T0 + 9 * H)  # past the window's end
    D.stop(session, people.ao, dep.id, T0 + 3 * H)
    session.commit()
    assert dep.status is S.ENDED and dep.ended_at == T0 + 3 * H
    assert not D.may_scan(dep, "cam1", T0 + 4 * H)
    assert not D.ScanGuard.load(session, dep.id).allows("cam1", T0 + 4 * H)
    D.review(session, people.ao, dep.id, T0 + 30 * H, note="no issues")
    assert dep.status is S.REVIEWED
    assert [a for a in actions(session) if a.startswith("deployment_")] == [
        "deployment_create", "deployment_authorise", "deployment_start", "deployment_end",
        "deployment_review"]
    pub = DeploymentPublic.model_validate(dep)
    assert "secret" not in pub.model_dump_json()  # camera credentials are redacted


def test_start_needs_window_and_approved_snapshot(session: Session, people: People) -> None:
    make_subject(session, people.wm, "S1")
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    D.authorise(session, people.ao, dep.id, T0)
    session.commit()
    with pytest.raises(StateError, match="no approved watchlist snapshot"):
        D.start(session, people.op, dep.id, T0 + H)
    W.create_snapshot(session, people.wm, dep.id, T0)
    with pytest.raises(StateError, match="no approved watchlist snapshot"):
        D.start(session, people.op, dep.id, T0 + H)
    W.approve_snapshot(session, people.ao, dep.id, T0)
    with pytest.raises(StateError, match="before its window opens"):
        D.start(session, people.op, dep.id, T0 + 0.5 * H)
    with pytest.raises(StateError, match="window closed"):
        D.start(session, people.op, dep.id, T0 + 9 * H)
    assert dep.status is S.AUTHORISED  # refusals change nothing
    D.start(session, people.op, dep.id, T0 + H)
    assert dep.status is S.ACTIVE


@pytest.mark.parametrize("op", ["start", "stop", "review"])
def test_illegal_transitions_from_draft_are_refused(session: Session, people: People,
                                                    op: str) -> None:
    dep = D.create_deployment(session, people.ao, deployment_data(), T0)
    session.commit()
    actor = people.ao if op == "review" else people.op
    with pytest.raises(StateError, match=f"cannot {op} deployment {dep.id}: it is draft"):
        getattr(D, op)(session, actor, dep.id, T0 + 2 * H)
    session.rollback()
    assert D.get_deployment(session, dep.id).status is S.DRAFT


def test_ended_cannot_restart_and_cancelled_is_final(session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    D.stop(session, people.op, dep.id, T0 + 2 * H)
    with pytest.raises(StateError, match="cannot start .* it is ended"):
        D.start(session, people.op, dep.id, T0 + 2 * H)
    with pytest.raises(StateError, match="cannot cancel .* it is ended"):
        D.cancel(session, people.ao, dep.id, T0 + 2 * H)
    other = D.create_deployment(session, people.ao, deployment_data(), T0)
    D.cancel(session, people.ao, other.id, T0, reason="event called off")
    with pytest.raises(StateError, match="cancelled is final"):
        D.authorise(session, people.ao, other.id, T0)


def test_authorisation_rules(session: Session, people: People) -> None:
    dep = D.create_deployment(session, people.ao, deployment_data(signage_confirmed=False), T0)
    session.commit()
    with pytest.raises(StateError, match="names another authorising officer"):
        D.authorise(session, people.ao2, dep.id, T0)
    with pytest.raises(StateError, match="signage is not confirmed"):
        D.authorise(session, people.ao, dep.id, T0)
    D.update_deployment(session, people.ao, dep.id, DeploymentUpdate(signage_confirmed=True),
                        T0)
    D.authorise(session, people.ao, dep.id, T0)
    with pytest.raises(StateError, match="only a draft can be edited"):
        D.update_deployment(session, people.ao, dep.id, DeploymentUpdate(threshold=0.3), T0)
    with pytest.raises(StateError, match="not an active authorising officer"):
        D.create_deployment(session, people.ao, deployment_data(authorising_officer="op"), T0)


def test_schema_refuses_incomplete_deployments() -> None:
    with pytest.raises(ValueError, match="window_end must be after window_start"):
        deployment_data(window_end=T0)
    with pytest.raises(ValueError, match="dpia_reference"):
        deployment_data(dpia_reference="")
    with pytest.raises(ValueError, match="cameras"):
        deployment_data(cameras=[])


def test_end_expired_ends_at_the_window_end(session: Session, people: People) -> None:
    dep = active_deployment(session, people)
    idle = D.create_deployment(session, people.ao, deployment_data(), T0)
    D.authorise(session, people.ao, idle.id, T0)
    assert D.end_expired(session, T0 + 8 * H) == []
    assert sorted(D.end_expired(session, T0 + 10 * H)) == sorted([dep.id, idle.id])
    session.commit()
    assert dep.status is S.ENDED and dep.end_reason == "window_end"
    assert dep.ended_at == dep.window_end  # the use ended when the window closed
    assert idle.status is S.CANCELLED
    assert D.end_expired(session, T0 + 11 * H) == []


def test_a_stop_waits_for_the_sweeper_and_sees_its_end(db: DB, people: People) -> None:
    """Two changes of one deployment are serialised: a stop that runs while the sweeper's
    end is uncommitted waits for it, then sees ``ended`` (no second end)."""
    with db.sessions() as s:
        dep = active_deployment(s, people)
    late = T0 + 10 * H
    sweeper = db.sessions()
    assert D.end_expired(sweeper, late) == [dep.id]  # locked, not yet committed
    outcome: list[str] = []

    def stop() -> None:
        with db.sessions() as s:
            try:
                D.stop(s, people.op, dep.id, late)
                s.commit()
                outcome.append("stopped")
            except StateError as exc:
                outcome.append(str(exc))

    t = threading.Thread(target=stop)
    t.start()
    t.join(0.5)
    assert t.is_alive()  # waiting for the sweeper's lock
    sweeper.commit()
    sweeper.close()
    t.join(30)
    assert len(outcome) == 1 and "it is ended" in outcome[0]
    with db.sessions() as s:
        assert actions(s).count("deployment_end") == 1


def test_live_scan_guard_follows_the_store_and_fails_closed(db: DB, people: People) -> None:
    with db.sessions() as s:
        dep = active_deployment(s, people)
    clock = [0.0]
    guard = D.LiveScanGuard(db.sessions, dep.id, refresh_s=2.0, monotonic=lambda: clock[0])
    inside = T0 + 2 * H
    assert guard("cam1", inside) and not guard("cam9", inside)
    with db.sessions() as s:
        D.stop(s, people.op, dep.id, inside)
        s.commit()
    clock[0] = 1.0
    assert guard("cam1", inside)  # not reloaded yet: within refresh_s
    clock[0] = 2.5
    assert not guard("cam1", inside)
    assert "ended" in (guard.refusal("cam1", inside) or "")
    broken = D.LiveScanGuard(db.sessions, 424242, monotonic=lambda: 0.0)
    assert not broken("cam1", inside)
    assert "no deployment 424242" in (broken.refusal("cam1", inside) or "")


def test_a_deployment_names_its_sinks(session: Session, people: People) -> None:
    import json

    from pydantic import ValidationError

    dep = D.create_deployment(session, people.ao, deployment_data(
        sinks=["hook", "mqtt-north", "hook"]), T0)
    session.commit()
    session.expire_all()
    assert dep.sinks == ["hook", "mqtt-north"]  # deduplicated, first mention first
    assert DeploymentPublic.model_validate(dep).sinks == ["hook", "mqtt-north"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "deployment_create")
                            ).one()
    assert json.loads(entry.details)["sinks"] == ["hook", "mqtt-north"]
    assert D.create_deployment(session, people.ao, deployment_data(), T0).sinks == []
    for bad in (["no spaces"], [""], ["x" * 65], ["a/b"], [f"s{i}" for i in range(17)]):
        with pytest.raises(ValidationError):
            deployment_data(sinks=bad)
