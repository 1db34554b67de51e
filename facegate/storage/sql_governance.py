"""Governance in an SQL gallery (docs/governance.md): the identities' ``consent`` and
``expires_at`` columns, the retention job's coordination, and what follows an erasure.

The columns: SQLite adds them to ``identities`` at open (``add_sqlite_columns``, idempotent);
PostgreSQL in a migration (``POSTGRES_MIGRATION``). ``retention_runs`` holds when each periodic
job last ran: ``claim_retention`` moves it forward only when the period is over, in one
conditional ``UPDATE``, so of many replicas one wins each period; on PostgreSQL the run also
holds a session advisory lock (``retention_lock``), so a slow run is never overlapped by the
next. After an erasure SQLite checkpoints and truncates its write-ahead log (``secure_delete``
has zeroed the freed pages) and PostgreSQL ``VACUUM``s the touched tables.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

from facegate.storage.audit import text_time
from facegate.storage.events import LocalSinkLocks
from facegate.storage.identity_links import IDENTITY_TABLES
from facegate.storage.sql_events import _waiting as waiting
from facegate.storage.sql_host import SqlHost

logger = logging.getLogger(__name__)

RETENTION_SCHEMA = """
CREATE TABLE IF NOT EXISTS retention_runs (
    name TEXT PRIMARY KEY,
    last_run DOUBLE PRECISION NOT NULL
);
"""
POSTGRES_MIGRATION = """
ALTER TABLE identities ADD COLUMN IF NOT EXISTS consent JSONB;
ALTER TABLE identities ADD COLUMN IF NOT EXISTS expires_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS identities_expiry ON identities (expires_at)
    WHERE expires_at IS NOT NULL;
""" + RETENTION_SCHEMA
#: The advisory lock of the retention job: ("fgrt", 0).
LOCK_CLASS = 0x66677274
#: Tables an identity's erasure deletes from (and PostgreSQL vacuums after it).
ERASED_TABLES = ("faces", "identities", "events", "event_deliveries", "face_changes",
                 "classifiers", *(link.table for link in IDENTITY_TABLES))


def add_sqlite_columns(db: sqlite3.Connection) -> None:
    """Add ``consent`` (JSON text) and ``expires_at`` (ISO text) to ``identities`` if missing."""
    have = {row[1] for row in db.execute("PRAGMA table_info(identities)")}
    for column in ("consent", "expires_at"):
        if column not in have:
            db.execute(f"ALTER TABLE identities ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS identities_expiry ON identities (expires_at) "
               "WHERE expires_at IS NOT NULL")
    db.execute(RETENTION_SCHEMA)


class SqlRetention(SqlHost):
    """The retention job's store side for a host with ``_write``/``_read``/``_conn``."""

    def expired_identities(self, before: datetime, *, limit: int = 1000) -> list[str]:
        """Ids of identities whose ``expires_at`` is before ``before``, soonest first."""
        when: Any = text_time(before) if self._TEXT_TIMES else before
        rows = self._read(f"SELECT id FROM identities WHERE expires_at IS NOT NULL AND "
                          f"expires_at < {self._MARK} ORDER BY expires_at, id LIMIT {self._MARK}",
                          (when, limit))
        return [str(row[0]) for row in rows]

    def purgeable_events(self, *, before: float, sinks: Sequence[str]) -> int:
        """How many events ``purge_events`` would delete now (a dry run's count)."""
        names = tuple(sinks) or ("",)
        marks = ", ".join([self._MARK] * len(names))
        rows = self._read(f"SELECT COUNT(*) FROM events WHERE time < {self._MARK} AND NOT "
                          f"EXISTS ({waiting(marks)})", (before, *names))
        return int(rows[0][0])

    def claim_retention(self, name: str, *, now: float, every_s: float) -> bool:
        """Whether this caller runs job ``name`` now: true (and the run recorded) when its
        last run is ``every_s`` or more ago; of racing replicas exactly one wins."""
        mark = self._MARK
        with self._write() as db:
            db.execute(f"INSERT INTO retention_runs (name, last_run) VALUES ({mark}, 0) "
                       "ON CONFLICT (name) DO NOTHING", (name,))
            return db.execute(f"UPDATE retention_runs SET last_run = {mark} WHERE name = {mark} "
                              f"AND last_run <= {mark}", (now, name, now - every_s)).rowcount == 1

    def retention_lock(self) -> AbstractContextManager[bool]:
        """Held while a retention run works: PostgreSQL's session advisory lock (released when
        the block ends or the replica's connection drops), else this process's own."""
        if self._PG:
            return self._advisory()
        locks: LocalSinkLocks = self.__dict__.setdefault("_retention_locks", LocalSinkLocks())
        return locks.hold("retention")

    @contextmanager
    def _advisory(self) -> Iterator[bool]:
        with self._conn() as conn:
            mine = bool(conn.execute(f"SELECT pg_try_advisory_lock({LOCK_CLASS}, 0)",
                                     ()).fetchone()[0])
            try:
                yield mine
            finally:
                if mine:
                    conn.execute(f"SELECT pg_advisory_unlock({LOCK_CLASS}, 0)", ())

    def after_erasure(self) -> None:
        """Make the erased rows unrecoverable where the engine allows (see the module doc)."""
        if not self._PG:
            return
        with self._conn() as conn:  # autocommit: VACUUM cannot run inside a transaction
            for table in ERASED_TABLES:
                exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
                if exists and exists[0]:
                    conn.execute(f"VACUUM {table}", ())


class SqliteErasure(SqlHost):
    """SQLite's side of erasure: checkpoint the log; report the settings that matter."""

    _db: sqlite3.Connection
    _lock: threading.RLock

    def _checkpoint(self) -> None:
        """Copy the log into the main file and truncate it (waits <= 2 s; a failure is logged)."""
        with self._lock:
            self._db.execute("PRAGMA busy_timeout = 2000")
            try:
                busy: object = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                busy = type(exc).__name__
            self._db.execute("PRAGMA busy_timeout = 30000")
        if busy:
            logger.warning("gallery log not truncated after an erasure (%s)", busy)

    def storage_settings(self) -> dict[str, int | str]:
        """The connection's journal and erasure settings (``PRAGMA`` values)."""
        return {name: self._read(f"PRAGMA {name}")[0][0]
                for name in ("journal_mode", "synchronous", "foreign_keys", "secure_delete")}

    def integrity_problems(self) -> list[str]:
        """SQLite's own integrity check plus orphan checks; empty when all is well."""
        problems = [r[0] for r in self._read("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"foreign key: {r}" for r in self._read("PRAGMA foreign_key_check")]
        return problems
