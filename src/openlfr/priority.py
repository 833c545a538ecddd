"""Per-thread CPU priority: lower the calling thread, never raise it.

Linux sets scheduling priorities per thread (``setpriority(PRIO_PROCESS, tid)``), and a
thread inherits the priority of the thread that creates it. Elsewhere lowering is a no-op,
said once in the log. Raising a priority needs privileges, lowering never does, so this
cannot fail for want of rights; a refusal is logged and ignored. Two users:
:mod:`openlfr.api.priority` (request threads below analysis) and a camera process of a node
with a shared inference service (its analysis thread below the service, its decoder not).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

__all__ = ["lower_this_thread", "thread_nice"]

log = logging.getLogger(__name__)

_state = threading.local()
_SUPPORTED = sys.platform.startswith("linux")
_warned = False


def thread_nice(tid: int | None = None) -> int:
    """The nice value of thread ``tid`` (default: the calling thread); Linux only."""
    return os.getpriority(os.PRIO_PROCESS, tid if tid is not None else threading.get_native_id())


def lower_this_thread(nice: int, *, who: str = "threads") -> None:
    """Run the calling thread at nice ``nice`` at least (never raises its priority). Cheap
    after the first call in a thread, so code on a hot path may call it every time. ``who``
    names the threads in the log."""
    global _warned
    if getattr(_state, "nice", None) == nice:
        return
    _state.nice = nice
    if nice <= 0:
        return
    if not _SUPPORTED:
        if not _warned:
            _warned = True
            log.info("%s keep their priority: per-thread nice is Linux only", who)
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, nice))
    except OSError as exc:  # e.g. a seccomp profile that forbids it
        log.warning("cannot lower the priority of %s: %s", who, exc)
