"""Delivers the store's sink outbox (``alert_deliveries``) to the sinks, at least once.

:class:`OutboxDelivery` runs one background thread per configured sink (a sink that is down
or slow never delays another). Each pass claims that sink's due ``pending`` rows in a short
transaction, sends each alert with no transaction open, and records the outcome:
``delivered``; a retry after an exponential backoff capped at ``backoff_max_s`` (default
5 s, so a backlog goes out within seconds of a broker coming back); or ``failed`` (given up,
logged at ERROR) after ``max_attempts`` or ``max_age``, or at once when the receiver refuses
the alert for good (:class:`~openlfr.alerts.sinks.DeliveryRefused`). When a send fails, the
rest of that batch is handed back without counting an attempt and the sink is tried again
with its first row.

The alert each sink gets is rebuilt from the store
(:func:`openlfr.governance.outbox.alert_for_sink`): its ``alert_id`` is the camera's id (a
webhook sends it as the ``Idempotency-Key``), and the probe crop is decrypted only for a
sink with ``include_probe``. A row naming a sink this process does not have (the config
changed) stays pending and shows in :meth:`OutboxDelivery.stats`.

Policy and store functions live in :mod:`openlfr.governance.outbox`; this module only
schedules, sends and logs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from openlfr.alerts.sinks import AlertSink, DeliveryRefused
from openlfr.errors import ConfigError, OpenLFRError
from openlfr.governance import outbox as O
from openlfr.governance.crypto import Keyring
from openlfr.store.db import session_scope

__all__ = ["OutboxDelivery"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxDelivery:
    """Works off the outbox for ``sinks`` (name as written in ``alert_deliveries.sink`` ->
    sink). ``clock`` gives aware UTC datetimes (injected in tests). The sinks are closed by
    :meth:`stop`."""

    def __init__(self, sessions: sessionmaker[Session], sinks: Mapping[str, AlertSink], *,
                 keyring: Keyring | None = None, max_attempts: int | None = None,
                 max_age: timedelta = timedelta(hours=24), backoff_s: float = 0.25,
                 backoff_max_s: float = 5.0, batch: int = 20,
                 lease: timedelta = timedelta(seconds=60), poll_s: float = 1.0,
                 clock: Callable[[], datetime] = _utcnow,
                 read_sessions: sessionmaker[Session] | None = None) -> None:
        if batch < 1:
            raise ConfigError("batch must be at least 1")
        self.policy = O.RetryPolicy(max_attempts=max_attempts, max_age=max_age,
                                    backoff_s=backoff_s, backoff_max_s=backoff_max_s)
        self._sessions, self._sinks = sessions, dict(sinks)
        self._read = read_sessions or sessions
        self._keyring, self._clock = keyring, clock
        self.batch, self.lease, self.poll_s = batch, lease, poll_s
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self._sinks}
        self._threads: list[threading.Thread] = []

    # --- control ------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for name in self._sinks:
            t = threading.Thread(target=self._lane, args=(name,), name=f"outbox:{name}",
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self) -> None:
        """Deliver now what is due (call after committing a new alert)."""
        for ev in self._wake.values():
            ev.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads (a send in progress finishes or times out) and close the sinks.
        Undelivered rows stay pending for the next start."""
        self._stop.set()
        self.wake()
        per = timeout / max(len(self._threads), 1)
        for t in self._threads:
            t.join(per)
        self._threads.clear()
        for sink in self._sinks.values():
            try:
                sink.close()
            except Exception as exc:  # closing is best effort
                log.warning("outbox: closing sink %s failed: %s", sink.name, O.short_error(exc))

    def run_once(self) -> int:
        """One pass over every sink in this thread; returns the attempts made."""
        return sum(self._pass(name) for name in self._sinks)

    # --- reading --------------------------------------------------------------------------

    def stats(self) -> dict[str, dict[str, int]]:
        """Per sink: ``pending``, ``delivered``, ``failed``, ``retries`` from the table, and
        ``configured`` (0 for a sink named in rows that this process does not have)."""
        with session_scope(self._read) as s:
            rows = O.delivery_stats(s)
        out: dict[str, dict[str, int]] = {}
        for name in sorted(set(rows) | set(self._sinks)):
            d = rows.get(name, {"pending": 0, "delivered": 0, "failed": 0, "retries": 0})
            out[name] = d | {"configured": int(name in self._sinks)}
        return out

    def failed(self, limit: int = 100) -> list[O.FailedDelivery]:
        """The given-up deliveries, most recent first."""
        with session_scope(self._read) as s:
            return O.failed_deliveries(s, limit)

    # --- work -------------------------------------------------------------------------------

    def _lane(self, name: str) -> None:
        wake = self._wake[name]
        while not self._stop.is_set():
            wake.clear()
            try:
                n = self._pass(name)
                wait = 0.0 if n >= self.batch else self._wait_s(name)
            except Exception as exc:  # the database may be briefly unavailable: keep going
                log.error("outbox: sink %s: pass failed: %s", name, O.short_error(exc))
                wait = self.poll_s
            if wait > 0:
                wake.wait(wait)

    def _wait_s(self, name: str) -> float:
        with session_scope(self._read) as s:
            due = O.next_due(s, [name])
        if due is None:
            return self.poll_s
        return min(self.poll_s, max(0.01, (due - self._clock()).total_seconds()))

    def _pass(self, name: str) -> int:
        sink = self._sinks[name]
        with session_scope(self._sessions) as s:
            claims = O.claim_due(s, name, self._clock(), limit=self.batch, lease=self.lease)
        for i, claim in enumerate(claims):
            retry_at = self._deliver(sink, claim)
            if retry_at is not None:  # the sink failed: the rest waits for its next try
                with session_scope(self._sessions) as s:
                    O.release(s, claims[i + 1:], retry_at)
                return i + 1
            if self._stop.is_set():
                with session_scope(self._sessions) as s:
                    O.release(s, claims[i + 1:], self._clock())
                return i + 1
        return len(claims)

    def _deliver(self, sink: AlertSink, claim: O.Claim) -> datetime | None:
        """Send one claimed delivery and record the outcome; the retry time if it failed
        and will be retried, else None."""
        include = bool(getattr(sink, "include_probe", False))
        try:
            with session_scope(self._sessions) as s:
                alert = O.alert_for_sink(s, claim.alert_id, include_probe=include,
                                         keyring=self._keyring)
        except OpenLFRError as exc:  # e.g. the probe does not decrypt: retrying cannot help
            return self._give_up(sink, claim, exc)
        if alert is None:  # purged by retention; its delivery row went with it
            return None
        try:
            sink.send(alert)
        except DeliveryRefused as exc:
            return self._give_up(sink, claim, exc)
        except Exception as exc:  # any failure of a sink is retried
            now = self._clock()
            if self.policy.gives_up(claim.attempts + 1, claim.created_at, now):
                return self._give_up(sink, claim, exc)
            at = now + timedelta(seconds=self.policy.delay_s(claim.attempts + 1))
            with session_scope(self._sessions) as s:
                O.mark_retry(s, claim, exc, at)
            log.warning("outbox: sink %s: alert %s attempt %d failed (%s); retry at %s",
                        sink.name, alert.alert_id, claim.attempts + 1, O.short_error(exc),
                        at.isoformat())
            return at
        with session_scope(self._sessions) as s:
            O.mark_delivered(s, claim, self._clock())
        return None

    def _give_up(self, sink: AlertSink, claim: O.Claim, exc: BaseException) -> None:
        with session_scope(self._sessions) as s:
            O.mark_failed(s, claim, exc, self._clock())
        log.error("outbox: sink %s: delivery %d of alert %d given up after %d attempt(s): %s",
                  sink.name, claim.id, claim.alert_id, claim.attempts + 1, O.short_error(exc))
