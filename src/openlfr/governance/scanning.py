"""Where and when a deployment may scan: the pure per-frame check (:func:`scan_refusal`,
:func:`may_scan`), a detached :class:`ScanGuard` and the self-refreshing
:class:`LiveScanGuard` the cameras run with. Only ``active`` scans, and only inside the time
window, on the deployment's cameras. Re-exported by :mod:`openlfr.governance.deployments`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from openlfr.errors import NotFound
from openlfr.store.db import read_without_lock, store_busy
from openlfr.store.models import Deployment, DeploymentStatus

__all__ = ["ScanWindow", "scan_refusal", "may_scan", "ScanGuard", "LiveScanGuard"]

S = DeploymentStatus
log = logging.getLogger("openlfr.governance.deployments")


class ScanWindow(Protocol):
    @property
    def status(self) -> DeploymentStatus: ...
    @property
    def window_start(self) -> datetime: ...
    @property
    def window_end(self) -> datetime: ...
    @property
    def camera_ids(self) -> Collection[str]: ...


def scan_refusal(deployment: ScanWindow, camera_id: str, now: datetime) -> str | None:
    """Pure: why scanning is refused, or None when it is allowed."""
    if deployment.status != S.ACTIVE:
        return f"deployment is {deployment.status.value}, not active"
    if now < deployment.window_start:
        return f"before the window (opens {deployment.window_start.isoformat()})"
    if now >= deployment.window_end:
        return f"after the window (closed {deployment.window_end.isoformat()})"
    if camera_id not in deployment.camera_ids:
        return f"camera {camera_id!r} is not part of this deployment"
    return None


def may_scan(deployment: ScanWindow, camera_id: str, now: datetime) -> bool:
    """Pure: is analysing a frame from ``camera_id`` at ``now`` allowed?"""
    return scan_refusal(deployment, camera_id, now) is None


@dataclass(frozen=True)
class ScanGuard:
    """A cheap per-frame check, detached from the database. The scanner calls
    ``guard.allows(camera_id, now)`` on every frame and reloads the guard
    (``ScanGuard.load``) every few seconds so a stop from the console takes effect."""

    deployment_id: int
    status: DeploymentStatus
    window_start: datetime
    window_end: datetime
    camera_ids: frozenset[str]

    @classmethod
    def of(cls, deployment: Deployment) -> ScanGuard:
        return cls(deployment.id, deployment.status, deployment.window_start,
                   deployment.window_end, frozenset(deployment.camera_ids))

    @classmethod
    def load(cls, session: Session, deployment_id: int) -> ScanGuard:
        dep = session.get(Deployment, deployment_id, populate_existing=True)
        if dep is None:
            raise NotFound(f"no deployment {deployment_id}")
        return cls.of(dep)

    def allows(self, camera_id: str, now: datetime) -> bool:
        return scan_refusal(self, camera_id, now) is None

    def refusal(self, camera_id: str, now: datetime) -> str | None:
        return scan_refusal(self, camera_id, now)

    __call__ = allows


class LiveScanGuard:
    """A :class:`ScanGuard` that reloads itself from the store every ``refresh_s`` seconds,
    so a stop or the window's end from elsewhere takes effect within that time. Callable as
    ``guard(camera_id, now)`` (the pipeline's ``Guard``).

    Fails closed, but tells a refusal from a busy store:

    * a refusal (the deployment is not active, gone, outside its window, or the camera is
      not in it) refuses at once;
    * when the store cannot be read (busy, locked, unreachable) the last state read keeps
      applying, its window end still checked against the clock, for ``grace_s`` seconds
      after the last successful read; after that, or with no state read yet, it refuses
      until the store answers again.

    Its reads never take the SQLite write lock (:func:`~openlfr.store.db.read_without_lock`),
    whichever session factory it is given; a reading one (``Store.read_sessions``) is best.
    """

    def __init__(self, sessions: Callable[[], Session], deployment_id: int, *,
                 refresh_s: float = 2.0, grace_s: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if grace_s < 0 or refresh_s < 0:
            raise ValueError("refresh_s and grace_s must not be negative")
        self._sessions, self.deployment_id = sessions, deployment_id
        self._refresh_s, self.grace_s, self._monotonic = refresh_s, grace_s, monotonic
        self._lock = threading.Lock()
        self._guard: ScanGuard | None = None  # the last state read
        self._loaded_at = float("-inf")  # the last attempt to read it
        self._contact_at = float("-inf")  # the last successful read
        self._gone: str | None = None  # the deployment no longer exists
        self.last_error: str | None = None  # why the last read failed (None: it worked)

    def _read(self) -> ScanGuard:
        with self._sessions() as session:
            return ScanGuard.load(read_without_lock(session), self.deployment_id)

    def _current(self) -> tuple[ScanGuard | None, str | None]:
        """(state to apply, why there is none)."""
        with self._lock:
            t = self._monotonic()
            if t - self._loaded_at >= self._refresh_s:
                self._loaded_at = t
                self._reload(t)
            if self._gone is not None:
                return None, self._gone
            if self._guard is None:
                return None, f"deployment state unavailable ({self.last_error})"
            if self.last_error is not None and t - self._contact_at > self.grace_s:
                return None, (f"deployment state unavailable for over {self.grace_s:g} s "
                              f"({self.last_error})")
            return self._guard, None

    def _reload(self, t: float) -> None:
        try:
            guard = self._read()
        except NotFound as exc:  # a refusal: at once
            self._guard, self._gone, self.last_error = None, str(exc), None
            self._contact_at = t
            log.warning("scan guard for deployment %s refuses: %s", self.deployment_id, exc)
            return
        except Exception as exc:
            self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if not store_busy(exc):  # not the store being busy: trust nothing read before
                self._guard = None
                log.warning("scan guard for deployment %s refuses: %s", self.deployment_id,
                            self.last_error)
            elif t - self._contact_at > self.grace_s:
                log.warning("scan guard for deployment %s refuses: no answer from the store "
                            "for over %g s (%s)", self.deployment_id, self.grace_s,
                            self.last_error)
            else:
                log.info("scan guard for deployment %s: store busy, keeping the last state "
                         "(%s)", self.deployment_id, self.last_error)
            return
        self._guard, self._gone, self.last_error, self._contact_at = guard, None, None, t

    def allows(self, camera_id: str, now: datetime) -> bool:
        guard, _ = self._current()
        return guard is not None and guard.allows(camera_id, now)

    def refusal(self, camera_id: str, now: datetime) -> str | None:
        guard, why = self._current()
        if guard is None:
            return why
        return guard.refusal(camera_id, now)

    __call__ = allows
