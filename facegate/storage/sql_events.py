"""The event outbox in an SQL gallery (``EventOutbox``, see ``events.py``): the part SQLite and
PostgreSQL share, a mixin over the host's ``_write()`` / ``_read()`` like ``SqlClassifiers``.

``events`` holds each event once (``seq`` its outbox order, JSON ``data`` as text, the optional
snapshot as bytes); ``event_deliveries`` one row per (sink, event) with its state and last
attempt, deleted with its event. On PostgreSQL (``_PG``) writing events takes a transaction
advisory lock first, so ``seq`` grows in commit order across replicas and no replica's
deliverer can pass over an event that commits later with a smaller ``seq``; ``sink_lock`` is a
session advisory lock on a pooled connection (released when the block ends, or by the server
when a killed replica's connection drops). SQLite's lock is the process's own: one server per
SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from facegate.storage.events import Attempt, Delivery, LocalSinkLocks, OutboxEvent
from facegate.storage.sql_host import SqlHost

_TABLES = """
CREATE TABLE IF NOT EXISTS events (
    seq {seq},
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    time DOUBLE PRECISION NOT NULL,
    camera TEXT,
    request_id TEXT,
    data TEXT NOT NULL,
    snapshot {blob}
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE TABLE IF NOT EXISTS event_deliveries (
    sink TEXT NOT NULL,
    event_seq BIGINT NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    delivered_at DOUBLE PRECISION,
    last_attempt_at DOUBLE PRECISION,
    last_result TEXT,
    PRIMARY KEY (sink, event_seq)
);
CREATE INDEX IF NOT EXISTS event_deliveries_event ON event_deliveries (event_seq);
CREATE INDEX IF NOT EXISTS event_deliveries_state ON event_deliveries (sink, status, event_seq);
"""
SQLITE_SCHEMA = _TABLES.format(seq="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB")
POSTGRES_SCHEMA = _TABLES.format(seq="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                                 blob="BYTEA")
#: The advisory locks' first key ("fgev"): the outbox's writers (second key 0) and each
#: sink's deliverer (second key ``hashtext(sink)``).
LOCK_CLASS = 0x66676576

_COLUMNS = ("e.seq, e.id, e.type, e.time, e.camera, e.request_id, e.data, e.snapshot, d.sink, "
            "d.status, d.attempts, d.next_attempt_at, d.delivered_at, d.last_attempt_at, "
            "d.last_result")
_FROM = "FROM event_deliveries d JOIN events e ON e.seq = d.event_seq"


class SqlEvents(SqlHost):
    """``EventOutbox`` for a host store; ``_PG`` says the host is PostgreSQL (``_conn()``
    yields one pooled connection)."""

    def add_events(self, events: Sequence[tuple[OutboxEvent, Sequence[str]]], *,
                   now: float) -> None:
        with self._write() as db:
            if self._PG:
                db.execute(f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, 0)", ())
            for event, sinks in events:
                seq = db.execute(self._q(
                    "INSERT INTO events (id, type, time, camera, request_id, data, snapshot) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING seq"),
                    (event.id, event.type, event.time, event.camera, event.request_id,
                     json.dumps(event.data), event.snapshot)).fetchone()[0]
                for sink in sinks:
                    db.execute(self._q(
                        "INSERT INTO event_deliveries (sink, event_seq, status, attempts, "
                        "next_attempt_at) VALUES (?, ?, 'pending', 0, ?)"), (sink, seq, now))

    def sink_lock(self, sink: str) -> AbstractContextManager[bool]:
        return self._advisory_lock(sink) if self._PG else self._local_lock(sink)

    @contextmanager
    def _advisory_lock(self, sink: str) -> Iterator[bool]:
        with self._conn() as conn:
            mine = bool(conn.execute(self._q(
                f"SELECT pg_try_advisory_lock({LOCK_CLASS}, hashtext(?))"), (sink,)
            ).fetchone()[0])
            try:
                yield mine
            finally:
                if mine:
                    conn.execute(self._q(
                        f"SELECT pg_advisory_unlock({LOCK_CLASS}, hashtext(?))"), (sink,))

    def _local_lock(self, sink: str) -> AbstractContextManager[bool]:
        locks: LocalSinkLocks = self.__dict__.setdefault("_sink_locks", LocalSinkLocks())
        return locks.hold(sink)

    def pending_deliveries(self, sink: str, *, limit: int) -> list[Delivery]:
        rows = self._read(self._q(f"SELECT {_COLUMNS} {_FROM} WHERE d.sink = ? AND "
                                  "d.status = 'pending' ORDER BY d.event_seq LIMIT ?"),
                          (sink, limit))
        return [_delivery(row) for row in rows]

    def record_attempts(self, sink: str, attempts: Sequence[Attempt]) -> None:
        with self._write() as db:
            for a in attempts:
                db.execute(self._q(
                    "UPDATE event_deliveries SET status = ?, attempts = attempts + 1, "
                    "next_attempt_at = ?, delivered_at = ?, last_attempt_at = ?, "
                    "last_result = ? WHERE sink = ? AND event_seq = ? AND status = 'pending'"),
                    ("delivered" if a.delivered else "pending", a.next_attempt_at,
                     a.now if a.delivered else None, a.now, a.result[:500], sink, a.event_seq))

    def deliveries(self, *, sink: str | None = None, status: str | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[Delivery], int]:
        where, args = ["1 = 1"], []
        if sink is not None:
            where.append("d.sink = ?")
            args.append(sink)
        if status == "failed":
            where.append("d.status = 'pending' AND d.attempts > 0")
        elif status is not None:
            where.append("d.status = ?")
            args.append(status)
        clause = " AND ".join(where)
        total = self._read(self._q(f"SELECT COUNT(*) {_FROM} WHERE {clause}"), tuple(args))
        rows = self._read(self._q(f"SELECT {_COLUMNS} {_FROM} WHERE {clause} "
                                  "ORDER BY d.event_seq DESC, d.sink LIMIT ? OFFSET ?"),
                          (*args, limit, offset))
        return [_delivery(row) for row in rows], int(total[0][0])

    def outbox_backlog(self, sinks: Sequence[str]) -> int:
        if not sinks:
            return 0
        marks = ", ".join([self._MARK] * len(sinks))
        rows = self._read(f"SELECT COUNT(DISTINCT event_seq) FROM event_deliveries WHERE "
                          f"status = 'pending' AND sink IN ({marks})", tuple(sinks))
        return int(rows[0][0])

    def purge_events(self, *, before: float, sinks: Sequence[str]) -> int:
        names = tuple(sinks) or ("",)
        marks = ", ".join([self._MARK] * len(names))
        with self._write() as db:  # the deliveries go with their events (ON DELETE CASCADE)
            return db.execute(self._q(f"DELETE FROM events WHERE time < ? AND NOT EXISTS "
                                      f"({_waiting(marks)})"), (before, *names)).rowcount


def _waiting(marks: str) -> str:
    return ("SELECT 1 FROM event_deliveries w WHERE w.event_seq = events.seq AND "
            f"w.status = 'pending' AND w.sink IN ({marks})")


def _delivery(row: tuple[Any, ...]) -> Delivery:
    event = OutboxEvent(id=row[1], type=row[2], time=float(row[3]), camera=row[4],
                        request_id=row[5], data=json.loads(row[6]),
                        snapshot=None if row[7] is None else bytes(row[7]), seq=int(row[0]))
    return Delivery(event=event, sink=row[8], status=row[9], attempts=int(row[10]),
                    next_attempt_at=float(row[11]),
                    delivered_at=None if row[12] is None else float(row[12]),
                    last_attempt_at=None if row[13] is None else float(row[13]),
                    last_result=row[14])
