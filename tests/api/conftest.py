"""API fixtures: a real app on a real (temporary SQLite) store, one user per role.

No cameras run here (``run_cameras=False``); the browser test runs the real pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openlfr.api.app import create_app
from openlfr.governance import auth, deployments, watchlist
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, SubjectCreate, UserCreate
from openlfr.settings import Settings
from openlfr.store.models import AuditEntry, Category, Role, Subject, User
from openlfr.store.testing import PostgresUnavailable, temporary_postgres

PASSWORD = "correct horse battery"
EMBEDDER = "test-embedder:0000"


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    sessions: sessionmaker[Session]
    settings: Settings
    users: dict[Role, User] = field(default_factory=dict)
    tokens: dict[Role, str] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def last_audit(self) -> AuditEntry:
        with self.sessions() as s:
            return s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()

    def audit_count(self) -> int:
        with self.sessions() as s:
            return len(s.scalars(select(AuditEntry.seq)).all())


def make_settings(tmp: Path) -> Settings:
    return Settings(data_dir=tmp, dev=True, database_url=f"sqlite:///{tmp / 'openlfr.db'}")


def seed_users(sessions: sessionmaker[Session]) -> tuple[dict[Role, User], dict[Role, str]]:
    users: dict[Role, User] = {}
    tokens: dict[Role, str] = {}
    with sessions() as s:
        admin = auth.create_user(s, None, UserCreate(username="admin", roles=[Role.ADMIN],
                                                     password=PASSWORD))
        users[Role.ADMIN] = admin
        for role in Role:
            if role is Role.ADMIN:
                continue
            users[role] = auth.create_user(s, admin, UserCreate(
                username=role.value, roles=[role], password=PASSWORD))
        for role, user in users.items():
            _, tokens[role] = auth.issue_token(s, user, name="test")
        s.commit()
    return users, tokens


#: Parameters of a module-scoped fixture that runs its tests on SQLite and on PostgreSQL.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def settings_on(backend: str, tmp: Path) -> Iterator[Settings]:
    """Test settings on SQLite in ``tmp``, or on a throwaway PostgreSQL database (dropped
    afterwards; the test skips with the reason when the server is unreachable)."""
    settings = make_settings(tmp)
    if backend == "sqlite":
        yield settings
        return
    try:
        with temporary_postgres("openlfr_api") as url:
            yield settings.model_copy(update={"database_url": url})
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from open_api(make_settings(tmp_path_factory.mktemp("api")))


def open_api(settings: Settings) -> Iterator[Api]:
    """The app of these tests on ``settings``' store: one user per role, a deployment and a
    watchlist entry (body of the ``api`` fixture)."""
    app = create_app(settings, run_cameras=False, session_key=b"k" * 32)
    ctx = app.state.ctx
    users, tokens = seed_users(ctx.sessions)
    now = datetime.now(UTC)
    with ctx.sessions() as s:
        ao = s.get(User, users[Role.AUTHORISING_OFFICER].id)
        dep = deployments.create_deployment(s, ao, DeploymentCreate(
            name="table test", purpose="p", legal_basis="l", location="x",
            window_start=now - timedelta(hours=1), window_end=now + timedelta(hours=4),
            cameras=[CameraSpec(camera_id="cam1", source_url="rtsp://u:secret@cam/1")],
            categories=[Category.WANTED_BY_COURTS], dpia_reference="D1",
            signage_confirmed=True, authorising_officer="authorising_officer",
            threshold=0.4, embedder_key=EMBEDDER), now)
        wm = s.get(User, users[Role.WATCHLIST_MANAGER].id)
        vec = np.random.default_rng(0).normal(size=128).astype(np.float32)
        subj = watchlist.add_subject(s, wm, SubjectCreate(
            reference="REF-1", name="Test Subject", category=Category.WANTED_BY_COURTS,
            source="test", justification="test", expires_at=now + timedelta(days=30)),
            [b"\xff\xd8\xff" + b"0" * 100], [(EMBEDDER, vec / np.linalg.norm(vec))], now)
        s.commit()
        ids = {"deployment_id": dep.id, "subject_id": subj.id, "alert_id": 999,
               "user_id": users[Role.OPERATOR].id, "camera_id": "cam1"}
    with TestClient(app, base_url="http://testserver") as client:
        yield Api(app, client, ctx.sessions, settings, users, tokens, ids)


def crew(api: Api, s: Session) -> tuple[User, User, User]:
    """The authorising officer, watchlist manager and operator, in session ``s``."""
    return tuple(s.get(User, api.users[r].id) for r in (  # type: ignore[return-value]
        Role.AUTHORISING_OFFICER, Role.WATCHLIST_MANAGER, Role.OPERATOR))


def enrol_subject(s: Session, wm: User, reference: str, name: str, now: datetime, *,
                 category: Category = Category.WANTED_BY_COURTS,
                 image: bytes = b"img") -> Subject:
    """A watchlist entry with one image and a unit ArcFace template, valid three days."""
    vec = np.ones(128, np.float32) / np.sqrt(128)
    return watchlist.add_subject(s, wm, SubjectCreate(
        reference=reference, name=name, category=category, source="s", justification="j",
        expires_at=now + timedelta(days=3)), [image], [(EMBEDDER, vec)], now)

