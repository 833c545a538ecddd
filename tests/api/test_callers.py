"""The remembered callers (openlfr.api.callers): reads admitted without the store, and every
change to a user, a role or a token in force at once here, within a second elsewhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.orm import sessionmaker

from openlfr.api.callers import Caller, CallerCache
from openlfr.api.readcache import ReadCache
from openlfr.governance import auth
from openlfr.governance.schemas import UserCreate
from openlfr.store.models import ApiToken, Role, User

from .conftest import Api


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def caller(expires: datetime | None = None) -> Caller:
    return Caller(1, "op", frozenset({Role.OPERATOR}), expires)


def test_an_entry_lives_a_second_and_never_past_its_tokens_expiry() -> None:
    clock = Clock()
    cache = CallerCache(ttl_s=1.0, clock=clock)
    cache.put("a", caller(), cache.generation)
    cache.put("b", caller(expires=NOW + timedelta(seconds=5)), cache.generation)
    assert cache.get("a", NOW) == caller() and cache.get("b", NOW) is not None
    assert cache.get("b", NOW + timedelta(seconds=5)) is None  # the token itself expired
    clock.t = 1.0
    assert cache.get("a", NOW) is None


def test_an_answer_read_across_a_change_is_not_kept() -> None:
    cache = CallerCache(clock=Clock())
    generation = cache.generation
    cache.clear()  # a role change committed while the store was being asked
    cache.put("a", caller(), generation)
    assert cache.get("a", NOW) is None


@pytest.fixture()
def token(api: Api) -> Iterator[tuple[int, str]]:
    """A fresh operator token of this test: (its id, the token)."""
    with api.sessions() as s:
        op = s.get(User, api.users[Role.OPERATOR].id)
        row, tok = auth.issue_token(s, op, name="callers-test")
        s.commit()
        yield row.id, tok


def _queries(api: Api) -> Any:
    """A list that grows by one for every statement the app's stores run."""
    seen: list[str] = []
    engines = [api.app.state.ctx.store.engine, api.app.state.ctx.store.read_engine]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_remembered_reader_costs_no_store_query(api: Api, token: tuple[int, str]) -> None:
    headers = {"Authorization": f"Bearer {token[1]}"}
    assert api.client.get("/api/alerts", headers=headers).status_code == 200
    seen = _queries(api)
    assert api.client.get("/api/alerts", headers=headers).status_code == 200
    assert seen == []  # the caller and the page both came from memory


def test_a_revoked_token_is_refused_at_once(api: Api, token: tuple[int, str]) -> None:
    token_id, tok = token
    headers = {"Authorization": f"Bearer {tok}"}
    assert api.client.get("/api/alerts", headers=headers).status_code == 200
    with api.sessions() as s:
        auth.revoke_token(s, s.get(User, api.users[Role.OPERATOR].id), token_id)
        s.commit()
    assert api.client.get("/api/alerts", headers=headers).status_code == 401


def test_a_role_taken_away_here_counts_at_once(api: Api) -> None:
    with api.sessions() as s:
        admin = s.get(User, api.users[Role.ADMIN].id)
        u = auth.create_user(s, admin, UserCreate(username="callers_aud", roles=[Role.AUDITOR]))
        _, tok = auth.issue_token(s, u, name="t")
        s.commit()
        uid = u.id
    headers = {"Authorization": f"Bearer {tok}"}
    assert api.client.get("/api/alerts", headers=headers).status_code == 200
    with api.sessions() as s:
        s.get(User, uid).role_rows = []
        s.commit()
    assert api.client.get("/api/alerts", headers=headers).status_code == 403


def test_a_change_made_by_another_process_counts_within_the_ttl(
        api: Api, token: tuple[int, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = api.app.state.ctx
    clock = Clock()
    monkeypatch.setattr(ctx.callers, "_clock", clock)
    headers = {"Authorization": f"Bearer {token[1]}"}
    assert api.client.get("/api/alerts", headers=headers).status_code == 200
    other = sessionmaker(ctx.store.engine)  # not this app's sessions: nothing is told
    with other() as s:
        s.execute(update(ApiToken).where(ApiToken.id == token[0])
                  .values(revoked_at=datetime.now(UTC)))
        s.commit()
    assert api.client.get("/api/alerts", headers=headers).status_code == 200  # remembered
    clock.t = 1.0
    assert api.client.get("/api/alerts", headers=headers).status_code == 401


def test_a_refusal_is_still_audited(api: Api, token: tuple[int, str]) -> None:
    headers = {"Authorization": f"Bearer {token[1]}"}
    assert api.client.get("/api/alerts", headers=headers).status_code == 200
    before = api.audit_count()
    assert api.client.get("/api/audit", headers=headers).status_code == 403  # not an operator's
    assert api.audit_count() == before + 1 and api.last_audit().action == "permission_denied"


def test_readers_of_one_expired_page_ask_the_store_once() -> None:
    cache: ReadCache[int] = ReadCache(ttl_s=60.0, clock=Clock())
    started, release, calls = threading.Event(), threading.Event(), []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(10)
        return 7

    results: list[int] = []
    first = threading.Thread(target=lambda: results.append(cache.get("page", slow)))
    first.start()
    assert started.wait(10)
    others = [threading.Thread(target=lambda: results.append(cache.get("page", slow)))
              for _ in range(5)]
    for t in others:
        t.start()
    for _ in range(10_000):  # until all five wait on the running computation
        if cache.hits == 5:
            break
        threading.Event().wait(0.001)
    assert cache.hits == 5
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert results == [7] * 6 and calls == [1]
