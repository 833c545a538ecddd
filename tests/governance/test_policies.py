"""Pure policies, tested without a database or a clock: scanning, the state machine,
retention, two-person verification, permissions, canonical JSON."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from openlfr.errors import StateError
from openlfr.governance.alerts import decide_status
from openlfr.governance.audit import canonical_json
from openlfr.governance.auth import PERMISSIONS, Action, allowed
from openlfr.governance.deployments import TRANSITIONS, ScanGuard, check_transition, may_scan
from openlfr.governance.retention import (
    RetentionPolicy,
    alert_due,
    snapshot_due,
    subject_due,
)
from openlfr.store.models import AlertStatus, DeploymentStatus, Outcome, Role

S = DeploymentStatus
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class Dep:
    status: DeploymentStatus = S.ACTIVE
    window_start: datetime = NOW - H
    window_end: datetime = NOW + H
    camera_ids: tuple[str, ...] = ("cam1",)
    ended_at: datetime | None = None
    cancelled_at: datetime | None = None


@pytest.mark.parametrize("dep, camera, now, expected", [
    (Dep(), "cam1", NOW, True),
    (Dep(), "cam1", NOW - H, True),  # window start is inclusive
    (Dep(), "cam1", NOW + H, False),  # window end is exclusive
    (Dep(), "cam1", NOW - H - timedelta(microseconds=1), False),
    (Dep(), "cam2", NOW, False),  # not this deployment's camera
    *[(Dep(status=s), "cam1", NOW, False) for s in S if s is not S.ACTIVE],
])
def test_may_scan(dep: Dep, camera: str, now: datetime, expected: bool) -> None:
    assert may_scan(dep, camera, now) is expected
    guard = ScanGuard(1, dep.status, dep.window_start, dep.window_end, frozenset(dep.camera_ids))
    assert guard.allows(camera, now) is expected
    assert (guard.refusal(camera, now) is None) is expected


LEGAL = {(S.DRAFT, S.AUTHORISED), (S.DRAFT, S.CANCELLED), (S.AUTHORISED, S.ACTIVE),
         (S.AUTHORISED, S.CANCELLED), (S.ACTIVE, S.ENDED), (S.ENDED, S.REVIEWED)}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_state_machine_allows_exactly_the_design(current: S, target: S) -> None:
    if (current, target) in LEGAL:
        check_transition(current, target, 7)
    else:
        with pytest.raises(StateError, match=f"deployment 7: it is {current.value}"):
            check_transition(current, target, 7)
    assert {(c, t) for c, nxt in TRANSITIONS.items() for t in nxt} == LEGAL


def test_transition_error_says_what_is_possible() -> None:
    with pytest.raises(StateError, match=r"cannot start deployment 3: it is draft \(from draft "
                       r"it can only go to authorised, cancelled\)"):
        check_transition(S.DRAFT, S.ACTIVE, 3)
    with pytest.raises(StateError, match="reviewed is final"):
        check_transition(S.REVIEWED, S.ENDED, 3)


@dataclass
class AlertRec:
    created_at: datetime
    hold_reason: str | None = None


@dataclass
class SubjectRec:
    expires_at: datetime
    expired_at: datetime | None = None


P = RetentionPolicy()


def test_retention_defaults_follow_the_design() -> None:
    assert (P.alert_days, P.snapshot_hours, P.subject_grace_days) == (31, 24, 0)
    with pytest.raises(ValueError):
        RetentionPolicy(snapshot_hours=25)  # "within 24 h": never longer


@pytest.mark.parametrize("rec, now, due", [
    (AlertRec(NOW), NOW, False),
    (AlertRec(NOW), NOW + timedelta(days=31) - timedelta(seconds=1), False),
    (AlertRec(NOW), NOW + timedelta(days=31), True),
    (AlertRec(NOW, hold_reason="evidence in R v Smith"), NOW + timedelta(days=400), False),
])
def test_alert_retention(rec: AlertRec, now: datetime, due: bool) -> None:
    assert alert_due(rec, P, now) is due


@pytest.mark.parametrize("dep, now, due", [
    (Dep(status=S.ACTIVE), NOW + 100 * H, False),
    (Dep(status=S.AUTHORISED), NOW + 100 * H, False),
    (Dep(status=S.ENDED, ended_at=NOW), NOW + 23 * H, False),
    (Dep(status=S.ENDED, ended_at=NOW), NOW + 24 * H, True),
    (Dep(status=S.REVIEWED, ended_at=NOW), NOW + 24 * H, True),
    (Dep(status=S.CANCELLED, cancelled_at=NOW), NOW + 24 * H, True),
    (Dep(status=S.CANCELLED, cancelled_at=NOW), NOW + 2 * H, False),
])
def test_snapshot_retention(dep: Dep, now: datetime, due: bool) -> None:
    assert snapshot_due(dep, P, now) is due


def test_snapshot_retention_is_configurable() -> None:
    fast = RetentionPolicy(snapshot_hours=1)
    assert snapshot_due(Dep(status=S.ENDED, ended_at=NOW), fast, NOW + H)


@pytest.mark.parametrize("rec, policy, now, due", [
    (SubjectRec(NOW + H), P, NOW, False),
    (SubjectRec(NOW), P, NOW, True),
    (SubjectRec(NOW + 100 * H, expired_at=NOW), P, NOW, True),  # expired by hand
    (SubjectRec(NOW), RetentionPolicy(subject_grace_days=2), NOW + 47 * H, False),
    (SubjectRec(NOW), RetentionPolicy(subject_grace_days=2), NOW + 48 * H, True),
])
def test_subject_retention(rec: SubjectRec, policy: RetentionPolicy, now: datetime,
                           due: bool) -> None:
    assert subject_due(rec, policy, now) is due


C, R, N = Outcome.CONFIRMED, Outcome.REJECTED, Outcome.NOT_ENGAGED
AS = AlertStatus


@pytest.mark.parametrize("decisions, two, status", [
    ([], False, AS.PENDING),
    ([(1, C)], False, AS.CONFIRMED),
    ([(1, R)], False, AS.REJECTED),
    ([(1, C)], True, AS.PENDING),
    ([(1, C), (1, C)], True, AS.PENDING),  # the same person twice is not two people
    ([(1, C), (2, C)], True, AS.CONFIRMED),
    ([(1, C), (2, R)], True, AS.DISPUTED),
    ([(1, C), (2, R), (3, R)], True, AS.REJECTED),
    ([(1, N), (2, N)], True, AS.NOT_ENGAGED),
])
def test_two_person_verification(decisions: list, two: bool, status: AlertStatus) -> None:
    assert decide_status(decisions, two) is status


def test_permissions_deny_by_default_and_admin_sees_no_biometrics() -> None:
    assert set(PERMISSIONS) == set(Action)  # every action has an explicit entry
    assert not allowed(frozenset(Role), "no.such.action")
    assert not allowed(frozenset(), Action.DEPLOYMENT_VIEW)
    for act in (Action.SUBJECT_IMAGE, Action.ALERT_IMAGE, Action.SUBJECT_LIST,
                Action.ALERT_VIEW):
        assert not allowed({Role.ADMIN}, act)
        assert allowed({Role.ADMIN, Role.AUTHORISING_OFFICER}, act)  # once granted a role
    assert allowed({Role.AUDITOR}, Action.AUDIT_VERIFY)
    assert not allowed({Role.AUDITOR}, Action.ALERT_ADJUDICATE)


def test_canonical_json_is_sorted_and_compact() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"], "t": NOW}) == \
        '{"a":[1,"é"],"b":1,"t":"2026-05-01T12:00:00+00:00"}'
    with pytest.raises(TypeError, match="record a hash"):
        canonical_json({"img": b"\xff\xd8"})
