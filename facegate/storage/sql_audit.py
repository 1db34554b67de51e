"""The audit log in an SQL gallery: the ``AuditLog`` part SQLite and PostgreSQL share, a mixin
over the host store's ``_write()`` / ``_read(sql, args)`` like ``sql_classifiers``.

The ``audit`` table (SQLite schema 3, PostgreSQL migration 4): one row per audited request,
newest first by ``(time, id)``. SQLite keeps times as fixed-width UTC text and the identity ids
as a JSON array; PostgreSQL as ``timestamptz`` and a ``text[]`` with a GIN index. On PostgreSQL
every replica writes the one table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

from facegate.storage.audit import (
    AuditQuery,
    AuditRecord,
    check_limit,
    decode_cursor,
    encode_cursor,
    text_time,
)
from facegate.storage.sql_classifiers import _Connection

_COLUMNS = ("id, time, actor_kind, actor_id, actor_name, client, request_id, method, route, "
            "status, error_code, identity_ids, details")

_TABLE = """
CREATE TABLE {exists}audit (
    id TEXT PRIMARY KEY,
    time {time} NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT,
    client TEXT,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    error_code TEXT,
    identity_ids {ids} NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX {exists}audit_time ON audit (time, id);
CREATE INDEX {exists}audit_route ON audit (route, time);
"""
#: SQLite's statements (idempotent: opening an older file adds the table).
SQLITE_SCHEMA = _TABLE.format(exists="IF NOT EXISTS ", time="TEXT", ids="TEXT")
#: PostgreSQL's migration 4.
POSTGRES_SCHEMA = _TABLE.format(exists="", time="TIMESTAMPTZ", ids="TEXT[]") + \
    "CREATE INDEX audit_identities ON audit USING gin (identity_ids);\n"


class SqlAudit:
    """Audit storage for a host store with ``_write``/``_read``; ``_MARK`` is its driver's
    parameter placeholder and ``_TEXT_TIMES`` whether times (and identity ids, as JSON) are
    stored as text (SQLite) or natively (PostgreSQL)."""

    _MARK: str = "?"
    _TEXT_TIMES: bool = True

    def _write(self) -> AbstractContextManager[_Connection]:
        raise NotImplementedError

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _audit_write(self) -> AbstractContextManager[_Connection]:
        return self._write()

    def _time(self, moment: datetime) -> Any:
        return text_time(moment) if self._TEXT_TIMES else moment

    def append_audit(self, records: list[AuditRecord]) -> None:
        if not records:
            return
        with self._audit_write() as db:
            self._insert_audit(db, records)

    def _insert_audit(self, db: _Connection, records: list[AuditRecord]) -> None:
        """Insert in the caller's transaction (an erasure's own row goes with it)."""
        sql = f"INSERT INTO audit ({_COLUMNS}) VALUES ({', '.join([self._MARK] * 13)})"
        for r in records:
            ids: Any = json.dumps(list(r.identity_ids)) if self._TEXT_TIMES \
                else list(r.identity_ids)
            db.execute(sql, (
                r.id, self._time(r.time), r.actor_kind, r.actor_id, r.actor_name, r.client,
                r.request_id, r.method, r.route, r.status, r.error_code, ids,
                json.dumps(r.details)))

    def audit_page(self, query: AuditQuery, *, limit: int = 100,
                   cursor: str | None = None) -> tuple[list[AuditRecord], str | None]:
        check_limit(limit)
        where, args = self._audit_where(query)
        if cursor:
            time_text, record_id = decode_cursor(cursor)
            where.append("(time, id) < (?, ?)")
            args += [self._time(datetime.fromisoformat(time_text)), record_id]
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM audit {clause}ORDER BY time DESC, id DESC LIMIT ?"
            .replace("?", self._MARK), (*args, limit + 1))
        page = [_record(row) for row in rows[:limit]]
        return page, encode_cursor(page[-1]) if len(rows) > limit else None

    def _audit_where(self, query: AuditQuery) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if query.actor is not None:
            where.append("(actor_id = ? OR actor_name = ? OR actor_kind = ?)")
            args += [query.actor] * 3
        for column, value in (("route", query.route), ("method", query.method),
                              ("status", query.status), ("error_code", query.error_code)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.identity_id is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(identity_ids) WHERE value = ?)"
                         if self._TEXT_TIMES else "identity_ids @> ARRAY[?]::text[]")
            args.append(query.identity_id)
        if query.since is not None:
            where.append("time >= ?")
            args.append(self._time(query.since))
        if query.until is not None:
            where.append("time < ?")
            args.append(self._time(query.until))
        if query.ok is not None:
            where.append("(status < 400 AND error_code IS NULL)" if query.ok
                         else "(status >= 400 OR error_code IS NOT NULL)")
        return where, args

    def purge_audit(self, before: datetime) -> int:
        with self._write() as db:
            return db.execute(f"DELETE FROM audit WHERE time < {self._MARK}",
                              (self._time(before),)).rowcount


class SqliteAudit(SqlAudit):
    """SQLite's audit writes: committed with ``synchronous = NORMAL`` (the WAL is not synced at
    each audit commit: ~0.2 ms instead of ~4-8 ms holding the gallery connection's lock, which
    identify's reads wait for). A killed process loses no committed row; a power loss can also
    lose the audit rows committed since the last sync (the next gallery write or checkpoint)."""

    _lock: threading.RLock
    _db: sqlite3.Connection

    @contextmanager
    def _audit_write(self) -> Iterator[_Connection]:
        with self._lock:
            self._db.execute("PRAGMA synchronous = NORMAL")
            try:
                with self._write() as db:
                    yield db
            finally:
                self._db.execute("PRAGMA synchronous = FULL")


def _record(row: tuple[Any, ...]) -> AuditRecord:
    moment = row[1] if isinstance(row[1], datetime) else datetime.fromisoformat(row[1])
    ids = json.loads(row[11]) if isinstance(row[11], str) else list(row[11])
    return AuditRecord(
        id=row[0], time=moment, actor_kind=row[2], actor_id=row[3], actor_name=row[4],
        client=row[5], request_id=row[6], method=row[7], route=row[8], status=int(row[9]),
        error_code=row[10], identity_ids=tuple(ids), details=json.loads(row[12]))
