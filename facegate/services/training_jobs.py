"""Training as a background job (``POST /v1/train``): enrol an uploaded zip of labelled photos,
then fit, validate and store a classifier, with progress a client polls.

One job runs at a time per server process (a second is refused with CONFLICT while one runs);
the last ``keep`` jobs are remembered in memory, so a client polls the replica it started the
job on. The job's photos go through the same face pipeline as requests, beside them.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from facegate.domain import ClassifierInfo
from facegate.errors import ConflictError, FacegateError, JobNotFoundError
from facegate.services import training
from facegate.services.bulk import collect, enroll_photos
from facegate.services.classifiers import ClassifierService
from facegate.services.faces import MultipleFaces
from facegate.services.gallery import GalleryService
from facegate.storage.base import new_id, utcnow

logger = logging.getLogger(__name__)
#: Refusals a job reports one by one (the counts cover them all).
MAX_REFUSALS = 100


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
    status: str = "queued"  # queued | running | succeeded | failed
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
    def __init__(self, gallery: GalleryService, classifiers: ClassifierService, *,
                 max_member_bytes: int, keep: int = 20) -> None:
        self._gallery = gallery
        self._classifiers = classifiers
        self._max_member_bytes = max_member_bytes
        self._keep = keep
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}

    def start(self, request: TrainRequest, archive: Path | None) -> TrainingJob:
        """Start a job on ``archive`` (a zip this job then owns and deletes; None: train on
        the gallery as it is)."""
        with self._lock:
            if any(j.status in ("queued", "running") for j in self._jobs.values()):
                if archive is not None:
                    archive.unlink(missing_ok=True)
                raise ConflictError("a training job is already running on this server; poll it "
                                    "and start the next when it has finished")
            job = TrainingJob(id=new_id(), request=request, created_at=utcnow())
            self._jobs[job.id] = job
            for old in list(self._jobs)[:-self._keep]:
                del self._jobs[old]
        threading.Thread(target=self._run, args=(job.id, archive), name=f"train-{job.id[:8]}",
                         daemon=True).start()
        return job

    def get(self, job_id: str) -> TrainingJob:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(f"no training job {job_id!r} on this server")
        return job

    def list(self) -> list[TrainingJob]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def _update(self, job_id: str, **changes: Any) -> TrainingJob:
        with self._lock:
            job = dataclasses.replace(self._jobs[job_id], **changes)
            self._jobs[job_id] = job
            return job

    def _run(self, job_id: str, archive: Path | None) -> None:
        request = self.get(job_id).request
        try:
            self._update(job_id, status="running")
            if archive is not None:
                self._enrol(job_id, archive, request)
            self._update(job_id, stage="validating", done=0, total=0)

            def progress(done: int, total: int) -> None:
                self._update(job_id, done=done, total=total)

            info = training.train(self._classifiers.store, kind=request.kind, tune=request.tune,
                                  folds=request.folds, progress=progress)
            if request.activate:
                info = self._classifiers.activate(info.id) or info
            self._update(job_id, status="succeeded", stage="done", classifier=info,
                         finished_at=utcnow())
        except FacegateError as exc:
            self._update(job_id, status="failed", error={"code": exc.code,
                                                         "message": exc.message},
                         finished_at=utcnow())
        except Exception as exc:  # a job never dies silently
            logger.exception("training job %s failed", job_id)
            self._update(job_id, status="failed", finished_at=utcnow(), error={
                "code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"})
        finally:
            if archive is not None:
                archive.unlink(missing_ok=True)

    def _enrol(self, job_id: str, archive: Path, request: TrainRequest) -> None:
        photos = collect([archive], max_member_bytes=self._max_member_bytes)
        counts = {"total": len(photos), "enrolled": 0, "refused": 0, "duplicate": 0}
        refusals: list[dict[str, str]] = []
        self._update(job_id, stage="enrolling", total=len(photos), photos=dict(counts))
        for done, outcome in enumerate(
                enroll_photos(self._gallery, photos, multiple_faces=request.multiple_faces), 1):
            if outcome.status == "enrolled":
                counts["enrolled"] += 1
            else:
                counts["duplicate" if outcome.code == "DUPLICATE_FACE" else "refused"] += 1
                if len(refusals) < MAX_REFUSALS:
                    refusals.append({"source": outcome.source.removeprefix(f"{archive}:"),
                                     "person": outcome.person, "code": outcome.code or "",
                                     "message": outcome.message or ""})
            self._update(job_id, done=done, photos=dict(counts), refusals=tuple(refusals))
