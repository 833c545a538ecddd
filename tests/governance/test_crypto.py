"""Encryption at rest: no plaintext biometric data in the database (raw SQLite bytes,
PostgreSQL rows); ciphertexts bound to their rows; keys required outside dev mode."""

from __future__ import annotations

import base64
import os
import stat
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from openlfr.errors import ConfigError
from openlfr.governance import alerts as A
from openlfr.governance import watchlist as W
from openlfr.governance.crypto import (
    DecryptionError,
    Keyring,
    aad_for,
    generate_key,
    load_keyring,
)
from openlfr.settings import Settings

from .conftest import DB, EMB, T0, People, active_deployment, make_subject, template

IMAGE = b"\xff\xd8\xff\xe0JFIF-WATCHLIST-IMAGE-" + bytes(range(256)) * 4
PROBE = b"\xff\xd8\xff\xe0JFIF-PROBE-IMAGE-" + bytes(range(255, -1, -1)) * 4
BLOB_COLUMNS = [("subject_images", "blob"), ("templates", "blob"),
                ("snapshot_subjects", "image_blob"), ("snapshot_templates", "blob"),
                ("alerts", "probe_blob")]


def test_no_plaintext_biometrics_in_the_database(db: DB, people: People) -> None:
    with db.sessions() as s:
        s9 = make_subject(s, people.wm, "S9", image=IMAGE, seed=9)
        dep = active_deployment(s, people, n_subjects=1)
        alert = A.record_alert(s, dep.id, "cam1", "t1", W.get_snapshot(s, dep.id).subjects[0]
                               .subject_id, 0.6, PROBE, T0 + timedelta(hours=2))
        s.commit()
        stored = b"".join(bytes(v) for t, c in BLOB_COLUMNS
                          for (v,) in s.execute(text(f"SELECT {c} FROM {t}")) if v)
    needles = {"watchlist image": IMAGE[:64], "probe image": PROBE[:64],
               "template S9": template(9).astype("<f4").tobytes()[:32],
               "template S0": template(0).astype("<f4").tobytes()[:32]}
    haystacks = {"rows": stored}
    if db.path is not None:
        db.engine.dispose()  # checkpoint the WAL so the main file holds everything
        haystacks["sqlite file"] = db.path.read_bytes() + b"".join(
            p.read_bytes() for p in db.path.parent.glob("openlfr.db-*"))
    assert len(stored) > len(IMAGE) + len(PROBE)  # the data is there, encrypted
    for where, hay in haystacks.items():
        for what, needle in needles.items():
            assert needle not in hay, f"{what} readable as plaintext in the {where}"
    with db.sessions() as s:  # and it decrypts with the key
        assert W.subject_image(s, people.wm, s9.id, T0) == IMAGE
        assert A.alert_probe_image(s, people.op, alert.id, T0) == PROBE


def test_ciphertext_is_bound_to_its_row(session: Session, people: People) -> None:
    a = make_subject(session, people.wm, "A", image=b"image of A")
    b = make_subject(session, people.wm, "B", image=b"image of B")
    session.commit()
    # Move B's encrypted image onto A's row: it must not decrypt as A's image.
    session.execute(text("UPDATE subject_images SET blob = (SELECT blob FROM subject_images "
                         "WHERE subject_id = :b) WHERE subject_id = :a"), {"a": a.id, "b": b.id})
    session.commit()
    session.expire_all()
    with pytest.raises(DecryptionError, match="does not decrypt"):
        W.subject_image(session, people.wm, a.id, T0)


def test_wrong_key_does_not_decrypt(session: Session, people: People) -> None:
    make_subject(session, people.wm, "A")
    dep = active_deployment(session, people, n_subjects=0, categories=["wanted_by_courts"])
    with pytest.raises(DecryptionError, match="does not hold"):
        W.load_snapshot(session, dep.id, Keyring(os.urandom(32)), EMB)


def test_keyring_roundtrip_and_rotation() -> None:
    old, new = os.urandom(32), os.urandom(32)
    blob = Keyring(old).encrypt(b"x" * 100, aad_for("t", 1, "c"))
    rotated = Keyring(new, old=[old])
    assert rotated.decrypt(blob, aad_for("t", 1, "c")) == b"x" * 100
    with pytest.raises(DecryptionError):
        rotated.decrypt(blob, aad_for("t", 2, "c"))
    assert "x" * 10 not in repr(rotated) and rotated.key_id not in repr(Keyring(old))


def test_key_from_environment_and_file(tmp_path: Path) -> None:
    key = generate_key()
    assert len(base64.b64decode(key)) == 32
    assert load_keyring(Settings(key=key, data_dir=tmp_path)).key_id
    with pytest.raises(ConfigError, match="decodes to 3 bytes"):
        load_keyring(Settings(key="YWJj", data_dir=tmp_path))
    with pytest.raises(ConfigError, match="not base64"):
        load_keyring(Settings(key="not base64!", data_dir=tmp_path))
    f = tmp_path / "k"
    f.write_text(key)
    f.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_keyring(Settings(key_file=f, data_dir=tmp_path))
    f.chmod(0o600)
    assert load_keyring(Settings(key_file=f, data_dir=tmp_path)).key_id == \
        load_keyring(Settings(key=key, data_dir=tmp_path)).key_id


def test_refuses_without_a_key_unless_dev_mode(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="no encryption key"):
        load_keyring(Settings(data_dir=tmp_path))
    assert not (tmp_path / "openlfr.key").exists()
    first = load_keyring(Settings(data_dir=tmp_path / "var", dev=True))
    path = tmp_path / "var" / "openlfr.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700  # a new data_dir is owner-only
    assert "development mode: created encryption key file" in capsys.readouterr().err
    assert load_keyring(Settings(data_dir=tmp_path / "var"), dev=True).key_id == first.key_id
    assert capsys.readouterr().err == ""  # says so only when it creates one


def test_template_roundtrip_is_exact(session: Session, people: People) -> None:
    v = template(3, dim=512)
    assert np.array_equal(W.decode_template(W.encode_template(v), 512), v)
