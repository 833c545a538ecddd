"""schemathesis over the whole API: every operation the app's own OpenAPI document lists, with
bounded, derandomised examples (valid and invalid) and a token holding every role. Fails on
any 5xx, an undeclared status code, or a response that breaks its declared schema. On SQLite
with 5 examples per operation and mode, and on PostgreSQL with 2 (the same derandomised
first examples: the edge values a database may take differently, at modest CI time)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from openlfr.api.app import create_app
from openlfr.governance import auth, deployments
from openlfr.governance.schemas import CameraSpec, DeploymentCreate, UserCreate
from openlfr.settings import Settings
from openlfr.store.models import Category, Role

from .conftest import BACKENDS, PASSWORD, settings_on

LAST = ("POST /api/auth/logout", "POST /api/auth/password", "PATCH /api/users/{user_id}")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
#: Streams that never end by themselves (the live channel, the MJPEG view).
STREAMING = ("/api/alerts/stream", "/api/live/{deployment_id}/{camera_id}.mjpeg")
#: Examples per operation and generation mode, per database.
EXAMPLES = {"sqlite": 5, "postgresql": 2}


@pytest.fixture(scope="module", params=BACKENDS)
def everyone(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Any, str, int]]:
    """(app, a token of a user holding every role, examples per operation and mode), with
    one deployment to find."""
    with settings_on(request.param, tmp_path_factory.mktemp("schemathesis")) as settings:
        yield from _world(settings, EXAMPLES[request.param])


def _world(settings: Settings, examples: int) -> Iterator[tuple[Any, str, int]]:
    app = create_app(settings, run_cameras=False, session_key=b"s" * 32)
    sessions = app.state.ctx.sessions
    now = datetime.now(UTC)
    with sessions() as s:
        user = auth.create_user(s, None, UserCreate(username="everyone", roles=list(Role),
                                                    password=PASSWORD))
        _, token = auth.issue_token(s, user, name="schemathesis")
        deployments.create_deployment(s, user, DeploymentCreate(
            name="st", purpose="p", legal_basis="l", location="x",
            window_start=now - timedelta(hours=1), window_end=now + timedelta(hours=4),
            cameras=[CameraSpec(camera_id="cam1", source_url="rtsp://cam/1")],
            categories=[Category.WANTED_BY_COURTS], dpia_reference="D1",
            signage_confirmed=True, authorising_officer="everyone", threshold=0.4,
            embedder_key="test-embedder:0000"), now)
        s.commit()
    with TestClient(app):  # runs the lifespan (live hub bound to a loop)
        yield app, token, examples


def _operations(app: Any, token: str) -> list[Any]:
    config = SchemathesisConfig.from_dict({
        "headers": {"Authorization": f"Bearer {token}"},
        "generation": {"deterministic": True, "no-shrink": True},
    })
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app, config=config,
                                            headers={"Authorization": f"Bearer {token}"})
    operations = [result.ok() for result in schema.get_all_operations()]
    # last: those that may end the test's own session (sign out, new password, the user
    # disabled or its roles changed)
    return sorted((op for op in operations if op.path not in STREAMING),
                  key=lambda op: op.label in LAST)


def test_api_conforms_to_its_openapi(everyone: tuple[Any, str, int]) -> None:
    """Each operation: valid and invalid examples (5 each on SQLite); every failure is
    listed."""
    app, token, examples = everyone
    headers = {"Authorization": f"Bearer {token}"}
    operations = _operations(app, token)
    assert len(operations) >= 40
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def run(case: Any) -> None:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            try:
                run()
            except Unsatisfiable:  # no invalid request exists (an operation without input)
                continue
            except Exception as exc:  # noqa: BLE001 - collected, reported together
                failures.append(f"{operation.label} ({mode.value}): "
                                f"{type(exc).__name__}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)
    ok = sum(n for code, n in statuses.items() if code < 300)
    assert ok >= len(operations) // 2, statuses  # the token was let in
    assert not [code for code in statuses if code >= 500], statuses
