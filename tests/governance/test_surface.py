"""The public surface: every name in ``__all__`` exists; property tests of pure rules."""

from __future__ import annotations

import importlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openlfr.governance.alerts import FINAL, decide_status
from openlfr.governance.crypto import DecryptionError, Keyring, aad_for
from openlfr.store.models import Outcome

MODULES = ["openlfr.store", "openlfr.store.db", "openlfr.store.models", "openlfr.store.types",
           "openlfr.store.testing", "openlfr.governance.auth", "openlfr.governance.audit",
           "openlfr.governance.alerts", "openlfr.governance.crypto",
           "openlfr.governance.deployments", "openlfr.governance.retention",
           "openlfr.governance.runtime", "openlfr.governance.schemas",
           "openlfr.governance.watchlist", "openlfr.cli.governed"]


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    mod = importlib.import_module(name)
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert missing == []


decisions = st.lists(st.tuples(st.integers(1, 4), st.sampled_from(list(Outcome))), max_size=6)


@given(decisions)
def test_two_person_outcome_needs_two_distinct_agreeing_users(ds: list) -> None:
    status = decide_status(ds, two_person=True)
    if status in FINAL:
        first = {}
        for u, o in ds:
            first.setdefault(u, o)
        agreeing = [u for u, o in first.items() if o.value == status.value]
        assert len(agreeing) >= 2


@given(st.binary(max_size=2000), st.integers(1, 10**9))
def test_encryption_roundtrip_and_row_binding(data: bytes, row: int) -> None:
    kr = Keyring(os.urandom(32))
    blob = kr.encrypt(data, aad_for("alerts", row, "probe_blob"))
    assert kr.decrypt(blob, aad_for("alerts", row, "probe_blob")) == data
    if len(data) >= 16:
        assert data not in blob
    with pytest.raises(DecryptionError):
        kr.decrypt(blob, aad_for("alerts", row + 1, "probe_blob"))
