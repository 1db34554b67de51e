"""Training as a background job (``POST /v1/train``): enrol an uploaded zip of labelled photos,
then fit, validate and store a classifier, with progress a client polls.

Jobs live in the gallery store (``SharedState``): the replica that started a job runs it and
writes its progress and a heartbeat there; any replica answers a poll or a cancel (a cancel sets
a flag the job reads at its next step). One job runs at a time per gallery, across replicas (a
second is refused with CONFLICT while one is active); a job whose server died is reported
failed with JOB_LOST once its heartbeat is ``lost_after_s`` old, freeing the slot; the last
``keep`` jobs are remembered. The job's photos go through the same face pipeline as requests.

A job can be cancelled: it stops at the next photo or cross-validation step, keeps the photos it
had enrolled (each is its own transaction) and stores no classifier. Uploaded zips (face photos)
live in the jobs' own folder only while their job runs: deleted on success, failure, cancel and
refusal, and at server start when a killed server left one behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from facegate.domain import ClassifierInfo
from facegate.errors import FacegateError, JobNotFoundError
from facegate.services import training
from facegate.services.archives import ArchiveLimits
from facegate.services.bulk import collect, enroll_photos
from facegate.services.classifiers import ClassifierService
from facegate.services.faces import MultipleFaces
from facegate.services.gallery import GalleryService
from facegate.services.jobs import (
    ACTIVE,
    LOST,
    Cancelled,
    cancel_job,
    checked_job,
    record_progress,
)
from facegate.services.training_uploads import Upload as Upload  # re-exported
from facegate.services.training_uploads import received_archive, remove_leftovers
from facegate.storage.base import new_id
from facegate.storage.state import SharedState, StoredJob

logger = logging.getLogger(__name__)
#: Refusals a job reports one by one (the counts cover them all).
MAX_REFUSALS = 100
NO_PHOTOS = dict.fromkeys(("total", "enrolled", "refused", "duplicate"), 0)


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


class TrainingJobs:
    """Jobs in the gallery store: started and run here, polled and cancelled through any
    replica; one active per gallery. ``lost_after_s``: a job whose heartbeat (written every
    quarter of it while it runs) is older is reported failed, JOB_LOST."""

    def __init__(self, gallery: GalleryService, classifiers: ClassifierService, *,
                 store: SharedState, limits: ArchiveLimits, uploads: Path, keep: int = 20,
                 lost_after_s: float = 60.0) -> None:
        self._gallery = gallery
        self._classifiers = classifiers
        self._store = store
        self._limits = limits
        self._uploads = uploads
        self._keep = keep
        self._lost_after_s = lost_after_s
        self._owner = new_id()  # this process, in the rows of the jobs it runs
        self._running: str | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        #: Called with a job's final row when this process finishes it (the API emits
        #: ``train.finished`` there); an exception in it is logged, never fails the job.
        self.on_finished: Callable[[StoredJob], None] | None = None
        remove_leftovers(uploads)

    def receive(self, source: BinaryIO) -> Upload:
        """Copy an uploaded zip into the upload folder and check it (ArchiveError when it is not
        a zip, ArchiveTooLargeError over a cap); the caller passes it to ``start``."""
        return received_archive(self._uploads, source, self._limits)

    def start(self, request: TrainRequest, archive: Upload | None) -> TrainingJob:
        """Start a job on ``archive`` (which this job then owns and deletes; None: train on
        the gallery as it is); ConflictError while another runs on this gallery."""
        now = time.time()
        stored = StoredJob(id=new_id(), status="queued", stage="queued",
                           options=dataclasses.asdict(request), created_at=now,
                           heartbeat_at=now, owner=self._owner, photos=dict(NO_PHOTOS))
        try:
            self._store.insert_job(stored, lost_before=now - self._lost_after_s,
                                   lost_error=LOST, keep=self._keep)
        except BaseException:
            if archive is not None:
                archive.discard()
            raise
        self._running, self._stop = stored.id, threading.Event()
        self._threads = [threading.Thread(target=target, args=args, daemon=True,
                                          name=f"{name}-{stored.id[:8]}")
                         for target, args, name in ((self._run, (stored.id, archive), "train"),
                                                    (self._beat, (stored.id,), "heartbeat"))]
        for thread in self._threads:
            thread.start()
        return _job(stored)

    def close(self, *, timeout: float = 30.0) -> None:
        """Cancel the job running here and wait for it to stop (its upload is then deleted):
        the server is shutting down and its gallery is about to be closed."""
        if self._running is not None and self._threads[0].is_alive():
            with contextlib.suppress(FacegateError):  # it has just finished
                self.cancel(self._running)
        for thread in self._threads:
            thread.join(timeout)

    def get(self, job_id: str) -> TrainingJob:
        job = self._store.get_job(job_id)
        if "job" in job.options:  # another kind's (services/jobs.py): not a training job
            raise JobNotFoundError(f"no training job {job_id!r}")
        return _job(self._checked(job))

    def list(self) -> list[TrainingJob]:
        return [_job(self._checked(job)) for job in self._store.list_jobs(self._keep)
                if "job" not in job.options]

    def cancel(self, job_id: str) -> TrainingJob:
        """Ask a queued or running job (on any replica) to stop at its next photo or validation
        step (status ``cancelling``, then ``cancelled``); ConflictError when it has finished."""
        self.get(job_id)  # a lost job is failed first
        return _job(cancel_job(self._store, job_id, "training"))

    def _checked(self, job: StoredJob) -> StoredJob:
        return checked_job(self._store, job, kind="training", lost_after_s=self._lost_after_s)

    def _beat(self, job_id: str) -> None:
        """Write the job's heartbeat until it finishes (a long step writes no progress)."""
        stop = self._stop
        while not stop.wait(self._lost_after_s / 4):
            try:
                self._store.change_job(job_id, lambda job: dataclasses.replace(
                    job, heartbeat_at=time.time()) if job.status in ACTIVE else None)
            except FacegateError as exc:
                logger.warning("training job %s: heartbeat not written (%s)", job_id, exc.code)

    def _progress(self, job_id: str, **changes: Any) -> None:
        """Record progress, then stop the job here (Cancelled) if it is being cancelled (or
        another replica found it lost)."""
        record_progress(self._store, job_id, **changes)

    def _finish(self, job_id: str, status: str, **changes: Any) -> bool:
        """The job's last state; False (and ``cancelled``, nothing else kept) when a cancel
        came in first, or False when it was found lost meanwhile (it stays failed)."""
        ended: list[StoredJob] = []

        def finish(job: StoredJob) -> StoredJob | None:
            if job.status not in ACTIVE:
                return None
            if job.cancel_requested:
                ended.append(dataclasses.replace(job, status="cancelled",
                                                 finished_at=time.time()))
            else:
                ended.append(dataclasses.replace(job, status=status, finished_at=time.time(),
                                                 **changes))
            return ended[-1]

        final = self._store.change_job(job_id, finish)
        if ended and self.on_finished is not None:
            try:
                self.on_finished(final)
            except Exception:
                logger.exception("training job %s: the finish hook failed", job_id)
        return final.status == status

    def _run(self, job_id: str, archive: Upload | None) -> None:
        request, stop = _request(self._store.get_job(job_id).options), self._stop
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
            if not self._finish(job_id, "succeeded", stage="done", model=_model(info)):
                self._classifiers.delete(info.id)  # cancelled while it was being stored
        except Cancelled:
            self._finish(job_id, "cancelled")
        except FacegateError as exc:
            self._finish(job_id, "failed", error={"code": exc.code, "message": exc.message})
        except Exception as exc:  # a job never dies silently
            logger.exception("training job %s failed", job_id)
            self._finish(job_id, "failed", error={
                "code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            stop.set()
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


def _request(options: dict[str, Any]) -> TrainRequest:
    return TrainRequest(kind=options["kind"], tune=options["tune"], folds=options["folds"],
                        activate=options["activate"], multiple_faces=options["multiple_faces"])


def _model(info: ClassifierInfo) -> dict[str, Any]:
    """The stored classifier's record as the job row keeps it (JSON)."""
    return {**dataclasses.asdict(info), "created_at": info.created_at.isoformat()}


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _job(job: StoredJob) -> TrainingJob:
    model = job.model
    return TrainingJob(
        id=job.id, request=_request(job.options), created_at=_time(job.created_at),
        status=job.status, stage=job.stage, done=job.done, total=job.total,
        photos={**NO_PHOTOS, **job.photos}, refusals=job.refusals,
        classifier=None if model is None else ClassifierInfo(
            **{**model, "created_at": datetime.fromisoformat(model["created_at"])}),
        error=None if job.error is None else dict(job.error),
        finished_at=None if job.finished_at is None else _time(job.finished_at))
