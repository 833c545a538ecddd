"""The node's side of its inference service: start it before the cameras, restart it when it
dies, stop it last, and own the cameras' shared-memory segments.

    service = InferenceService(InferenceConfig(mode="shared")).start()
    segment = service.new_segment()            # one per camera process
    payload["inference"] = service.client_spec(segment)
    ...
    service.check()                            # every tick: restarts a dead service
    service.release(segment)                   # the camera process is gone
    service.stop()                             # unlinks every segment left

The socket lives in a private temporary folder (mode 0700) and every connection proves the
node's random key, so no other process on the machine can submit work or read results.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from openlfr.inference.config import InferenceConfig
from openlfr.inference.service import service_main
from openlfr.inference.shm import Segment

__all__ = ["InferenceService"]

log = logging.getLogger(__name__)


class InferenceService:
    """One inference service process, supervised."""

    def __init__(self, config: InferenceConfig, *, log_level: str = "INFO",
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._monotonic = monotonic
        self._dir = tempfile.mkdtemp(prefix="openlfr-inference-")
        self.address = os.path.join(self._dir, "service.sock")
        self._authkey = secrets.token_bytes(32)
        self._options = {"max_batch": config.max_batch, "max_wait_ms": config.max_wait_ms,
                         "threads": config.threads, "workers": config.workers,
                         "log_level": log_level}
        self._segments: dict[str, Segment] = {}
        self.proc: Any = None
        self._control: Any = None
        self.restarts = 0
        self._backoff = 1.0
        self._next_start = 0.0
        self.error: str | None = None

    # --- the process --------------------------------------------------------------------
    def _spawn(self) -> None:
        ctx = mp.get_context("spawn")
        self._control, child = ctx.Pipe()
        self.proc = ctx.Process(target=service_main, name="inference-service",
                                args=(self.address, self._authkey, child, self._options))
        self.proc.start()
        child.close()

    def start(self, timeout: float = 60.0) -> InferenceService:
        """Start the service and wait until it listens."""
        self._spawn()
        if not self._control.poll(timeout):
            self.stop()
            raise RuntimeError(f"the inference service did not start within {timeout:g} s")
        try:
            self._control.recv()
        except EOFError:
            code = self.proc.exitcode
            self.stop()
            raise RuntimeError(f"the inference service exited at start (code {code})") from None
        log.info("inference service: pid %s, batches of up to %d, waiting up to %g ms",
                 self.proc.pid, self.config.max_batch, self.config.max_wait_ms)
        return self

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def check(self) -> bool:
        """Restart a dead service (with backoff 1, 2, 4 ... 30 s); True while it runs."""
        if self.alive or self.proc is None:
            return self.alive
        now = self._monotonic()
        if self.error is None:  # first seen dead
            self.error = f"inference service exited (code {self.proc.exitcode})"
            self._next_start = now
        if now < self._next_start:
            return False
        self.restarts += 1
        log.error("node: %s: restart %d (cameras wait up to %g s, then skip frames)",
                  self.error, self.restarts, self.config.timeout_s)
        self._control.close()
        self._spawn()  # cameras reconnect by themselves
        self._next_start = now + self._backoff
        self._backoff = min(30.0, self._backoff * 2)
        self.error = None
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process (after the cameras), unlink every segment, remove the socket."""
        if self.proc is not None:
            try:
                self._control.send({"stop": True})
            except (OSError, EOFError):
                pass
            self.proc.join(timeout)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(3)
            self._control.close()
        for name in list(self._segments):
            self.release(name)
        shutil.rmtree(self._dir, ignore_errors=True)

    # --- the cameras' segments ----------------------------------------------------------
    def new_segment(self) -> str:
        seg = Segment.create(int(self.config.segment_mb * 2**20), tag="cam_")
        self._segments[seg.name] = seg
        return seg.name

    def release(self, name: str) -> None:
        seg = self._segments.pop(name, None)
        if seg is not None:
            seg.unlink()

    @property
    def segments(self) -> list[str]:
        return list(self._segments)

    def client_spec(self, segment: str) -> dict[str, Any]:
        """What a camera process needs to use the service (kept in memory only)."""
        return {"address": self.address, "authkey": self._authkey.hex(), "segment": segment,
                "timeout_s": self.config.timeout_s, "nice": self.config.camera_nice}

    def status(self) -> dict[str, Any]:
        """The fields of :class:`openlfr.fleet.health.InferenceStatus`: for the node's report."""
        return {"running": self.alive, "pid": self.pid if self.alive else None,
                "restarts": self.restarts, "error": self.error, "cameras": len(self._segments),
                "max_batch": self.config.max_batch, "max_wait_ms": self.config.max_wait_ms,
                "workers": self.config.workers}

    def kill(self) -> None:
        """Kill the process (tests: a crash)."""
        if self.alive:
            self.proc.kill()
            self.proc.join(3)
