"""A small runner for background jobs kept in the gallery store (``SharedState``), shared by the
jobs that are not training (bulk import; ``training_jobs.py`` keeps its own, older runner, which
takes the same steps on a job's row: ``cancel_job``, ``record_progress``, ``checked_job``).
Every job's row is in the store's jobs table, so any replica answers a poll or a cancel; the
replica that started a job runs it on a thread and writes progress and a heartbeat there. A job
whose heartbeat is ``lost_after_s`` old is reported failed, JOB_LOST. The store holds one active
job per gallery (training, import), a second is refused with CONFLICT.

A job's kind is ``options["job"]`` (training rows have none); ``get`` of another kind's id is
JOB_NOT_FOUND.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from facegate.errors import ConflictError, FacegateError, JobNotFoundError
from facegate.storage.base import new_id
from facegate.storage.state import ACTIVE_JOB, SharedState, StoredJob

logger = logging.getLogger(__name__)
ACTIVE = frozenset(ACTIVE_JOB)
LOST = {"code": "JOB_LOST", "message": "the server running this job stopped (it was killed, "
        "restarted or lost the database) before the job finished"}


class Cancelled(Exception):
    """Raised by ``progress`` when the job is being cancelled (or was found lost)."""


#: A job's body: ``work(job_id)`` returns the changes of its finished row.
Work = Callable[[str], dict[str, Any]]


class JobRunner:
    """Jobs of one ``kind`` in the store: started and run here, read and cancelled anywhere."""

    def __init__(self, store: SharedState, *, kind: str, keep: int = 20,
                 lost_after_s: float = 60.0) -> None:
        self._store, self.kind, self._keep = store, kind, keep
        self._lost_after_s = lost_after_s
        self._owner = new_id()
        self._threads: list[threading.Thread] = []
        self._running: str | None = None

    def start(self, options: dict[str, Any], work: Work, *,
              cleanup: Callable[[], None] = lambda: None) -> StoredJob:
        """Insert the job (ConflictError while another runs; ``cleanup`` then runs too) and run
        ``work`` on a thread; ``cleanup`` runs once the job has ended, on every path."""
        now = time.time()
        job = StoredJob(id=new_id(), status="queued", stage="queued",
                        options={**options, "job": self.kind}, created_at=now,
                        heartbeat_at=now, owner=self._owner)
        try:
            self._store.insert_job(job, lost_before=now - self._lost_after_s, lost_error=LOST,
                                   keep=self._keep)
        except BaseException:
            cleanup()
            raise
        thread = threading.Thread(target=self._run, args=(job.id, work, cleanup), daemon=True,
                                  name=f"{self.kind}-{job.id[:8]}")
        self._threads, self._running = [t for t in self._threads if t.is_alive()] + [thread], job.id
        thread.start()
        return job

    def close(self, *, timeout: float = 30.0) -> None:
        """Cancel what runs here and wait for it (the server is stopping)."""
        for thread in self._threads:
            if thread.is_alive() and self._running is not None:
                with contextlib.suppress(FacegateError):  # it has just finished
                    self.cancel(self._running)
            thread.join(timeout)

    def get(self, job_id: str) -> StoredJob:
        job = self._store.get_job(job_id)
        if job.options.get("job") != self.kind:
            raise JobNotFoundError(f"no {self.kind} job {job_id!r}")
        return self._checked(job)

    def list(self) -> list[StoredJob]:
        return [self._checked(job) for job in self._store.list_jobs(self._keep)
                if job.options.get("job") == self.kind]

    def cancel(self, job_id: str) -> StoredJob:
        """Ask a queued or running job to stop at its next step; ConflictError once finished."""
        self.get(job_id)
        return cancel_job(self._store, job_id, self.kind)

    def progress(self, job_id: str, **changes: Any) -> None:
        """Record progress (and the heartbeat); Cancelled when the job is being cancelled."""
        record_progress(self._store, job_id, **changes)

    def _checked(self, job: StoredJob) -> StoredJob:
        return checked_job(self._store, job, kind=self.kind, lost_after_s=self._lost_after_s)

    def _finish(self, job_id: str, status: str, changes: dict[str, Any]) -> None:
        def finish(job: StoredJob) -> StoredJob | None:
            if job.status not in ACTIVE:
                return None
            final = "cancelled" if job.cancel_requested else status
            return dataclasses.replace(job, status=final, finished_at=time.time(), **changes)

        self._store.change_job(job_id, finish)

    def _run(self, job_id: str, work: Work, cleanup: Callable[[], None]) -> None:
        try:
            self.progress(job_id, status="running")
            self._finish(job_id, "finished", work(job_id))
        except Cancelled as stop:
            self._finish(job_id, "cancelled", dict(stop.args[0]) if stop.args else {})
        except FacegateError as exc:
            self._finish(job_id, "failed", {"error": {"code": exc.code, "message": exc.message}})
        except Exception as exc:  # a job never dies silently
            logger.exception("%s job %s failed", self.kind, job_id)
            self._finish(job_id, "failed", {"error": {
                "code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}})
        finally:
            cleanup()


# The steps both runners (this one and training_jobs.TrainingJobs) take on a job's row.
def cancel_job(store: SharedState, job_id: str, kind: str) -> StoredJob:
    """Mark a queued or running job ``cancelling``; ConflictError when it has finished."""
    def cancelling(job: StoredJob) -> StoredJob:
        if job.status not in ACTIVE:
            raise ConflictError(f"{kind} job {job_id!r} has already finished ({job.status})",
                                details={"status": job.status})
        return dataclasses.replace(job, status="cancelling", cancel_requested=True)

    return store.change_job(job_id, cancelling)


def record_progress(store: SharedState, job_id: str, **changes: Any) -> None:
    """Record a running job's progress (and its heartbeat), then raise Cancelled if it is
    being cancelled (or another replica found it lost)."""
    def step(job: StoredJob) -> StoredJob | None:
        if job.status not in ACTIVE:
            return None
        if job.cancel_requested:
            changes.pop("status", None)
        return dataclasses.replace(job, heartbeat_at=time.time(), **changes)

    job = store.change_job(job_id, step)
    if job.cancel_requested or job.status not in ACTIVE:
        raise Cancelled


def checked_job(store: SharedState, job: StoredJob, *, kind: str,
                lost_after_s: float) -> StoredJob:
    """The job, marked failed (JOB_LOST) if it is active without a recent heartbeat."""
    lost_before = time.time() - lost_after_s
    if job.status not in ACTIVE or job.heartbeat_at >= lost_before:
        return job

    def lose(current: StoredJob) -> StoredJob | None:
        if current.status not in ACTIVE or current.heartbeat_at >= lost_before:
            return None
        return dataclasses.replace(current, status="failed", error=dict(LOST),
                                   finished_at=time.time())

    logger.warning("%s job %s lost its server (no heartbeat for %.0f s)", kind, job.id,
                   lost_after_s)
    return store.change_job(job.id, lose)
