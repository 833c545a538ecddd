"""Several servers on one database: one leader assigns the cameras; its term passes to
another only once it lapsed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from openlfr.fleet.centre import claim_leadership
from openlfr.governance.runtime import open_store
from openlfr.settings import Settings
from openlfr.store import upgrade

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


def test_one_leader_at_a_time(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, dev=True)
    upgrade(settings.resolved_database_url)
    store = open_store(settings)
    try:
        def claim(who: str, at: datetime) -> bool:
            with store.session() as s:
                return claim_leadership(s, who, at, 18.0)

        assert claim("a", T0) and not claim("b", T0)
        assert claim("a", T0 + timedelta(seconds=10))  # renewed: runs to T0 + 28 s
        assert not claim("b", T0 + timedelta(seconds=20))
        assert claim("b", T0 + timedelta(seconds=28))  # a's term lapsed (a stopped)
        assert not claim("a", T0 + timedelta(seconds=29))
    finally:
        store.close()
