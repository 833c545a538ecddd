"""Analysis outranks reads: the threads that answer HTTP requests run at a lower CPU priority.

A server that also runs cameras (the local node, ``make demo``, a small site on one box) must
never let its readers starve the analysis: a camera that falls behind misses faces, and a
console that answers a little later misses nothing. So the server lowers the scheduling
priority of the threads that do request work, the event-loop thread and the worker threads
that run route code, by :data:`REQUEST_NICE` (``openlfr serve --request-nice N``; 0 leaves
them alone), while the camera processes, the centre's alert path and the outbox keep the
normal priority: they are started before the event-loop thread is lowered, from threads that
never serve requests, and a thread inherits the priority of the thread that creates it.

The per-thread mechanism (Linux only; a no-op elsewhere) is :mod:`openlfr.priority`.
"""

from __future__ import annotations

from openlfr.priority import lower_this_thread as _lower
from openlfr.priority import thread_nice

__all__ = ["REQUEST_NICE", "lower_this_thread", "thread_nice"]

#: How much less CPU priority request threads get than analysis (a nice value, 0-19).
REQUEST_NICE = 10


def lower_this_thread(nice: int = REQUEST_NICE) -> None:
    """Run the calling request thread at nice ``nice`` at least (never raises its
    priority). Cheap after the first call in a thread, so request code may call it every
    time."""
    _lower(nice, who="request threads")
