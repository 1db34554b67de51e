"""Liveness sessions and training jobs in an SQL gallery (``SharedState``, see ``state.py``): the
part SQLite and PostgreSQL share, as a mixin over the host's ``_write()``/``_read()`` like
``SqlClassifiers``.

Times are epoch seconds in ``DOUBLE PRECISION`` columns (SQLite gives them REAL affinity), JSON
as text, so one DDL (``SCHEMA``) serves both: SQLite runs it at open, PostgreSQL as a migration.
A session is used once by a conditional ``UPDATE … WHERE used_at IS NULL``: of two replicas
racing, one updates the row and the other finds it used. Starting a job takes the jobs table's
write lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``_LOCK_JOBS``) so two replicas cannot both
find the slot free.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from facegate.errors import ConflictError, JobNotFoundError
from facegate.storage.sql_classifiers import SqlClassifiers
from facegate.storage.state import StoredJob, StoredSession

SCHEMA = """
CREATE TABLE IF NOT EXISTS liveness_sessions (
    id TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    actions TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    used_at DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS liveness_sessions_expiry ON liveness_sessions (expires_at);
CREATE TABLE IF NOT EXISTS liveness_frames (
    sha256 TEXT PRIMARY KEY,
    seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS liveness_frames_seen ON liveness_frames (seen_at);
CREATE TABLE IF NOT EXISTS training_jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    stage TEXT NOT NULL,
    options TEXT NOT NULL,
    done INTEGER NOT NULL,
    total INTEGER NOT NULL,
    photos TEXT NOT NULL,
    refusals TEXT NOT NULL,
    classifier_id TEXT,
    model TEXT,
    error TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    finished_at DOUBLE PRECISION,
    heartbeat_at DOUBLE PRECISION NOT NULL,
    cancel_requested SMALLINT NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    owner TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS training_jobs_created ON training_jobs (created_at);
"""

_SESSION_COLUMNS = "id, nonce, actions, created_at, expires_at, used_at"
_JOB_COLUMNS = ("id, status, stage, options, created_at, heartbeat_at, owner, done, total, "
                "photos, refusals, model, error, finished_at, cancel_requested")
_ACTIVE = "status IN ('queued', 'running', 'cancelling')"


class SqlState(SqlClassifiers):
    """``SharedState`` for a host store; ``_LOCK_JOBS`` is the statement that locks the jobs
    table against other writers until the transaction ends (SQLite's write lock already does)."""

    _LOCK_JOBS: str = ""

    # liveness sessions
    def add_liveness_session(self, session: StoredSession) -> None:
        with self._write() as db:
            db.execute(self._sql(f"INSERT INTO liveness_sessions ({_SESSION_COLUMNS}) "
                                 "VALUES (?, ?, ?, ?, ?, ?)"),
                       (session.id, session.nonce, ",".join(session.actions),
                        session.created_at, session.expires_at, session.used_at))

    def get_liveness_session(self, session_id: str) -> StoredSession | None:
        rows = self._read(self._sql(f"SELECT {_SESSION_COLUMNS} FROM liveness_sessions "
                                    "WHERE id = ?"), (session_id,))
        if not rows:
            return None
        row = rows[0]
        return StoredSession(id=row[0], nonce=row[1], actions=tuple(row[2].split(",")),
                             created_at=float(row[3]), expires_at=float(row[4]),
                             used_at=None if row[5] is None else float(row[5]))

    def use_liveness_session(self, session_id: str, now: float) -> bool:
        with self._write() as db:
            return db.execute(self._sql("UPDATE liveness_sessions SET used_at = ? "
                                        "WHERE id = ? AND used_at IS NULL"),
                              (now, session_id)).rowcount == 1

    def note_liveness_frames(self, digests: list[str], now: float) -> set[str]:
        unique = sorted(set(digests))
        if not unique:
            return set()
        with self._write() as db:
            marks = ", ".join([self._MARK] * len(unique))
            seen = {row[0] for row in db.execute(
                f"SELECT sha256 FROM liveness_frames WHERE sha256 IN ({marks})",
                tuple(unique)).fetchall()}
            pairs = ", ".join([f"({self._MARK}, {self._MARK})"] * len(unique))
            db.execute(f"INSERT INTO liveness_frames (sha256, seen_at) VALUES {pairs} "
                       "ON CONFLICT (sha256) DO UPDATE SET seen_at = excluded.seen_at",
                       tuple(value for digest in unique for value in (digest, now)))
        return seen

    def forget_liveness(self, before: float) -> None:
        with self._write() as db:
            db.execute(self._sql("DELETE FROM liveness_sessions WHERE expires_at < ? "
                                 "AND (used_at IS NULL OR used_at < ?)"), (before, before))
            db.execute(self._sql("DELETE FROM liveness_frames WHERE seen_at < ?"), (before,))

    # training jobs
    def insert_job(self, job: StoredJob, *, lost_before: float, lost_error: dict[str, Any],
                   keep: int) -> None:
        with self._write() as db:
            if self._LOCK_JOBS:
                db.execute(self._LOCK_JOBS, ())
            db.execute(self._sql(f"UPDATE training_jobs SET status = 'failed', error = ?, "
                                 f"finished_at = ? WHERE {_ACTIVE} AND heartbeat_at < ?"),
                       (json.dumps(lost_error), job.created_at, lost_before))
            active = db.execute(f"SELECT id, status FROM training_jobs WHERE {_ACTIVE}",
                                ()).fetchone()
            if active is not None:
                raise ConflictError("a background job (training or import) is already running on "
                                    "this gallery; poll "
                                    "it and start the next when it has finished",
                                    details={"job_id": active[0], "status": active[1]})
            db.execute(self._sql(f"INSERT INTO training_jobs ({_JOB_COLUMNS}, classifier_id) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                       (*_job_values(job), job.id))
            db.execute(self._sql(
                f"DELETE FROM training_jobs WHERE NOT ({_ACTIVE}) AND id NOT IN "
                "(SELECT id FROM training_jobs ORDER BY created_at DESC, id LIMIT ?)"), (keep,))

    def change_job(self, job_id: str,
                   change: Callable[[StoredJob], StoredJob | None]) -> StoredJob:
        with self._write() as db:
            row = db.execute(self._sql(f"SELECT {_JOB_COLUMNS} FROM training_jobs "
                                       f"WHERE id = ?{self._LOCK_ROWS}"), (job_id,)).fetchone()
            if row is None:
                raise _no_job(job_id)
            job = _job(row)
            new = change(job)
            if new is None or new == job:
                return job
            db.execute(self._sql(
                "UPDATE training_jobs SET id = ?, status = ?, stage = ?, options = ?, "
                "created_at = ?, heartbeat_at = ?, owner = ?, done = ?, total = ?, photos = ?, "
                "refusals = ?, model = ?, error = ?, finished_at = ?, cancel_requested = ?, "
                "classifier_id = ? WHERE id = ?"),
                (*_job_values(new), (new.model or {}).get("id"), job_id))
            return new

    def get_job(self, job_id: str) -> StoredJob:
        rows = self._read(self._sql(f"SELECT {_JOB_COLUMNS} FROM training_jobs WHERE id = ?"),
                          (job_id,))
        if not rows:
            raise _no_job(job_id)
        return _job(rows[0])

    def list_jobs(self, limit: int) -> list[StoredJob]:
        rows = self._read(self._sql(f"SELECT {_JOB_COLUMNS} FROM training_jobs "
                                    "ORDER BY created_at DESC, id LIMIT ?"), (limit,))
        return [_job(row) for row in rows]


def _no_job(job_id: str) -> JobNotFoundError:
    return JobNotFoundError(f"no training job {job_id!r}")


def _job_values(job: StoredJob) -> tuple[Any, ...]:
    """The job in ``_JOB_COLUMNS`` order, JSON as text."""
    return (job.id, job.status, job.stage, json.dumps(job.options), job.created_at,
            job.heartbeat_at, job.owner, job.done, job.total, json.dumps(job.photos),
            json.dumps(list(job.refusals)), None if job.model is None else json.dumps(job.model),
            None if job.error is None else json.dumps(job.error), job.finished_at,
            int(job.cancel_requested))


def _job(row: tuple[Any, ...]) -> StoredJob:
    return StoredJob(
        id=row[0], status=row[1], stage=row[2], options=json.loads(row[3]),
        created_at=float(row[4]), heartbeat_at=float(row[5]), owner=row[6], done=int(row[7]),
        total=int(row[8]), photos=json.loads(row[9]), refusals=tuple(json.loads(row[10])),
        model=None if row[11] is None else json.loads(row[11]),
        error=None if row[12] is None else json.loads(row[12]),
        finished_at=None if row[13] is None else float(row[13]),
        cancel_requested=bool(row[14]))
