"""Key rotation re-encrypts every value encrypted at rest (both databases), the CLI too."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError
from openlfr.governance import alerts as A
from openlfr.governance import deployments as D
from openlfr.governance import watchlist as W
from openlfr.governance.crypto import DecryptionError, Keyring, aad_for, generate_key
from openlfr.governance.keys import ENCRYPTED, rotate_key
from openlfr.store.models import AuditEntry, Base

from .conftest import DB, KEY, T0, People, active_deployment
from .test_cli import CLI, cli  # noqa: F401  (the fixture)

NEW = bytes(range(100, 132))


def blobs(session: Session) -> dict[tuple[str, int, str], bytes]:
    out = {}
    for table_name, column in ENCRYPTED:
        t = Base.metadata.tables[table_name]
        for row_id, blob in session.execute(select(t.c.id, t.c[column])
                                            .where(t.c[column].is_not(None))):
            out[table_name, row_id, column] = blob
    return out


def test_rotation_re_encrypts_everything(session: Session, people: People) -> None:
    dep = active_deployment(session, people)  # subjects, templates, a snapshot, camera URLs
    snap = W.get_snapshot(session, dep.id)
    A.record_alert(session, dep.id, "cam1", "t1", snap.subjects[0].subject_id, 0.7, b"probe",
                   at=T0 + (dep.window_start - T0))
    session.commit()
    before = blobs(session)
    assert {t for t, _, _ in before} == {t for t, _ in ENCRYPTED}  # every kind is covered
    old = Keyring(KEY)
    counts = rotate_key(session, people.admin, old, NEW, T0)
    session.commit()
    after = blobs(session)
    assert sum(counts.values()) == len(before) == len(after)
    new = Keyring(NEW)
    for (t, i, c), blob in after.items():
        aad = aad_for(t, i, c)
        assert blob != before[t, i, c]
        assert new.decrypt(blob, aad) == old.decrypt(before[t, i, c], aad)
        with pytest.raises(DecryptionError, match="does not hold"):
            old.decrypt(blob, aad)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "key_rotate")).one()
    details = json.loads(entry.details)
    assert details["from_key_id"] == old.key_id and details["to_key_id"] == new.key_id
    assert base64.b64encode(NEW).decode() not in entry.details
    session.info["keyring"] = new  # the store, opened with the new key, reads as before
    assert D.camera_sources(session, dep)["cam1"] == "rtsp://user:secret@10.0.0.5/s1"


def test_rotation_refusals(session: Session, people: People) -> None:
    with pytest.raises(ConfigError, match="the new key is the current key"):
        rotate_key(session, people.admin, Keyring(KEY), KEY, T0)
    with pytest.raises(Exception, match="may not user.manage"):
        rotate_key(session, people.op, Keyring(KEY), NEW, T0)


def test_key_rotate_command(cli: CLI, db: DB, tmp_path: Path,  # noqa: F811
                            monkeypatch: pytest.MonkeyPatch) -> None:
    cli("user", "add", "boss", "--role", "admin")
    cli("user", "add", "ann", "--role", "authorising_officer", "--as", "boss")
    cli("deployment", "create", "--name", "G", "--purpose", "p", "--legal-basis", "l",
        "--location", "x", "--start", "+1h", "--end", "+2h", "--camera",
        "cam1=rtsp://u:pw@10.0.0.1/s", "--category", "wanted_by_courts", "--dpia", "D",
        "--officer", "ann", "--threshold", "0.4", "--embedder", "arc:1", "--as", "ann")
    new_file = tmp_path / "new.key"
    new_file.write_text(generate_key() + "\n")
    os.chmod(new_file, 0o644)
    _, err = cli("key", "rotate", "--new-key-file", str(new_file), "--as", "boss", code=2)
    assert "readable by other users" in err
    os.chmod(new_file, 0o600)
    out, err = cli("key", "rotate", "--new-key-file", str(new_file), "--as", "boss")
    assert "deployment_cameras.source_secret: 1" in out and "1 values re-encrypted" in err
    # the old key no longer reads the store; the new one does
    monkeypatch.delenv("OPENLFR_KEY")
    monkeypatch.setenv("OPENLFR_KEY_FILE", str(new_file))
    _, err = cli("key", "rotate", "--new-key-file", str(new_file), "--as", "boss", code=2)
    assert "the new key is the current key" in err


def test_reset_password_command(cli: CLI, db: DB) -> None:  # noqa: F811
    from openlfr.governance.auth import get_user, must_change_password, sign_in

    cli("user", "add", "boss", "--role", "admin")
    cli("user", "add", "ann", "--role", "authorising_officer", "--as", "boss")
    out, err = cli("user", "reset-password", "ann", "--as", "boss")
    one_time = out.strip()
    assert len(one_time) >= 12 and "serves once" in err
    with db.sessions() as s:
        assert must_change_password(get_user(s, "ann"))
        sign_in(s, "ann", one_time, new_password="a new long password")
        s.commit()
        assert not must_change_password(get_user(s, "ann"))
    _, err = cli("user", "reset-password", "boss", "--as", "ann", code=3)
    assert "may not user.manage" in err
