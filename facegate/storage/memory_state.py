"""``SharedState`` in process memory, for ``MemoryStore`` (one process is every replica there is).

Stored values are copied in and out as JSON-like data would be, so a caller that keeps a
reference cannot change what the store holds.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from facegate.errors import ConflictError, JobNotFoundError
from facegate.storage.state import ACTIVE_JOB, StoredJob, StoredSession


class MemoryState:
    def __init__(self) -> None:
        self._state_lock = threading.RLock()
        self._sessions: dict[str, StoredSession] = {}
        self._frames: dict[str, float] = {}
        self._jobs: dict[str, StoredJob] = {}

    def add_liveness_session(self, session: StoredSession) -> None:
        with self._state_lock:
            self._sessions[session.id] = session

    def get_liveness_session(self, session_id: str) -> StoredSession | None:
        with self._state_lock:
            return self._sessions.get(session_id)

    def use_liveness_session(self, session_id: str, now: float) -> bool:
        with self._state_lock:
            session = self._sessions.get(session_id)
            if session is None or session.used_at is not None:
                return False
            self._sessions[session_id] = dataclasses.replace(session, used_at=now)
            return True

    def note_liveness_frames(self, digests: list[str], now: float) -> set[str]:
        with self._state_lock:
            seen = {d for d in digests if d in self._frames}
            self._frames.update(dict.fromkeys(digests, now))
            return seen

    def forget_liveness(self, before: float) -> None:
        with self._state_lock:
            self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at >= before
                              or (s.used_at is not None and s.used_at >= before)}
            self._frames = {k: t for k, t in self._frames.items() if t >= before}

    def insert_job(self, job: StoredJob, *, lost_before: float, lost_error: dict[str, Any],
                   keep: int) -> None:
        with self._state_lock:
            for old in list(self._jobs.values()):
                if old.status in ACTIVE_JOB and old.heartbeat_at < lost_before:
                    self._jobs[old.id] = dataclasses.replace(
                        old, status="failed", error=dict(lost_error), finished_at=job.created_at)
            active = [j for j in self._jobs.values() if j.status in ACTIVE_JOB]
            if active:
                raise ConflictError("a background job (training or import) is already running on "
                                    "this gallery; poll "
                                    "it and start the next when it has finished",
                                    details={"job_id": active[0].id, "status": active[0].status})
            self._jobs[job.id] = copy.deepcopy(job)
            kept = {j.id for j in self.list_jobs(keep)}
            self._jobs = {k: j for k, j in self._jobs.items()
                          if k in kept or j.status in ACTIVE_JOB}

    def change_job(self, job_id: str,
                   change: Callable[[StoredJob], StoredJob | None]) -> StoredJob:
        with self._state_lock:
            job = self.get_job(job_id)
            new = change(job)
            if new is None:
                return job
            self._jobs[job_id] = copy.deepcopy(new)
            return copy.deepcopy(new)

    def get_job(self, job_id: str) -> StoredJob:
        with self._state_lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFoundError(f"no training job {job_id!r}")
            return copy.deepcopy(job)

    def list_jobs(self, limit: int) -> list[StoredJob]:
        with self._state_lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.id)
            jobs.sort(key=lambda j: j.created_at, reverse=True)
            return [copy.deepcopy(j) for j in jobs[:limit]]
