"""``openlfr serve --demo`` as a user starts it: one command brings up the embedded
nats-server, the centre and a local node whose camera alerts; Ctrl-C ends all of it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import wait_for

pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.add(k)
            todo.append(k)
    return out


def test_demo_starts_everything_and_ctrl_c_ends_everything(tmp_path: Path) -> None:
    port = _port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLFR_")}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "openlfr.cli", "serve", "--demo",
                                 "--port", str(port), "--data-dir", str(tmp_path / "var")],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "possible match" in log.read_text(), timeout=180,
                 what="the demo camera's alert")
        assert httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
        kids = _children(proc.pid)
        names = {Path(f"/proc/{k}/cmdline").read_bytes().split(b"\0")[0].rsplit(b"/", 1)[-1]
                 for k in kids if Path(f"/proc/{k}/cmdline").exists()}
        assert b"nats-server" in names  # the embedded bus, a child of the server
        proc.send_signal(signal.SIGINT)
        # uvicorn ends a Ctrl-C with the shell's 128 + SIGINT once shutdown completed
        assert proc.wait(timeout=90) in (0, 130), log.read_text()[-2000:]
        assert "Application shutdown complete" in log.read_text()
        wait_for(lambda: not any(Path(f"/proc/{k}").exists() and
                                 b"zombie" not in Path(f"/proc/{k}/status").read_bytes()
                                 .lower() for k in kids),
                 timeout=30, what="every child process gone")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
