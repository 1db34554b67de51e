"""Response models of the console's job routes: bulk import (``/v1/imports``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from facegate.api.schemas import JobError, PhotoCounts, Timestamp

JobStatus = Literal["queued", "running", "cancelling", "finished", "failed", "cancelled"]


class ImportOptionsOut(BaseModel):
    create_missing: bool
    multiple_faces: Literal["reject", "largest"]


class ImportFile(BaseModel):
    """One file of the zip: ``outcome`` is ``enrolled`` or the error code that refused it."""

    file: str
    person: str
    outcome: str
    message: str
    identity_id: str | None = None
    face_id: str | None = None


class ImportJobOut(BaseModel):
    """A bulk import; ``report`` (every file) once it has ended (finished or cancelled)."""

    id: str
    status: JobStatus
    done: int
    total: int
    options: ImportOptionsOut
    counts: PhotoCounts
    report: list[ImportFile] | None
    error: JobError | None
    created_at: Timestamp
    finished_at: Timestamp | None


class ImportJobList(BaseModel):
    items: list[ImportJobOut]
