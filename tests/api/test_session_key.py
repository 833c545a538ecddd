"""The cookie-signing key survives a restart: a session signed by one app is good in the
next one on the same data folder, or on any server given the same OPENLFR_SESSION_KEY."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from openlfr.api.app import create_app
from openlfr.api.session_key import SESSION_KEY_ENV, load_session_key
from openlfr.errors import ConfigError

from .conftest import make_settings


def test_the_key_is_made_once_and_kept(tmp_path: Path) -> None:
    key = load_session_key(tmp_path, environ={})
    assert len(key) == 32 and load_session_key(tmp_path, environ={}) == key
    assert stat.S_IMODE((tmp_path / "session.key").stat().st_mode) == 0o600
    shared = base64.b64encode(b"s" * 32).decode()
    assert load_session_key(tmp_path, environ={SESSION_KEY_ENV: shared}) == b"s" * 32
    with pytest.raises(ConfigError, match="at least 32"):
        load_session_key(tmp_path, environ={SESSION_KEY_ENV: base64.b64encode(b"x").decode()})
    os.chmod(tmp_path / "session.key", 0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        load_session_key(tmp_path, environ={})


def test_a_restart_keeps_sessions_signed(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SESSION_KEY_ENV, raising=False)
    settings = make_settings(tmp_path)
    first = create_app(settings, run_cameras=False).state.ctx
    second = create_app(settings, run_cameras=False).state.ctx  # "after a restart"
    assert second.signer.csrf("session-token") == first.signer.csrf("session-token")
