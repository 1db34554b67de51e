"""The deliverer: background threads that hand the outbox's events to the sinks, at least once.

One thread per sink. Each pass it takes the sink's lock in the store (``sink_lock``: of several
replicas on one PostgreSQL, one delivers a given sink at a time), reads the sink's undelivered
events in outbox order and delivers them one by one; the first failure is recorded with the
next attempt's time (``first_retry_s``, doubling up to ``max_retry_s``) and ends the pass, so
that sink's later events wait behind it: order per sink, and so per camera, holds. An event
is marked delivered only after the sink acknowledged it; a crash between the two delivers it
again (at least once). A restart finds the pending rows in the store and goes on. Threads wake
when this process writes an event (``wake``) and otherwise poll every ``poll_s`` for other
replicas' events; delivered events older than ``retention_hours`` are purged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from facegate.events.types import DeliveryError, Event, Sink
from facegate.storage.base import GalleryStore
from facegate.storage.events import Attempt, Delivery, OutboxEvent

logger = logging.getLogger(__name__)

#: Events read per pass and sink.
BATCH = 50
#: After a wake, wait this long so events written meanwhile are delivered in the same pass:
#: one read, one send of them all (MQTT waits for their acknowledgements together) and one
#: commit. Under load that halves what delivery costs identify (docs/operations.md, "What
#: events cost"); it is what an event waits at most before it leaves.
COALESCE_S = 0.1


def as_event(stored: OutboxEvent) -> Event:
    return Event(id=stored.id, type=stored.type, time=datetime.fromtimestamp(stored.time, UTC),
                 camera=stored.camera, request_id=stored.request_id, data=dict(stored.data),
                 snapshot=stored.snapshot)


def retry_after(attempts: int, *, first_s: float, max_s: float) -> float:
    """Seconds to wait after the ``attempts``-th failure in a row (1, 2, 4 … times first_s)."""
    return float(min(max_s, first_s * 2 ** min(attempts - 1, 40)))


def due_head(pending: list[Delivery], now: float) -> list[Delivery]:
    """The leading rows whose next attempt is due at ``now`` (order per sink holds)."""
    for at, row in enumerate(pending):
        if row.next_attempt_at > now:
            return pending[:at]
    return pending


class Deliverer:
    def __init__(self, store: GalleryStore, sinks: list[Sink], *, first_retry_s: float,
                 max_retry_s: float, retention_s: float, poll_s: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._store, self._sinks = store, sinks
        self._first_s, self._max_s = first_retry_s, max_retry_s
        self._retention_s, self._poll_s, self._clock = retention_s, poll_s, clock
        self._wakes = {sink.name: threading.Event() for sink in sinks}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self._counts_lock = threading.Lock()
        self._purged_at = 0.0

    def start(self) -> None:
        for sink in self._sinks:
            thread = threading.Thread(target=self._run, args=(sink,), daemon=True,
                                      name=f"facegate-events-{sink.name}")
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        for flag in self._wakes.values():
            flag.set()

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout_s)

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        with self._counts_lock:
            return dict(self._counts)

    def count(self, sink: str, outcome: str, times: int = 1) -> None:
        if times:
            with self._counts_lock:
                self._counts[(sink, outcome)] += times

    def _run(self, sink: Sink) -> None:
        wake = self._wakes[sink.name]
        while not self._stop.is_set():
            wake.clear()  # an event written from now on wakes the wait below
            try:
                wait_s = self.pass_once(sink)
                self._purge()
            except Exception:  # the store is down, or a sink has a bug: try again later
                logger.exception("event delivery to %s failed; retrying", sink.name)
                wait_s = self._poll_s
            if wake.wait(max(0.0, min(wait_s, self._poll_s))):
                # woken by a new event: let the ones written right after it join its batch
                self._stop.wait(COALESCE_S)

    def pass_once(self, sink: Sink) -> float:
        """Deliver what is due for ``sink``; the seconds until its head is due (poll_s when
        nothing waits or another replica holds the sink)."""
        with self._store.sink_lock(sink.name) as mine:
            if not mine:
                return self._poll_s
            while not self._stop.is_set():
                pending = self._store.pending_deliveries(sink.name, limit=BATCH)
                if not pending:
                    return self._poll_s
                now = self._clock()
                due = due_head(pending, now)
                if not due:
                    return pending[0].next_attempt_at - now
                # a kill before the attempts are recorded delivers the batch again: at least once
                attempts = self._attempts(sink, due)
                self._store.record_attempts(sink.name, attempts)
                failed = attempts[-1]
                if not failed.delivered:
                    return failed.next_attempt_at - failed.now
                if len(due) < len(pending):
                    return pending[len(due)].next_attempt_at - self._clock()
                if len(pending) < BATCH:
                    return self._poll_s  # that was all: no second read to find nothing
        return 0.0

    def _attempts(self, sink: Sink, rows: list[Delivery]) -> list[Attempt]:
        """Hand ``rows`` to the sink in one call (MQTT sends them all before waiting for the
        acknowledgements); an attempt per delivered event, and one for the first failure."""
        try:
            delivered, error = sink.deliver_many([as_event(row.event) for row in rows])
        except Exception as exc:  # a sink's bug: the head's retry, like any failure
            delivered, error = 0, exc
        if delivered < len(rows) and error is None:
            error = DeliveryError("the sink stopped before the end of the batch")
        now = self._clock()
        result = getattr(sink, "last_result", None) or "ok"
        attempts = [Attempt(row.event.seq, now, True, result, now) for row in rows[:delivered]]
        self.count(sink.name, "delivered", delivered)
        if error is not None:
            row = rows[delivered]
            reason = str(error) if isinstance(error, DeliveryError) else type(error).__name__
            wait_s = retry_after(row.attempts + 1, first_s=self._first_s, max_s=self._max_s)
            self.count(sink.name, "failed")
            logger.warning("event %s to %s failed (attempt %d, next in %.1f s): %s",
                           row.event.type, sink.name, row.attempts + 1, wait_s, reason)
            attempts.append(Attempt(row.event.seq, now, False, reason or "failed", now + wait_s))
        return attempts

    def _purge(self) -> None:
        now = self._clock()
        with self._counts_lock:
            if now - self._purged_at < 60.0:
                return
            self._purged_at = now
        gone = self._store.purge_events(before=now - self._retention_s,
                                        sinks=[s.name for s in self._sinks])
        if gone:
            logger.info("purged %d delivered events older than %.0f h", gone,
                        self._retention_s / 3600)
