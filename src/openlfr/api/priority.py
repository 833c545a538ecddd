"""Analysis outranks reads: the threads that answer HTTP requests run at a lower CPU priority.

A server that also runs cameras (the local node, ``make demo``, a small site on one box) must
never let its readers starve the analysis: a camera that falls behind misses faces, and a
console that answers a little later misses nothing. So the server lowers the scheduling
priority of the threads that do request work, the event-loop thread and the worker threads
that run route code, by :data:`REQUEST_NICE` (``openlfr serve --request-nice N``; 0 leaves
them alone), while the camera processes, the centre's alert path and the outbox keep the
normal priority: they are started before the event-loop thread is lowered, from threads that
never serve requests, and a thread inherits the priority of the thread that creates it.

Linux sets priorities per thread (``setpriority(PRIO_PROCESS, tid)``); elsewhere this is a
no-op, said once in the log. Raising a priority needs privileges, lowering never does, so
this cannot fail for want of rights; a refusal is logged and ignored.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

__all__ = ["REQUEST_NICE", "lower_this_thread", "thread_nice"]

log = logging.getLogger(__name__)

#: How much less CPU priority request threads get than analysis (a nice value, 0-19).
REQUEST_NICE = 10

_state = threading.local()
_SUPPORTED = sys.platform.startswith("linux")
_warned = False


def thread_nice(tid: int | None = None) -> int:
    """The nice value of thread ``tid`` (default: the calling thread); Linux only."""
    return os.getpriority(os.PRIO_PROCESS, tid if tid is not None else threading.get_native_id())


def lower_this_thread(nice: int = REQUEST_NICE) -> None:
    """Run the calling thread at nice ``nice`` at least (never raises its priority). Cheap
    after the first call in a thread, so request code may call it every time."""
    global _warned
    if getattr(_state, "nice", None) == nice:
        return
    _state.nice = nice
    if nice <= 0:
        return
    if not _SUPPORTED:
        if not _warned:
            _warned = True
            log.info("request threads keep their priority: per-thread nice is Linux only")
        return
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < nice:
            os.setpriority(os.PRIO_PROCESS, tid, min(19, nice))
    except OSError as exc:  # e.g. a seccomp profile that forbids it
        log.warning("cannot lower the priority of a request thread: %s", exc)
