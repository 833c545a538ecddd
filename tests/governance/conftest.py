"""Governance fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL tests use a throwaway database created for this test session (dropped at the
end) and skip with the reason when the server is unreachable.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from openlfr.governance import auth, deployments, watchlist
from openlfr.governance.crypto import Keyring
from openlfr.governance.runtime import governed_factory
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, SubjectCreate, UserCreate
from openlfr.store import make_engine, upgrade
from openlfr.store.models import Category, Deployment, Role, Subject, User
from openlfr.store.testing import PostgresUnavailable, temporary_postgres, truncate_all

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # injected clock: every test sets its own time
KEY = bytes(range(32))
EMB = "arcface_mbf:0123abcd"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gov_template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    try:
        with temporary_postgres("openlfr_gov") as url:
            upgrade(url)
            yield url
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@dataclass
class DB:
    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: Keyring
    path: Path | None = None  # SQLite file


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DB]:
    keyring = Keyring(KEY)
    if request.param == "sqlite":
        path = tmp_path / "openlfr.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url, path = request.getfixturevalue("pg_url"), None
    engine = make_engine(url)
    if request.param == "postgresql":
        truncate_all(engine)
    try:
        yield DB(request.param, url, engine, governed_factory(engine, keyring), keyring, path)
    finally:
        engine.dispose()


@pytest.fixture
def session(db: DB) -> Iterator[Session]:
    with db.sessions() as s:
        yield s


@dataclass
class People:
    admin: User
    ao: User
    ao2: User
    wm: User
    op: User
    eo: User
    eo2: User
    auditor: User


@pytest.fixture
def people(session: Session) -> People:
    def mk(name: str, *roles: Role, actor: User | None) -> User:
        return auth.create_user(session, actor, UserCreate(username=name, roles=list(roles)),
                                now=T0)

    admin = mk("admin", Role.ADMIN, actor=None)
    p = People(admin=admin, ao=mk("ao", Role.AUTHORISING_OFFICER, actor=admin),
               ao2=mk("ao2", Role.AUTHORISING_OFFICER, actor=admin),
               wm=mk("wm", Role.WATCHLIST_MANAGER, actor=admin),
               op=mk("op", Role.OPERATOR, actor=admin),
               eo=mk("eo", Role.ENGAGEMENT_OFFICER, actor=admin),
               eo2=mk("eo2", Role.ENGAGEMENT_OFFICER, actor=admin),
               auditor=mk("aud", Role.AUDITOR, actor=admin))
    session.commit()
    return p


def template(seed: int, dim: int = 64) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def make_subject(session: Session, wm: User, ref: str, *, category: Category =
                 Category.WANTED_BY_COURTS, days: float = 30, seed: int = 0,
                 image: bytes | None = None, emb: str = EMB, now: datetime = T0) -> Subject:
    data = SubjectCreate(reference=ref, name=f"Name {ref}", category=category,
                         source="PNC record 2026/1", justification="Warrant issued",
                         expires_at=now + timedelta(days=days))
    return watchlist.add_subject(session, wm, data, [image or f"JPEG-{ref}".encode()],
                                 [(emb, template(seed))], now)


def deployment_data(**over: object) -> DeploymentCreate:
    base: dict[str, object] = dict(
        name="Leicester Square", purpose="Locate people wanted by the courts",
        legal_basis="Common law policing powers; PACE", location="Leicester Square, London",
        window_start=T0 + timedelta(hours=1), window_end=T0 + timedelta(hours=9),
        cameras=[CameraSpec(camera_id="cam1", source_url="rtsp://user:secret@10.0.0.5/s1"),
                 CameraSpec(camera_id="cam2", source_url="rtsp://10.0.0.6/s1")],
        categories=[Category.WANTED_BY_COURTS], dpia_reference="DPIA-2026-014",
        signage_confirmed=True, authorising_officer="ao", threshold=0.4, embedder_key=EMB)
    base.update(over)
    return DeploymentCreate(**base)  # type: ignore[arg-type]


def active_deployment(session: Session, people: People, *, n_subjects: int = 2,
                      **over: object) -> Deployment:
    """A started deployment (window T0+1h .. T0+9h, started at T0+1h)."""
    for i in range(n_subjects):
        make_subject(session, people.wm, f"S{i}", seed=i)
    dep = deployments.create_deployment(session, people.ao, deployment_data(**over), T0)
    deployments.authorise(session, people.ao, dep.id, T0)
    watchlist.create_snapshot(session, people.wm, dep.id, T0)
    watchlist.approve_snapshot(session, people.ao, dep.id, T0)
    deployments.start(session, people.op, dep.id, T0 + timedelta(hours=1))
    session.commit()
    return dep
