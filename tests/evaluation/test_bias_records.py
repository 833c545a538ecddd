"""Bias evaluations on record: stored with the data set named, audited, the latest one per
embedder and flip found; ``evaluate bias --record`` refuses to run without a data set name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from openlfr.cli import app
from openlfr.cli.bias import bias_thresholds, record_bias
from openlfr.errors import ConfigError, PermissionDenied
from openlfr.evaluation.bias_records import latest_bias_evaluation, record_bias_evaluation
from openlfr.governance.auth import create_user
from openlfr.governance.runtime import governed_factory
from openlfr.governance.schemas import UserCreate
from openlfr.store.db import make_engine, upgrade
from openlfr.store.models import AuditEntry, Role, User

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
KEY = "arcface:9cc6e4a75f0e"
RESULT = {"threshold": 0.38, "groups": {"a": {"fnir": {"count": 1, "of": 120}}}}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'openlfr.db'}"
    upgrade(url)
    yield url


@pytest.fixture
def session(store: str) -> Iterator[Session]:
    engine = make_engine(store)
    s = governed_factory(engine, None)()
    try:
        yield s
    finally:
        s.close()
        engine.dispose()


def _user(s: Session, name: str = "ao", role: Role = Role.AUTHORISING_OFFICER) -> User:
    admin = s.scalar(select(User).where(User.username == "admin")) or create_user(
        s, None, UserCreate(username="admin", roles=[Role.ADMIN]), now=T0)
    return create_user(s, admin, UserCreate(username=name, roles=[role]), now=T0)


def test_record_and_latest(session: Session) -> None:
    ao = _user(session)
    first = record_bias_evaluation(session, ao, embedder_key=KEY, flip=False,
                                   dataset_name="force staff photos 2025",
                                   thresholds=[0.40, 0.35], result=RESULT, now=T0)
    later = record_bias_evaluation(session, ao, embedder_key=KEY, flip=False,
                                   dataset_name="custody images, self-declared",
                                   dataset_description="consented; labels self-declared",
                                   thresholds=[0.30], result=RESULT,
                                   now=T0 + timedelta(days=1))
    record_bias_evaluation(session, ao, embedder_key=KEY, flip=True, dataset_name="flip set",
                           thresholds=[0.5], result=RESULT, now=T0 + timedelta(days=2))
    session.commit()
    assert (first.thresholds_covered_min, first.thresholds_covered_max) == (0.35, 0.40)
    got = latest_bias_evaluation(session, KEY, False)
    assert got is not None and got.id == later.id
    assert got.dataset_name == "custody images, self-declared" and got.result == RESULT
    assert latest_bias_evaluation(session, KEY, True).dataset_name == "flip set"
    assert latest_bias_evaluation(session, "dlib:00", False) is None
    entry = session.scalars(select(AuditEntry).where(
        AuditEntry.action == "bias_evaluation_record").order_by(AuditEntry.seq)).first()
    assert (entry.actor, entry.target) == ("ao", f"bias_evaluation:{first.id}")
    assert json.loads(entry.details)["dataset_name"] == "force staff photos 2025"


@pytest.mark.parametrize(("key", "name", "thresholds"), [
    ("arcface", "data", [0.3]), (KEY, "  ", [0.3]), (KEY, "x" * 201, [0.3]),
    (KEY, "data", []), (KEY, "data", [1.5]), (KEY, "data", [float("nan")])])
def test_record_refuses_bad_input(session: Session, key: str, name: str,
                                  thresholds: list[float]) -> None:
    with pytest.raises(ConfigError):
        record_bias_evaluation(session, None, embedder_key=key, flip=False, dataset_name=name,
                               thresholds=thresholds, result=RESULT, now=T0)


def test_cover_option() -> None:
    assert bias_thresholds("0.30, 0.35", False, None) == [0.30, 0.35]
    assert bias_thresholds(None, True, "my data") == []
    with pytest.raises(ConfigError, match="--dataset-name"):
        bias_thresholds(None, True, " ")
    with pytest.raises(ConfigError):
        bias_thresholds("0.3,abc", False, None)


def test_record_as_a_user_needs_evaluation_run(store: str, session: Session,
                                               monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    _user(session)
    _user(session, "op", Role.OPERATOR)
    session.commit()
    monkeypatch.setenv("OPENLFR_DATABASE_URL", store)
    monkeypatch.setenv("OPENLFR_DATA_DIR", str(tmp_path))
    with pytest.raises(PermissionDenied):
        record_bias({"threshold": 0.4}, KEY, False, [0.4], "d", "", "op")
    rec = record_bias({"threshold": 0.4, "groups": {}, "secret": "dropped"}, KEY, False,
                      [0.4, 0.3], "own data", "", "ao")
    assert rec["thresholds_covered"] == [0.3, 0.4]
    session.expire_all()
    row = latest_bias_evaluation(session, KEY, False)
    assert row is not None and "secret" not in row.result


def test_cli_refuses_record_without_dataset_name(tmp_path: Path) -> None:
    groups = tmp_path / "g.csv"
    groups.write_text("identity,group\nA,x\n")
    res = CliRunner().invoke(app, ["evaluate", "bias", "--groups", str(groups), "--record",
                                   "--data", str(tmp_path)])
    assert res.exit_code != 0
    assert isinstance(res.exception, ConfigError) and "--dataset-name" in str(res.exception)
