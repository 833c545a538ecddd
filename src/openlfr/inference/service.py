"""The inference service: one process per node and device holding one copy of each model.

Camera processes connect over a Unix socket (authenticated with the node's key) and send
small JSON messages; tensors stay in each camera's shared-memory segment
(:mod:`openlfr.inference.shm`). Messages:

- ``hello {segment}``: the camera's segment, attached for the life of the connection;
- ``open {kind, config}``: the model a stage needs (``scrfd`` or ``arcface`` with its
  config); opened once per distinct model file and runtime, shared by every camera;
- ``run {seq, model, outputs, input: [offset, shape, dtype]}``: one call of the model; the
  reply gives each output's place in the segment. Requests wait in a :class:`Batcher` and
  run concatenated along the batch axis; every camera gets its own rows back;
- ``stats``: the batches run so far, by model and size.

A request that fails (bad shape, model error) is answered with an error and the service
goes on; the service ends when its node closes the control pipe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, Listener, wait
from typing import Any

import numpy as np

from openlfr.inference.batching import Batcher, Request
from openlfr.inference.shm import Segment, aligned

__all__ = ["ModelHost", "model_key", "serve", "service_main", "MODEL_KINDS"]

log = logging.getLogger(__name__)

#: kind -> (packaged default model, what it is): the ONNX stages the service runs.
MODEL_KINDS = {"scrfd": ("scrfd_500m", "SCRFD detector"),
               "arcface": ("arcface_mbf", "ArcFace embedder")}
#: The config fields that decide which session a stage needs (the rest stays in the camera).
SESSION_FIELDS = ("model_path", "model_sha256", "runtime")
#: The runtime fields that make a different session (threads are the service's own).
RUNTIME_FIELDS = ("provider", "fallback", "precision", "device_id")


def model_key(kind: str, config: dict[str, Any]) -> str:
    """The same key in the camera and the service for one model file and runtime."""
    runtime = config.get("runtime") or {}
    wanted = {"model_path": config.get("model_path"), "model_sha256": config.get("model_sha256"),
              "runtime": {k: runtime.get(k) for k in RUNTIME_FIELDS}}
    text = json.dumps([kind, wanted], sort_keys=True, default=str)
    return f"{kind}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


class ModelHost:
    """The sessions of the service, opened on first use, one per model key."""

    def __init__(self, threads: int | None = None,
                 opener: Callable[[str, dict[str, Any]], tuple[Any, str]] | None = None):
        self.threads = threads or os.cpu_count() or 1
        self._open = opener or self._open_onnx
        self.sessions: dict[str, tuple[Any, str]] = {}

    def _open_onnx(self, kind: str, config: dict[str, Any]) -> tuple[Any, str]:
        from openlfr.vision.detectors import ScrfdConfig
        from openlfr.vision.embedders import ArcFaceConfig
        from openlfr.vision.runtime import open_model

        model = {"scrfd": ScrfdConfig, "arcface": ArcFaceConfig}[kind]
        cfg = model.model_validate({k: config.get(k) for k in SESSION_FIELDS
                                    if config.get(k) is not None})
        # batches of several sizes, two calls at once: no arena keeping each one's peak
        cfg = cfg.model_copy(update={"runtime": cfg.runtime.model_copy(
            update={"intra_op_threads": self.threads, "memory_arena": False})})
        return open_model(cfg, *MODEL_KINDS[kind])

    def open(self, kind: str, config: dict[str, Any]) -> dict[str, Any]:
        if kind not in MODEL_KINDS:
            raise ValueError(f"the inference service runs {', '.join(MODEL_KINDS)}, not "
                             f"{kind!r}")
        key = model_key(kind, config)
        if key not in self.sessions:
            self.sessions[key] = self._open(kind, config)
            log.info("inference service: %s open (%d threads)", key, self.threads)
        session, sha = self.sessions[key]
        return {"model": key, "sha256": sha,
                "inputs": [[i.name, list(i.shape)] for i in session.get_inputs()],
                "outputs": [[o.name, list(o.shape)] for o in session.get_outputs()]}

    def run(self, batch: list[Request], segments: list[Segment]) -> list[dict[str, Any]]:
        """One model call for ``batch`` (in calls of ``chunk`` items when set); each
        request's outputs written after its input in its own segment (``segments``, in the
        batch's order). Returns the replies, in the batch's order."""
        session, _ = self.sessions[batch[0].model]
        inputs = [seg.array(r.offset, r.shape, r.dtype)
                  for r, seg in zip(batch, segments, strict=True)]
        x = inputs[0] if len(inputs) == 1 else np.concatenate(inputs)
        name, names = session.get_inputs()[0].name, list(batch[0].outputs)
        step = batch[0].chunk or len(x)
        parts = [session.run(names, {name: x[i:i + step]}) for i in range(0, len(x), step)]
        outs = parts[0] if len(parts) == 1 else [
            np.concatenate(o) for o in zip(*parts, strict=True)]
        del inputs, x  # no view of a segment outlives the call
        total = sum(r.shape[0] for r in batch)
        if any(out.ndim == 0 or out.shape[0] != total for out in outs):
            raise ValueError(f"{batch[0].model}: an output has no batch axis of {total}")
        replies, start = [], 0
        for r, seg in zip(batch, segments, strict=True):
            n = r.shape[0]
            at, placed = aligned(r.offset + _nbytes(r)), []
            for out in outs:
                placed.append(seg.write(at, out[start:start + n]))
                at = aligned(at + out[start:start + n].nbytes)
            start += n
            replies.append({"seq": r.seq, "outputs": placed})
        return replies


def _nbytes(r: Request) -> int:
    return int(np.prod(r.shape, dtype=np.int64)) * np.dtype(r.dtype).itemsize


class _Clients:
    """Connections accepted by a thread; the loop waits on them and on a wake-up pipe, which
    the accept thread and the batch workers write to. A dropped camera's connection and
    segment are closed only when no batch is running (a worker may still be writing to
    them; closing a socket early could hand its number to a new camera)."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.conns: list[Connection] = []
        self.segments: dict[Connection, Segment] = {}
        self._new: list[Connection] = []
        self._retired: list[tuple[Connection, Segment | None]] = []
        self.busy = 0  # batches running
        self._finished = 0
        self._lock = threading.Lock()
        self.wake_r, self._wake_w = os.pipe()
        threading.Thread(target=self._accept, daemon=True, name="inference:accept").start()

    def _accept(self) -> None:
        while True:
            try:
                conn = self.listener.accept()
            except OSError:  # closed: the service is ending
                return
            except Exception as exc:  # a client that failed the handshake
                log.warning("inference service: connection refused: %s", type(exc).__name__)
                continue
            with self._lock:
                self._new.append(conn)
            os.write(self._wake_w, b"c")

    def finished(self) -> None:
        """A worker's batch is done (called from the worker)."""
        with self._lock:
            self._finished += 1
        os.write(self._wake_w, b"d")

    def woken(self) -> None:
        os.read(self.wake_r, 4096)
        with self._lock:
            self.conns += self._new
            self._new = []
            self.busy -= self._finished
            self._finished = 0
        self._close_retired()

    def _close_retired(self) -> None:
        if self.busy == 0:
            for conn, seg in self._retired:
                if seg is not None:
                    seg.close()
                conn.close()
            self._retired = []

    def drop(self, conn: Connection) -> None:
        if conn in self.conns:
            self.conns.remove(conn)
            self._retired.append((conn, self.segments.pop(conn, None)))
        self._close_retired()

    def close_all(self) -> None:
        """After the workers ended."""
        self.busy = 0
        for conn in list(self.conns):
            self.drop(conn)


def serve(address: str, authkey: bytes, control: Connection, *, max_batch: int,
          max_wait_s: float, host: ModelHost, workers: int = 1) -> None:
    """Answer cameras until ``control`` says stop or closes (its node is gone); up to
    ``workers`` batches run at once (onnxruntime sessions run concurrently)."""
    if os.path.exists(address):
        os.unlink(address)  # a dead predecessor's socket
    listener = Listener(address, family="AF_UNIX", authkey=authkey)
    clients = _Clients(listener)
    batcher = Batcher(max_batch, max_wait_s)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="inference:batch")
    control.send({"ready": os.getpid()})
    try:
        while True:
            timeout = None if clients.busy >= workers else batcher.wait_s(time.monotonic())
            for ready in wait([control, clients.wake_r, *clients.conns], timeout):
                if ready is control:
                    return
                if ready == clients.wake_r:
                    clients.woken()
                    continue
                assert isinstance(ready, Connection)
                _receive(ready, clients, batcher, host)
            # requests that arrive while the workers are busy wait and join larger batches
            while clients.busy < workers and (batch := batcher.take(time.monotonic())):
                batch = [r for r in batch if r.client in clients.segments]  # gone meanwhile
                if batch:
                    clients.busy += 1
                    pool.submit(_run, batch, [clients.segments[r.client] for r in batch],
                                clients, host)
    finally:
        listener.close()
        pool.shutdown(wait=True)
        clients.close_all()


def _receive(conn: Connection, clients: _Clients, batcher: Batcher, host: ModelHost) -> None:
    try:
        msg = json.loads(conn.recv_bytes())
    except (EOFError, OSError, ValueError):  # the camera went away (or spoke nonsense)
        batcher.drop(conn)
        clients.drop(conn)
        return
    op = msg.get("op")
    try:
        if op == "run":
            offset, shape, dtype = msg["input"]
            if conn not in clients.segments:
                raise ValueError("run before hello")
            if msg["model"] not in host.sessions:
                raise ValueError(f"model {msg['model']} is not open")
            batcher.add(Request(conn, int(msg["seq"]), str(msg["model"]),
                                tuple(msg["outputs"]), int(offset),
                                tuple(int(s) for s in shape), str(dtype), time.monotonic(),
                                int(msg.get("chunk") or 0)))
            return
        if op == "hello":
            clients.segments[conn] = Segment.attach(str(msg["segment"]))
            reply: dict[str, Any] = {"pid": os.getpid()}
        elif op == "open":
            reply = host.open(str(msg["kind"]), dict(msg["config"]))
        elif op == "stats":
            reply = {"batches": [[m, n, c] for (m, n), c in sorted(batcher.sizes.items())]}
        else:
            raise ValueError(f"unknown op {op!r}")
    except Exception as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}"}
        if op == "run":
            reply["seq"] = msg.get("seq")
    _reply(conn, reply)


def _run(batch: list[Request], segments: list[Segment], clients: _Clients,
         host: ModelHost) -> None:
    """A worker: one batch, its replies, then wake the loop."""
    try:
        replies = host.run(batch, segments)
    except Exception as exc:  # answered to every camera in the batch; the service goes on
        log.warning("inference service: %s batch of %d failed: %s", batch[0].model,
                    len(batch), exc)
        replies = [{"seq": r.seq, "error": f"{type(exc).__name__}: {exc}"} for r in batch]
    for r, reply in zip(batch, replies, strict=True):
        _reply(r.client, reply)
    clients.finished()


def _reply(conn: Connection, reply: dict[str, Any]) -> None:
    try:
        conn.send_bytes(json.dumps(reply).encode())
    except (OSError, EOFError):  # gone: the loop sees it on its next read
        pass


def service_main(address: str, authkey: bytes, control: Connection,
                 options: dict[str, Any]) -> None:
    """Entry point of the service process (``multiprocessing`` spawn)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the node decides when the service ends
    logging.basicConfig(level=options.get("log_level", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workers = int(options.get("workers") or 1)
    threads = options.get("threads") or max(1, (os.cpu_count() or 1) // workers)
    host = ModelHost(threads)
    serve(address, authkey, control, max_batch=int(options["max_batch"]),
          max_wait_s=float(options["max_wait_ms"]) / 1000.0, host=host, workers=workers)
