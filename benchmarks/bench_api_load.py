"""Do API readers slow the cameras down? ``openlfr serve --demo`` under N concurrent readers.

    .venv/bin/python benchmarks/bench_api_load.py                    # 50 readers, 60 s
    .venv/bin/python benchmarks/bench_api_load.py --seconds 20 --clients 5
    .venv/bin/python benchmarks/bench_api_load.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test --reset

1. starts ``openlfr serve --demo`` on a free loopback port with a temporary
   ``OPENLFR_DATA_DIR`` (the demo seeds users, a subject and an active deployment whose
   camera plays a recorded clip in a loop);
2. issues an auditor API token with ``openlfr user token --as auditor``;
3. waits for the demo camera to analyse frames, then measures its frames/s from
   ``/metrics`` (``openlfr_camera_frames_total``) for ``--alone-seconds`` with no readers;
4. runs ``--clients`` concurrent readers (one keep-alive connection each, a lean HTTP/1.1
   client on asyncio streams) on ``GET /api/alerts`` for ``--seconds`` while the camera
   runs, and measures the camera again;
5. prints one JSON object on stdout: requests, 5xx count, latency percentiles, the camera's
   frames/s alone and under load and their ratio, alerts raised during the load, and the CPU
   (in cores) that the server, the camera processes and the readers used under load.

Progress goes to stderr. Everything stays on 127.0.0.1 and every wait is bounded; the
server is stopped (and the temporary folder removed) at the end, also on failure.
On PostgreSQL the database must be empty for the demo to seed it: ``--reset`` first
removes every OpenLFR table from it (``openlfr db downgrade base``), so never point it at a
database you care about.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from procstat import cpu_seconds, process_tree  # same folder: run as a script

ROOT = Path(__file__).resolve().parents[1]
SERIES = re.compile(r"^(openlfr_camera_(?:frames|alerts)_total)(?:\{[^}]*\})?\s+(\S+)$")


def log(msg: str) -> None:
    print(f"[bench_api_load] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openlfr_command() -> list[str]:
    script = Path(sys.executable).parent / "openlfr"
    if script.exists():
        return [str(script)]
    found = shutil.which("openlfr")
    if found is None:
        sys.exit("cannot find the `openlfr` command: run `make venv` and use .venv/bin/python")
    return [found]


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def camera_totals(text: str) -> tuple[float, float]:
    """(frames, alerts) summed over every camera series in a /metrics page."""
    frames = alerts = 0.0
    for line in text.splitlines():
        m = SERIES.match(line.strip())
        if m is None:
            continue
        if m.group(1).endswith("frames_total"):
            frames += float(m.group(2))
        else:
            alerts += float(m.group(2))
    return frames, alerts


class Server:
    """``openlfr serve --demo`` in a subprocess, its output in a log file."""

    def __init__(self, data_dir: Path, port: int, database_url: str | None) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**os.environ, "OPENLFR_DATA_DIR": str(data_dir), "OPENLFR_DEV": "1"}
        self.env.pop("OPENLFR_AS", None)
        if database_url:
            self.env["OPENLFR_DATABASE_URL"] = database_url
        self.log_path = data_dir / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [*openlfr_command(), "serve", "--demo", "--host", "127.0.0.1",
               "--port", str(self.port)]
        log(f"starting {' '.join(cmd[1:])} (log: {self.log_path})")
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cli(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run([*openlfr_command(), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"openlfr {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        log("stopping the server")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def wait_until(what: str, deadline: float, check: Any, server: Server,
               every_s: float = 1.0) -> Any:
    """Call ``check()`` until it returns something truthy, the server dies or time is up."""
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"the server exited while {what}:\n{server.tail()}")
        with contextlib.suppress(httpx.HTTPError, RuntimeError):
            got = check()
            if got:
                return got
        time.sleep(every_s)
    raise RuntimeError(f"timed out {what}:\n{server.tail()}")


def camera_rate(client: httpx.Client, seconds: float) -> tuple[float, float, float]:
    """(frames/s, alerts raised, seconds measured) of the server's cameras over ``seconds``."""
    t0 = time.monotonic()
    f0, a0 = camera_totals(client.get("/metrics").text)
    time.sleep(seconds)
    f1, a1 = camera_totals(client.get("/metrics").text)
    dt = time.monotonic() - t0
    return (f1 - f0) / dt, a1 - a0, dt


class ReaderError(Exception):
    """The server's answer could not be read as HTTP/1.1."""


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response: (status, whether the server keeps the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ReaderError(f"not an HTTP/1.1 status line: {lines[0][:40]!r}")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(fields.get("content-length", "0")))
    return int(parts[1]), fields.get("connection", "").lower() != "close"


async def readers(base: str, token: str, clients: int, seconds: float, path: str
                  ) -> dict[str, Any]:
    """``clients`` loops of GET ``path`` for ``seconds``, each on its own keep-alive
    connection: latencies and status counts.

    The readers speak HTTP/1.1 over plain asyncio streams. A general client costs far more
    than the server does for a cached page (httpx took about 7 CPU-ms a request here, four
    times the server's whole cost), and on a 2-core machine that is CPU taken from the
    server and the camera under test."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    stop_at = time.monotonic() + seconds
    host, _, port = base.removeprefix("http://").partition(":")
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n").encode()

    async def one() -> None:
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.monotonic() < stop_at:
            t = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 30)
                conn[1].write(request)
                status, keep = await asyncio.wait_for(_answer(conn[0]), 30.0)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    TimeoutError, ReaderError, ValueError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            latencies.append((time.perf_counter() - t) * 1000.0)
            statuses[status] = statuses.get(status, 0) + 1
            if not keep:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    tasks = [asyncio.create_task(one()) for _ in range(clients)]
    # a request begun just before the end may take its full timeout: bounded anyway
    done, pending = await asyncio.wait(tasks, timeout=seconds + 40.0)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return {"latencies": latencies, "statuses": statuses, "errors": errors,
            "unfinished": len(pending)}


@contextlib.contextmanager
def data_folder(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="openlfr-bench-api-"))
    try:
        yield path
    finally:
        if keep:
            log(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.database_url and args.reset:
        from openlfr.store import downgrade

        log("--reset: removing every OpenLFR table from the database")
        downgrade(args.database_url, "base")
    with data_folder(args.keep) as tmp:
        server = Server(tmp, free_port(), args.database_url)
        server.start()
        try:
            return measure(server, args)
        finally:
            server.stop()


def measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.startup_timeout
    with httpx.Client(base_url=server.base, timeout=10.0) as anon:
        wait_until("waiting for the server to answer", deadline,
                   lambda: anon.get("/login").status_code == 200, server)
    log("server is up; issuing an auditor token")
    token = server.cli("user", "token", "--as", "auditor", "--name", "bench-api-load")
    with httpx.Client(base_url=server.base, timeout=10.0,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        if client.get("/api/alerts?limit=1").status_code != 200:
            raise RuntimeError("the auditor token cannot read /api/alerts")
        first = wait_until("waiting for the demo camera to analyse frames", deadline,
                           lambda: camera_totals(client.get("/metrics").text)[0], server)
        log(f"camera running ({first:.0f} frames so far); {args.warmup_seconds:g} s warm-up")
        time.sleep(args.warmup_seconds)
        log(f"measuring the camera alone for {args.alone_seconds:g} s")
        fps_alone, alerts_alone, alone_s = camera_rate(client, args.alone_seconds)
        log(f"alone: {fps_alone:.1f} frames/s, {alerts_alone:.0f} alerts")

        log(f"{args.clients} readers on GET {args.path} for {args.seconds:g} s")
        assert server.proc is not None
        cameras = process_tree(server.proc.pid)[1:]
        roles = {"server": [server.proc.pid], "cameras and broker": cameras,
                 "readers": [os.getpid()]}
        cpu0 = {role: sum(cpu_seconds(p) for p in pids) for role, pids in roles.items()}
        t0 = time.monotonic()
        f0, a0 = camera_totals(client.get("/metrics").text)
        load = asyncio.run(readers(server.base, token, args.clients, args.seconds, args.path))
        load_s = time.monotonic() - t0
        cpu_cores = {role: round((sum(cpu_seconds(p) for p in pids) - cpu0[role]) / load_s, 2)
                     for role, pids in roles.items()}
        # the camera is read after the readers stop: /metrics itself may queue under load
        f1, a1 = camera_totals(client.get("/metrics", timeout=60.0).text)
    fps_load = (f1 - f0) / load_s
    lat = sorted(load["latencies"])
    status_5xx = sum(n for code, n in load["statuses"].items() if code >= 500)
    requests = sum(load["statuses"].values()) + sum(load["errors"].values())
    log(f"under load: {fps_load:.1f} frames/s, {requests} requests, {status_5xx} x 5xx")

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v, 1)

    return {
        "database": "postgresql" if args.database_url else "sqlite",
        "clients": args.clients,
        "seconds": round(load_s, 1),
        "path": args.path,
        "requests": requests,
        "requests_per_s": round(requests / load_s, 1),
        "status_counts": {str(k): v for k, v in sorted(load["statuses"].items())},
        "status_5xx": status_5xx,
        "transport_errors": load["errors"],
        "unfinished_readers": load["unfinished"],
        "latency_ms": {"p50": ms(percentile(lat, 50)), "p95": ms(percentile(lat, 95)),
                       "p99": ms(percentile(lat, 99)), "max": ms(lat[-1] if lat else None)},
        "cpu_cores_under_load": cpu_cores,
        "server_cpu_ms_per_request": (round(cpu_cores["server"] * load_s * 1000 / requests, 2)
                                      if requests else None),
        "camera_fps_alone": round(fps_alone, 2),
        "camera_fps_under_load": round(fps_load, 2),
        "camera_fps_ratio": round(fps_load / fps_alone, 3) if fps_alone > 0 else None,
        "alerts_alone": int(alerts_alone),
        "alone_seconds": round(alone_s, 1),
        "alerts_during_load": int(a1 - a0),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50, help="concurrent readers (default 50)")
    p.add_argument("--seconds", type=float, default=60.0,
                   help="how long the readers run (default 60)")
    p.add_argument("--alone-seconds", type=float, default=20.0,
                   help="how long the camera is measured alone first (default 20)")
    p.add_argument("--warmup-seconds", type=float, default=5.0,
                   help="pause between the camera's first frames and measuring (default 5)")
    p.add_argument("--path", default="/api/alerts", help="what the readers GET")
    p.add_argument("--database-url", default=None,
                   help="run the server on this database instead of a temporary SQLite file, "
                        "e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test")
    p.add_argument("--reset", action="store_true",
                   help="with --database-url: drop every OpenLFR table there first")
    p.add_argument("--startup-timeout", type=float, default=300.0,
                   help="seconds allowed for the demo to seed and its camera to start")
    p.add_argument("--keep", action="store_true", help="keep the temporary data folder")
    args = p.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.alone_seconds <= 0:
        p.error("--clients, --seconds and --alone-seconds must be positive")
    if args.database_url and not args.database_url.startswith(("postgresql", "sqlite")):
        p.error("--database-url: sqlite:///... or postgresql+psycopg://...")
    if args.database_url and "127.0.0.1" not in args.database_url and \
            "localhost" not in args.database_url and not args.database_url.startswith("sqlite"):
        p.error("--database-url: loopback only (127.0.0.1)")
    try:
        result = run(args)
    except RuntimeError as exc:
        log(f"failed: {exc}")
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
