"""Training as a background job (``POST /v1/train``): enrol an uploaded zip of labelled photos,
then fit, validate and store a classifier, with progress a client polls.

One job runs at a time per server process (a second is refused with CONFLICT while one runs);
the last ``keep`` jobs are remembered in memory, so a client polls the replica it started the
job on. The job's photos go through the same face pipeline as requests, beside them.

A job can be cancelled: it stops at the next photo or cross-validation step, keeps the photos it
had enrolled (each is its own transaction) and stores no classifier. Uploaded zips (face photos)
live in the jobs' own folder only while their job runs: deleted on success, failure, cancel and
refusal, and at server start when a killed server left one behind.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from facegate.domain import ClassifierInfo
from facegate.errors import ConflictError, FacegateError, JobNotFoundError
from facegate.services import training
from facegate.services.archives import ArchiveLimits, check_archive
from facegate.services.bulk import collect, enroll_photos
from facegate.services.classifiers import ClassifierService
from facegate.services.faces import MultipleFaces
from facegate.services.gallery import GalleryService
from facegate.storage.base import new_id, utcnow

logger = logging.getLogger(__name__)
#: Refusals a job reports one by one (the counts cover them all).
MAX_REFUSALS = 100
#: A job in one of these holds the server's one training slot.
ACTIVE = frozenset({"queued", "running", "cancelling"})


@dataclass(frozen=True)
class TrainRequest:
    kind: str
    tune: bool = False
    folds: int = 5
    activate: bool = False
    multiple_faces: MultipleFaces | None = None


@dataclass(frozen=True)
class TrainingJob:
    id: str
    request: TrainRequest
    created_at: datetime
    status: str = "queued"  # queued | running | cancelling | succeeded | failed | cancelled
    stage: str = "queued"  # enrolling | validating | done
    done: int = 0
    total: int = 0
    photos: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("total", "enrolled", "refused", "duplicate"), 0))
    refusals: tuple[dict[str, str], ...] = ()
    classifier: ClassifierInfo | None = None
    error: dict[str, str] | None = None
    finished_at: datetime | None = None


class _Cancelled(Exception):
    """Raised at a photo or cross-validation step of a job being cancelled."""


class Upload:
    """A received zip in the jobs' upload folder, locked (``flock``) for as long as this object
    is open, so that a server starting beside it never takes it for a leftover."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = folder / f"{new_id()}.zip"
        self._handle = self.path.open("xb")
        fcntl.flock(self._handle, fcntl.LOCK_EX)

    def write_from(self, source: BinaryIO) -> None:
        source.seek(0)
        shutil.copyfileobj(source, self._handle)
        self._handle.flush()

    def discard(self) -> None:
        """Delete the file (every path: success, failure, cancel, refusal)."""
        self.path.unlink(missing_ok=True)
        self._handle.close()


def remove_leftovers(folder: Path) -> int:
    """Delete uploads no live process holds (a server killed mid-job leaves its zip of face
    photos behind); returns how many were removed."""
    removed = 0
    for path in folder.glob("*.zip") if folder.is_dir() else ():
        with path.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a running job's (this or another server process)
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        logger.info("removed %d training uploads left behind by a stopped server", removed)
    return removed


class TrainingJobs:
    def __init__(self, gallery: GalleryService, classifiers: ClassifierService, *,
                 limits: ArchiveLimits, uploads: Path, keep: int = 20) -> None:
        self._gallery = gallery
        self._classifiers = classifiers
        self._limits = limits
        self._uploads = uploads
        self._keep = keep
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._thread: threading.Thread | None = None
        remove_leftovers(uploads)

    def receive(self, source: BinaryIO) -> Upload:
        """Copy an uploaded zip into the upload folder and check it (ArchiveError when it is not
        a zip, ArchiveTooLargeError over a cap); the caller passes it to ``start``."""
        upload = Upload(self._uploads)
        try:
            upload.write_from(source)
            check_archive(upload.path, self._limits, label="the 'archive'")
        except BaseException:
            upload.discard()
            raise
        return upload

    def start(self, request: TrainRequest, archive: Upload | None) -> TrainingJob:
        """Start a job on ``archive`` (which this job then owns and deletes; None: train on
        the gallery as it is)."""
        with self._lock:
            if any(j.status in ACTIVE for j in self._jobs.values()):
                if archive is not None:
                    archive.discard()
                raise ConflictError("a training job is already running on this server; poll it "
                                    "and start the next when it has finished")
            job = TrainingJob(id=new_id(), request=request, created_at=utcnow())
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-self._keep]:
                del self._jobs[old]
        self._thread = threading.Thread(target=self._run, args=(job.id, archive),
                                        name=f"train-{job.id[:8]}", daemon=True)
        self._thread.start()
        return job

    def close(self, *, timeout: float = 30.0) -> None:
        """Cancel whatever job runs and wait for it to stop (its upload is then deleted):
        the server is shutting down and its gallery is about to be closed."""
        with self._lock:
            for job_id, job in self._jobs.items():
                if job.status in ACTIVE:
                    self._jobs[job_id] = dataclasses.replace(job, status="cancelling")
        if self._thread is not None:
            self._thread.join(timeout)

    def get(self, job_id: str) -> TrainingJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no training job {job_id!r} on this server")
        return job

    def list(self) -> list[TrainingJob]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def cancel(self, job_id: str) -> TrainingJob:
        """Ask a queued or running job to stop at its next photo or validation step (status
        ``cancelling``, then ``cancelled``); ConflictError when it has already finished."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFoundError(f"no training job {job_id!r} on this server")
            if job.status not in ACTIVE:
                raise ConflictError(f"training job {job_id!r} has already finished "
                                    f"({job.status})", details={"status": job.status})
            job = self._jobs[job_id] = dataclasses.replace(job, status="cancelling")
            return job

    def _progress(self, job_id: str, **changes: Any) -> None:
        """Record progress, then stop the job here (_Cancelled) if it is being cancelled."""
        with self._lock:
            job = self._jobs[job_id]
            if job.status == "cancelling":
                changes.pop("status", None)
            self._jobs[job_id] = dataclasses.replace(job, **changes)
        if job.status == "cancelling":
            raise _Cancelled

    def _finish(self, job_id: str, status: str, **changes: Any) -> bool:
        """The job's last state; False (and ``cancelled``, nothing else kept) when a cancel
        came in first."""
        with self._lock:
            job = self._jobs[job_id]
            cancelled = job.status == "cancelling"
            self._jobs[job_id] = dataclasses.replace(
                job, status="cancelled", finished_at=utcnow()) if cancelled else \
                dataclasses.replace(job, status=status, finished_at=utcnow(), **changes)
        return not cancelled

    def _run(self, job_id: str, archive: Upload | None) -> None:
        request = self.get(job_id).request
        try:
            self._progress(job_id, status="running")
            if archive is not None:
                self._enrol(job_id, archive.path, request)
            self._progress(job_id, stage="validating", done=0, total=0)
            info = training.train(self._classifiers.store, kind=request.kind, tune=request.tune,
                                  folds=request.folds, progress=lambda done, total:
                                  self._progress(job_id, done=done, total=total))
            self._progress(job_id)
            if request.activate:
                info = self._classifiers.activate(info.id) or info
            if not self._finish(job_id, "succeeded", stage="done", classifier=info):
                self._classifiers.delete(info.id)  # cancelled while it was being stored
        except _Cancelled:
            self._finish(job_id, "cancelled")
        except FacegateError as exc:
            self._finish(job_id, "failed", error={"code": exc.code, "message": exc.message})
        except Exception as exc:  # a job never dies silently
            logger.exception("training job %s failed", job_id)
            self._finish(job_id, "failed", error={
                "code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            if archive is not None:
                archive.discard()

    def _enrol(self, job_id: str, archive: Path, request: TrainRequest) -> None:
        with collect([archive], limits=self._limits) as photos:
            counts = {"total": len(photos), "enrolled": 0, "refused": 0, "duplicate": 0}
            refusals: list[dict[str, str]] = []
            self._progress(job_id, stage="enrolling", total=len(photos), photos=dict(counts))
            outcomes = enroll_photos(self._gallery, photos, multiple_faces=request.multiple_faces)
            for done, outcome in enumerate(outcomes, 1):
                if outcome.status == "enrolled":
                    counts["enrolled"] += 1
                else:
                    counts["duplicate" if outcome.code == "DUPLICATE_FACE" else "refused"] += 1
                    if len(refusals) < MAX_REFUSALS:
                        refusals.append({"source": outcome.source.removeprefix(f"{archive}:"),
                                         "person": outcome.person, "code": outcome.code or "",
                                         "message": outcome.message or ""})
                self._progress(job_id, done=done, photos=dict(counts), refusals=tuple(refusals))
