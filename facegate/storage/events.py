"""The event outbox (``EventOutbox``, part of every ``GalleryStore``): events as they happened,
and per sink whether each was delivered (docs/operations.md, Events).

An event is written, with one delivery row per sink that wants it, in one transaction before
anyone delivers it. The deliverer of a sink holds ``sink_lock(sink)`` while it works (on
PostgreSQL a session advisory lock, so of several replicas one delivers a sink's events at a
time), reads that sink's undelivered events in outbox order (``seq``) and records each attempt.
A failed event stays at the head: that sink's later events wait behind it, so a sink sees
events in the order they were written. Times are epoch seconds.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

#: ``pending``: not delivered yet (``attempts`` > 0: it failed that often); ``delivered``.
DeliveryStatus = Literal["pending", "delivered"]
#: Delivery log filters: ``failed`` is a pending delivery that has failed at least once.
DELIVERY_FILTERS = ("pending", "delivered", "failed")


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One event as stored; ``seq`` is its place in the outbox (0 until written)."""

    id: str
    type: str
    time: float
    camera: str | None
    request_id: str | None
    data: dict[str, Any] = field(default_factory=dict)
    snapshot: bytes | None = None
    seq: int = 0


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event's delivery to one sink: its state and its last attempt."""

    event: OutboxEvent
    sink: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    delivered_at: float | None = None
    last_attempt_at: float | None = None
    #: The last attempt's outcome: an HTTP status, ``ok``, or why it failed.
    last_result: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt's outcome, for ``record_attempts``."""

    event_seq: int
    now: float
    delivered: bool
    result: str
    next_attempt_at: float


class EventOutbox(Protocol):
    def add_events(self, events: Sequence[tuple[OutboxEvent, Sequence[str]]], *,
                   now: float) -> None:
        """Write events, each with a pending delivery for each of its sinks, in one
        transaction, in the given order (their ``seq`` grows in commit order)."""
        ...

    def sink_lock(self, sink: str) -> AbstractContextManager[bool]:
        """Try to become ``sink``'s one deliverer among every process on this store: yields
        True when this caller holds it until the block ends, False when another holds it."""
        ...

    def pending_deliveries(self, sink: str, *, limit: int) -> list[Delivery]:
        """``sink``'s first ``limit`` undelivered events, in outbox order."""
        ...

    def record_attempts(self, sink: str, attempts: Sequence[Attempt]) -> None:
        """Attempts' outcomes, in one transaction; a delivered row stays delivered."""
        ...

    def deliveries(self, *, sink: str | None = None, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[Delivery], int]:
        """The delivery log, newest event first, and how many match."""
        ...

    def outbox_backlog(self, sinks: Sequence[str]) -> int:
        """Events not yet delivered to every one of ``sinks`` that wants them."""
        ...

    def purge_events(self, *, before: float, sinks: Sequence[str]) -> int:
        """Delete events written before ``before`` that no sink of ``sinks`` still waits for;
        returns how many."""
        ...


class LocalSinkLocks:
    """``sink_lock`` within one process (memory and SQLite stores): one lock per sink name,
    tried without waiting (the retention job's ``retention_lock`` is one too)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, sink: str) -> Iterator[bool]:
        with self._guard:
            lock = self._locks.setdefault(sink, threading.Lock())
        mine = lock.acquire(blocking=False)
        try:
            yield mine
        finally:
            if mine:
                lock.release()


def matches(delivery: Delivery, *, sink: str | None, status: str | None) -> bool:
    """Whether a delivery passes the log's filters (memory store; the SQL says the same)."""
    if sink is not None and delivery.sink != sink:
        return False
    if status == "failed":
        return delivery.status == "pending" and delivery.attempts > 0
    return status is None or delivery.status == status


class MemoryEvents:
    """``EventOutbox`` in process memory, for ``MemoryStore``."""

    def __init__(self) -> None:
        self._events_lock = threading.RLock()
        self._seq = itertools.count(1)
        self._outbox: dict[int, OutboxEvent] = {}
        self._deliveries: dict[tuple[str, int], Delivery] = {}
        self._sink_locks = LocalSinkLocks()

    def add_events(self, events: Sequence[tuple[OutboxEvent, Sequence[str]]], *,
                   now: float) -> None:
        with self._events_lock:
            for event, sinks in events:
                stored = replace(event, seq=next(self._seq), data=dict(event.data))
                self._outbox[stored.seq] = stored
                for sink in sinks:
                    self._deliveries[(sink, stored.seq)] = Delivery(
                        stored, sink, "pending", 0, now)

    def sink_lock(self, sink: str) -> AbstractContextManager[bool]:
        return self._sink_locks.hold(sink)

    def pending_deliveries(self, sink: str, *, limit: int) -> list[Delivery]:
        with self._events_lock:
            rows = [d for (name, _), d in self._deliveries.items()
                    if name == sink and d.status == "pending"]
            return sorted(rows, key=lambda d: d.event.seq)[:limit]

    def record_attempts(self, sink: str, attempts: Sequence[Attempt]) -> None:
        with self._events_lock:
            for attempt in attempts:
                current = self._deliveries.get((sink, attempt.event_seq))
                if current is None or current.status == "delivered":
                    continue
                self._deliveries[(sink, attempt.event_seq)] = replace(
                    current, status="delivered" if attempt.delivered else "pending",
                    attempts=current.attempts + 1, next_attempt_at=attempt.next_attempt_at,
                    delivered_at=attempt.now if attempt.delivered else None,
                    last_attempt_at=attempt.now, last_result=attempt.result)

    def deliveries(self, *, sink: str | None = None, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[Delivery], int]:
        with self._events_lock:
            rows = [d for d in self._deliveries.values()
                    if matches(d, sink=sink, status=status)]
        rows.sort(key=lambda d: (-d.event.seq, d.sink))
        return rows[offset:offset + limit], len(rows)

    def outbox_backlog(self, sinks: Sequence[str]) -> int:
        with self._events_lock:
            return len({seq for (name, seq), d in self._deliveries.items()
                        if name in sinks and d.status == "pending"})

    def purge_events(self, *, before: float, sinks: Sequence[str]) -> int:
        with self._events_lock:
            waiting = {seq for (name, seq), d in self._deliveries.items()
                       if name in sinks and d.status == "pending"}
            gone = [seq for seq, e in self._outbox.items() if e.time < before
                    and seq not in waiting]
            for seq in gone:
                del self._outbox[seq]
            self._deliveries = {k: d for k, d in self._deliveries.items() if k[1] not in gone}
            return len(gone)
