"""Enrolment uploads: a usable photo is enrolled; anything else gets a clear 4xx and leaves
nothing behind (no rows, no audit 'enrol' entry, no files)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openlfr.api.app import create_app
from openlfr.demoscene import sample_photo
from openlfr.store.models import AuditEntry, Role, Subject, SubjectImage, Template

from .conftest import Api, make_settings, seed_users

FIELDS = {"name": "Test Person", "category": "wanted_by_courts", "source": "test",
          "justification": "test", "expires_at": "2099-01-01T00:00:00Z"}


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("uploads")
    settings = make_settings(tmp)
    app = create_app(settings, run_cameras=False, session_key=b"u" * 32,
                     max_upload_bytes=2 * 1024 * 1024)
    users, tokens = seed_users(app.state.ctx.sessions)
    with TestClient(app) as client:
        yield Api(app, client, app.state.ctx.sessions, settings, users, tokens)


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk +
            struct.pack(">I", zlib.crc32(chunk)) + b"\x00" * 64)


def _jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def _state(api: Api) -> tuple[int, int, int, int, frozenset[str]]:
    with api.sessions() as s:
        counts = [s.scalar(select(func.count()).select_from(m)) or 0
                  for m in (Subject, SubjectImage, Template)]
        enrols = s.scalar(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.action == "enrol")) or 0
    files = frozenset(str(p.relative_to(api.settings.data_dir))
                      for p in Path(api.settings.data_dir).rglob("*")
                      if p.is_file() and not p.name.startswith("openlfr.db"))
    return (*counts, enrols, files)  # type: ignore[return-value]


def _post(api: Api, data: bytes, name: str = "photo.jpg", **fields: str):  # noqa: ANN202
    return api.client.post("/api/watchlist/subjects", headers=api.auth(Role.WATCHLIST_MANAGER),
                           data={**FIELDS, **fields},
                           files={"image": (name, data, "image/jpeg")})


def _flat() -> bytes:
    x = np.linspace(0, 255, 320, dtype=np.uint8)
    return _jpeg(np.dstack([np.tile(x, (240, 1))] * 3))


def _two_faces() -> bytes:
    face = cv2.imread(str(sample_photo("yaoming.jpg")))
    return _jpeg(np.hstack([face, face]))


BAD = [
    ("not an image", lambda: b"this is a text file, not a photograph\n" * 10, 422, "image"),
    ("empty file", lambda: b"", 422, "empty"),
    ("truncated jpeg", lambda: _jpeg(np.zeros((64, 64, 3), np.uint8))[:40], 422, "image"),
    ("no face", _flat, 422, "no face"),
    ("two faces", _two_faces, 422, "face"),
    ("group photo", lambda: sample_photo("players.jpg").read_bytes(), 422, "face"),
    ("too many pixels", lambda: _png_header_only(20000, 20000), 422, "pixel"),
    ("too many bytes", lambda: b"\xff\xd8\xff" + b"\x00" * (3 * 1024 * 1024), 413, "large"),
]


@pytest.mark.parametrize(("case", "make", "status", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_upload_is_refused_and_leaves_nothing(up: Api, case: str, make, status: int,  # noqa: ANN001
                                                  words: str) -> None:
    before = _state(up)
    resp = _post(up, make())
    assert resp.status_code == status, resp.text
    assert words in resp.json()["detail"].lower(), resp.text
    assert _state(up) == before


def test_bad_fields_are_refused_before_any_work(up: Api) -> None:
    before = _state(up)
    photo = sample_photo("yaoming.jpg").read_bytes()
    for fields in ({"category": "not_a_category"}, {"expires_at": "yesterday"},
                   {"expires_at": "2001-01-01T00:00:00Z"}, {"name": ""}):
        resp = _post(up, photo, **fields)
        assert resp.status_code == 422, (fields, resp.text)
    resp = up.client.post("/api/watchlist/subjects", headers=up.auth(Role.WATCHLIST_MANAGER),
                          data=FIELDS)  # no file at all
    assert resp.status_code == 422
    assert _state(up) == before


def test_good_photo_is_enrolled_encrypted(up: Api) -> None:
    photo = sample_photo("yaoming.jpg").read_bytes()
    resp = _post(up, photo, reference="GOOD-1")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["reference"] == "GOOD-1" and body["image_count"] == 1
    assert len(body["template_keys"]) == 1
    with up.sessions() as s:
        img = s.scalars(select(SubjectImage).where(SubjectImage.subject_id == body["id"])).one()
        assert photo not in img.blob  # stored encrypted
    got = up.client.get(f"/api/watchlist/subjects/{body['id']}/image",
                        headers=up.auth(Role.WATCHLIST_MANAGER))
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["cache-control"] == "no-store"
    again = _post(up, photo, reference="GOOD-1")  # duplicate reference: a clear 409
    assert again.status_code == 409
