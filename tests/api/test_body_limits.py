"""Bounded requests before authentication.

Bodies are counted as they stream in, chunked or sized: past the upload limit a request is
answered 413, and a caller without valid credentials is answered 401 once its body passes
64 KiB, without the rest being read. Image sizes are read from the header (TIFF included)
before any decode. The last tests run the real server and watch its memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openlfr.api.app import create_app
from openlfr.api.edge import ANONYMOUS_BODY_BYTES
from openlfr.store.models import Role

from .conftest import Api, make_settings, seed_users

CHUNK = 16 * 1024
UPLOAD_LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def lim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("limits")
    settings = make_settings(tmp)
    app = create_app(settings, run_cameras=False, session_key=b"l" * 32,
                     max_upload_bytes=UPLOAD_LIMIT)
    users, tokens = seed_users(app.state.ctx.sessions)
    with TestClient(app) as client:
        yield Api(app, client, app.state.ctx.sessions, settings, users, tokens)


def _call(app: Any, path: str, headers: dict[str, str], total: int,
          content_length: bool = False, body: bytes | None = None) -> tuple[int, int, bytes]:
    """Send ``total`` bytes (or ``body``) to ``path`` straight through ASGI, in 16 KiB
    messages, as a chunked upload unless ``content_length``; (status, bytes the app pulled,
    response body)."""
    data = body if body is not None else b"x" * total
    hdrs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    hdrs.append((b"content-length", str(len(data)).encode()) if content_length
                else (b"transfer-encoding", b"chunked"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": hdrs,
             "client": ("127.0.0.1", 1234), "server": ("testserver", 80)}
    pulled = 0
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= len(data):
            await asyncio.sleep(3600)  # the client waits: disconnect is never sent here
        piece = data[pulled:pulled + CHUNK]
        pulled += len(piece)
        return {"type": "http.request", "body": piece, "more_body": pulled < len(data)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return out["status"], pulled, out["body"]


def test_anonymous_chunked_body_is_refused_after_64_kib(lim: Api) -> None:
    status, pulled, body = _call(lim.app, "/api/watchlist/subjects", {}, 8 * 1024 * 1024)
    assert status == 401
    assert pulled <= ANONYMOUS_BODY_BYTES + CHUNK
    assert "sign in" in json.loads(body)["detail"]


def test_refused_unsigned_bodies_are_audited(lim: Api) -> None:
    """The route never runs for them, so the edge puts each refusal on record itself."""
    before = lim.audit_count()
    _call(lim.app, "/api/watchlist/subjects", {}, 1024 * 1024)  # chunked
    _call(lim.app, "/api/deployments", {"content-type": "application/json"}, 1024 * 1024,
          content_length=True)  # sized: refused unread
    assert lim.audit_count() == before + 2


def test_anonymous_sized_body_is_refused_unread(lim: Api) -> None:
    status, pulled, _ = _call(lim.app, "/api/deployments", {"content-type": "application/json"},
                              1024 * 1024, content_length=True)
    assert (status, pulled) == (401, 0)


def test_forged_token_is_checked_before_a_large_body(lim: Api) -> None:
    forged = {"authorization": "Bearer olfr_not-a-real-token"}
    status, pulled, _ = _call(lim.app, "/api/watchlist/subjects", forged, 4 * 1024 * 1024)
    assert status == 401 and pulled <= ANONYMOUS_BODY_BYTES + CHUNK
    status, pulled, _ = _call(lim.app, "/api/watchlist/subjects", forged, 1024 * 1024,
                              content_length=True)
    assert (status, pulled) == (401, 0)


def test_signed_in_chunked_body_is_bounded_too(lim: Api) -> None:
    headers = {"authorization": f"Bearer {lim.tokens[Role.WATCHLIST_MANAGER]}",
               "content-type": "multipart/form-data; boundary=xyz"}
    part = (b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n")
    status, pulled, _ = _call(lim.app, "/api/watchlist/subjects", headers, 0,
                              body=part + b"x" * (3 * UPLOAD_LIMIT))
    assert status == 413
    assert pulled <= UPLOAD_LIMIT + 1024 * 1024 + CHUNK
    status, pulled, _ = _call(lim.app, "/api/watchlist/subjects", headers,
                              3 * UPLOAD_LIMIT, content_length=True)
    assert (status, pulled) == (413, 0)


def test_signed_in_large_chunked_body_is_read(lim: Api) -> None:
    """A valid token passes the 64 KiB mark: the body is read and the route answers."""
    body = json.dumps({"name": "big"}).encode()
    body = body[:-1] + b" " * (200 * 1024) + b"}"
    headers = {"authorization": f"Bearer {lim.tokens[Role.OPERATOR]}",
               "content-type": "application/json"}
    status, pulled, out = _call(lim.app, "/api/auth/tokens", headers, 0, body=body)
    assert status == 201, out
    assert pulled == len(body)


def test_small_anonymous_bodies_reach_the_routes(lim: Api) -> None:
    """Under 64 KiB nothing changes: the route's own check answers (and audits) the 401,
    and signing in works."""
    before = lim.audit_count()
    r = lim.client.post("/api/deployments", json={"name": "x"})
    assert r.status_code == 401
    assert lim.audit_count() == before + 1
    r = lim.client.post("/api/auth/login", json={"username": "operator",
                                                  "password": "correct horse battery"})
    assert r.status_code == 200


def test_tiff_bomb_upload_is_refused_from_its_header(lim: Api, tiff_bomb: bytes) -> None:
    r = lim.client.post("/api/watchlist/subjects", headers=lim.auth(Role.WATCHLIST_MANAGER),
                        data={"name": "T", "category": "wanted_by_courts", "source": "s",
                              "justification": "j", "expires_at": "2099-01-01T00:00:00Z"},
                        files={"image": ("bomb.tiff", tiff_bomb, "image/tiff")})
    assert r.status_code == 422
    assert "20000x20000" in r.json()["detail"]




# --- the real server: its memory ------------------------------------------------------------

SERVER = textwrap.dedent("""
    import sys, uvicorn
    from pathlib import Path
    from openlfr.api.app import create_app
    from openlfr.settings import Settings
    tmp, port = Path(sys.argv[1]), int(sys.argv[2])
    settings = Settings(data_dir=tmp, dev=True, database_url=f"sqlite:///{tmp / 'openlfr.db'}")
    app = create_app(settings, run_cameras=False, session_key=b"r" * 32, migrate=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, str]]:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    tmp = tmp_path_factory.mktemp("rss")
    settings = make_settings(tmp)
    app = create_app(settings, run_cameras=False, session_key=b"r" * 32)  # migrates
    _, tokens = seed_users(app.state.ctx.sessions)
    app.state.ctx.store.close()
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp), str(port)],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise AssertionError(f"server exited with {proc.returncode}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield proc.pid, port, tokens[Role.WATCHLIST_MANAGER]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _raw_chunked(port: int, path: str, headers: dict[str, str], total: int,
                 first: bytes = b"") -> tuple[int, int]:
    """POST up to ``total`` bytes chunked, 1 MiB a chunk, stopping as soon as the server
    answers or closes; (status, bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                 f"{head}\r\n".encode())
    piece = b"a" * (1024 * 1024)
    frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent, pending = 0, (f"{len(first):x}\r\n".encode() + first + b"\r\n") if first else b""
    sock.setblocking(False)
    try:
        while sent < total or pending:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable or not (readable or writable):
                break
            if not pending:
                pending, sent = frame, sent + len(piece)
            try:
                pending = pending[sock.send(pending):]
            except (BrokenPipeError, ConnectionResetError, BlockingIOError):
                break
        sock.setblocking(True)
        sock.settimeout(30)
        reply = b""
        while b"\r\n" not in reply:
            got = sock.recv(4096)
            if not got:
                break
            reply += got
    finally:
        sock.close()
    return int(reply.split(b" ", 2)[1]), sent


@pytest.mark.parametrize("path,content_type,first", [
    ("/api/deployments", "application/json", b'{"name": "'),
    ("/api/watchlist/subjects", "multipart/form-data; boundary=xyz",
     b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
     b"Content-Type: image/jpeg\r\n\r\n"),
])
def test_server_memory_stays_flat_for_an_anonymous_300_mib_chunked_body(
        server: tuple[int, int, str], path: str, content_type: str, first: bytes) -> None:
    pid, port, _ = server
    _raw_chunked(port, path, {"Content-Type": content_type}, 2 * 1024 * 1024, first)  # warm up
    before = _rss_kib(pid)
    status, sent = _raw_chunked(port, path, {"Content-Type": content_type},
                                300 * 1024 * 1024, first)
    growth_mb = (_rss_kib(pid) - before) / 1024
    print(f"anonymous chunked body to {path}: {sent / 2**20:.0f} MiB sent before the "
          f"{status}, RSS {before / 1024:.0f} MB -> +{growth_mb:.1f} MB")
    assert status == 401
    assert growth_mb < 50


def test_server_memory_stays_flat_for_a_tiff_bomb(server: tuple[int, int, str],
                                                   tiff_bomb: bytes) -> None:
    pid, port, token = server
    boundary = "bomb"

    def upload(image: bytes, name: str) -> int:
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                 for k, v in {"name": "T", "category": "wanted_by_courts", "source": "s",
                              "justification": "j",
                              "expires_at": "2099-01-01T00:00:00Z"}.items()]
        body = ("".join(parts) + f'--{boundary}\r\nContent-Disposition: form-data; '
                f'name="image"; filename="{name}"\r\nContent-Type: image/tiff\r\n\r\n'
                ).encode() + image + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/watchlist/subjects", data=body, method="POST",
            headers={"Authorization": f"Bearer {token}",
                     "Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    assert upload(b"not an image at all", "warm.txt") == 422  # imports the decoder
    before = _rss_kib(pid)
    bomb = tiff_bomb
    status = upload(bomb, "bomb.tiff")
    growth_mb = (_rss_kib(pid) - before) / 1024
    print(f"TIFF bomb: {len(bomb) / 1024:.1f} KiB file claiming 20000x20000, RSS "
          f"{before / 1024:.0f} MB -> +{growth_mb:.1f} MB")
    assert status == 422
    assert growth_mb < 50
